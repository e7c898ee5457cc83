/*
 * config.h: backlogd's configuration, loaded from one JSON file, overridden
 * by BACKLOGD_... environment variables, validated against one table of keys.
 *
 * The struct is public and read-only for everything outside config.c: its
 * fields are what the table in config.c describes (name, type, default,
 * bounds, description), and that same table validates, prints `config check`
 * and generates docs/configuration.md. There is no global instance: each
 * command loads one and passes it down.
 */
#ifndef BL_CONFIG_H
#define BL_CONFIG_H

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "base/err.h"

typedef struct bl_strlist_s {
        char **items;
        size_t count;
} bl_strlist_t;

typedef struct bl_config_s {
        char *group_id;
        char *topics_prefix;
        int64_t topics_partitions;
        int64_t topics_replication_factor;
        int64_t topics_transitions_retention_ms;
        int64_t topics_dlq_retention_ms;
        bl_strlist_t domains;
        int64_t log_level; /* bl_log_level_t */
        int64_t admin_timeout_ms;

        char *schemas_dir; /* "" means BL_SCHEMAS_DIR: see bl_config_schemas_dir() */
        char *registry_url;
        char *registry_username;
        char *registry_password;
        char *registry_ca_location;
        char *registry_certificate_location;
        char *registry_key_location;
        char *registry_key_password;
        bool registry_verify_tls;
        bool consumer_static_membership; /* group.instance.id = instance_id */
        int64_t registry_timeout_ms;

        int64_t limits_message_max_bytes;
        int64_t limits_id_max_bytes;
        int64_t limits_text_max_bytes;
        int64_t limits_depends_on_max;
        int64_t limits_labels_max;
        int64_t limits_label_max_bytes;
        int64_t limits_payload_max_bytes;

        char *instance_id; /* "" means the host name */
        int64_t backlog_lease_ms;
        int64_t backlog_retry_base_ms;
        int64_t backlog_retry_cap_ms;
        int64_t backlog_max_attempts;
        int64_t backlog_retention_ms;
        int64_t backlog_dedup_window;
        int64_t backlog_rescore_interval_ms;
        int64_t capacity_window_ms;   /* the capacity estimate's window of results (core/capacity.h) */
        int64_t capacity_min_samples; /* results and runtimes before an estimate is known */
        int64_t backlog_max_ready_items;
        int64_t backlog_resume_ready_items;
        int64_t backlog_max_memory_bytes;
        int64_t backlog_resume_memory_bytes;
        bool backlog_spill_enabled; /* tasks at rest kept in the spill file, not the heap (store/spill.h) */
        char *backlog_spill_dir;    /* "": $TMPDIR, else /tmp */
        int64_t transaction_timeout_ms;
        int64_t shutdown_grace_ms;

        int64_t ingest_retry_backoff_ms;
        int64_t ingest_retry_backoff_max_ms;
        int64_t commit_interval_ms;
        int64_t commit_hold_max_bytes;
        int64_t producer_linger_ms;
        int64_t consumer_queue_max_kbytes;

        char *http_address;         /* numeric IPv4 or IPv6 address of /metrics, /healthz, /readyz */
        int64_t http_port;          /* 0: no HTTP server */
        int64_t http_healthz_stale_ms;
        int64_t http_connection_max_ms;  /* total time of one connection */
        int64_t http_max_connections;
        int64_t http_max_connections_per_address;
        int64_t health_max_commit_age_ms; /* /healthz fails when work waits this long without a commit */
        int64_t health_max_aborts_in_row;

        char *policy_file;          /* "": none (docs/policy.md) */
        char *policy_name;          /* "": backlog.policy is not followed */

        /* librdkafka properties exactly as given (string values), and where
         * each came from ("default", "file", "env"). */
        json_t *kafka;
        json_t *kafka_sources;

        /* Where each table key's value came from, indexed like the table. */
        unsigned char *sources;
} bl_config_t;

/**
 * Called once for every problem found while loading: @p key is the dotted key
 * (or the environment variable, or the file) and @p reason says what is wrong.
 * @p fatal is false for warnings (an unknown BACKLOGD_ variable is ignored).
 */
typedef void(bl_config_problem_cb)(const char *key, const char *reason, bool fatal, void *opaque);

/**
 * Loads defaults, then the JSON file at @p path (NULL: none), then overrides
 * from @p envp (NULL-terminated "NAME=value" strings; NULL: none).
 * Every problem is reported to @p problem_cb (may be NULL), not only the first.
 * Returns the config, or NULL when anything fatal was found.
 */
bl_config_t *bl_config_load(const char *path, char *const *envp, bl_config_problem_cb *problem_cb,
                            void *opaque);

/** The defaults alone. Returns NULL only when out of memory. */
bl_config_t *bl_config_new_defaults(void);

void bl_config_destroy(bl_config_t *config);

/**
 * A new librdkafka conf holding every property of the config's kafka object.
 * The caller owns it (and hands it to rd_kafka_new, which takes it over).
 * NULL with errstr filled if librdkafka refuses a property.
 */
rd_kafka_conf_t *bl_config_kafka_conf_new(const bl_config_t *config, char *errstr, size_t errstr_size);

/** Prints the effective config, secrets masked: a table, or JSON when @p as_json. */
void bl_config_print(const bl_config_t *config, FILE *out, bool as_json);

/** Writes the configuration reference (Markdown) generated from the key table. */
void bl_config_write_reference(FILE *out);

/** True when a librdkafka property's value must never be shown (passwords, keys). */
bool bl_config_kafka_property_is_secret(const char *name);

/**
 * What is wrong with @p url as registry.url, or NULL when it is fine (empty
 * is fine: the file registry). It must be http:// or https://, parse as a
 * URL, and carry no user:password@ (credentials belong in registry.username
 * and registry.password), no query and no fragment. The answer never quotes
 * the URL, which may hold a password. The rule of the registry.url key, so
 * `config check` and `run` refuse the same URLs.
 */
const char *bl_config_registry_url_problem(const char *url);

/** The contracts directory: schemas.dir, or the schemas/ this build was made from. */
const char *bl_config_schemas_dir(const bl_config_t *config);

/** The full name of a topic: the configured prefix followed by @p base_name. */
char *bl_config_topic_name(const bl_config_t *config, const char *base_name);

/** Room the dlq.* headers may take beside the largest accepted record. */
#define BL_CONFIG_LETTER_ROOM_BYTES 16384
/**
 * The largest dead letter: limits.message_max_bytes plus the room of the dlq.* headers. The producer's
 * message.max.bytes and backlog.dlq's max.message.bytes (topics create) are set to it.
 */
int64_t bl_config_letter_max_bytes(const bl_config_t *config);
/** The producer's message.max.bytes: the largest letter, or the kafka object's when that is larger. */
int64_t bl_config_producer_max_bytes(const bl_config_t *config);
/**
 * The consumer's receive.message.max.bytes: the kafka object's when set, else librdkafka's default, or more
 * when limits.message_max_bytes needs it.
 */
int64_t bl_config_receive_max_bytes(const bl_config_t *config);
/** health.max_commit_age_ms, or what its 0 stands for: commit.interval_ms + transaction.timeout_ms + 50 s. */
int64_t bl_config_health_max_commit_age_ms(const bl_config_t *config);

#endif
