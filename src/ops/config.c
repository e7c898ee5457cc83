/*
 * config.c: load, validate and print backlogd's configuration.
 *
 * One table (bl_config_keys) lists every key with its type, field offset,
 * default, bounds and one line of description. Loading walks three layers in
 * order, each through the same setter so that a value is checked the same way
 * wherever it came from:
 *
 *   1. the defaults, written in the table as JSON text;
 *   2. the JSON file: nested objects name sections ("topics": {"partitions": 6}
 *      is the key topics.partitions); members named "//" are comments;
 *   3. the environment: BACKLOGD_<KEY> with dots as underscores
 *      (BACKLOGD_TOPICS_PARTITIONS), and BACKLOGD_KAFKA_<PROPERTY> with dots
 *      as underscores for the kafka object (BACKLOGD_KAFKA_BOOTSTRAP_SERVERS).
 *
 * The kafka object is handed to librdkafka as it is, but each property is
 * tried on a scratch rd_kafka_conf_t at load time so that a typo stops
 * start-up with librdkafka's own reason, and the properties that backlogd
 * must own for exactly-once (group.id, isolation.level, transactional.id, ...)
 * are refused. A property's value reaches librdkafka whole, whatever its
 * length (a PEM certificate chain is several kilobytes). Loading reports
 * every problem, not just the first, so that `backlogd config check` lists
 * them all in one run.
 *
 * A problem never quotes the value of a key that may hold a secret (secret
 * keys, registry.url; librdkafka's refusals quote only the values of its
 * enumerated properties, none of which is secret), and a file that does not parse is reported by line, column and a
 * description of the fault, never with jansson's error text, which quotes
 * the offending token (it may be a piece of a password).
 *
 * Runs on the main thread before any Kafka handle exists.
 */
#include "ops/config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/text.h"
#include "ops/config_int.h"
#include "base/log.h"

#ifndef BL_SCHEMAS_DIR
#define BL_SCHEMAS_DIR "/usr/share/backlogd/schemas"
#endif

#define ENV_PREFIX "BACKLOGD_"
#define ENV_KAFKA_PREFIX "BACKLOGD_KAFKA_"
#define SECRET_MASK "********"

static const char *topic_chars_rule(const char *value);
static const char *domain_rule(const char *value);
static const char *group_id_rule(const char *value);
static const char *ip_address_rule(const char *value);
static const char *registry_url_rule(const char *value);

#define FIELD(name) offsetof(bl_config_t, name)

const conf_key_t bl_config_keys[] = {
        {"group_id", CONF_STRING, FIELD(group_id), "\"backlogd\"", 1, 200, NULL, group_id_rule, 0,
         "Consumer group shared by every instance; also the stem of their transactional ids."},
        {"topics.prefix", CONF_STRING, FIELD(topics_prefix), "\"\"", 0, 100, NULL, topic_chars_rule, 0,
         "Prepended to every topic name, e.g. \"prod.\" gives prod.tasks.events."},
        {"topics.partitions", CONF_INT, FIELD(topics_partitions), "6", 1, 10000, NULL, NULL, 0,
         "Partitions of every topic backlogd creates; tasks.events, tasks.results, backlog.transitions, "
         "backlog.state and backlog.deps must all have this many (co-partitioning). The ceiling of instances."},
        {"topics.replication_factor", CONF_INT, FIELD(topics_replication_factor), "-1", -1, 32, NULL, NULL, 0,
         "Replicas of each topic created; -1 takes the broker's default.replication.factor."},
        {"topics.transitions_retention_ms", CONF_INT, FIELD(topics_transitions_retention_ms), "7776000000", -1,
         INT64_MAX, NULL, NULL, 0,
         "retention.ms of backlog.transitions, the audit history (default 90 days; -1 keeps it forever)."},
        {"topics.dlq_retention_ms", CONF_INT, FIELD(topics_dlq_retention_ms), "7776000000", -1, INT64_MAX, NULL,
         NULL, 0, "retention.ms of backlog.dlq (default 90 days; -1 keeps it forever)."},
        {"domains", CONF_STRLIST, FIELD(domains),
         "[\"data_preparation\", \"model_inference\", \"evaluation\", \"remediation\"]", 1, 64, NULL, domain_rule,
         100,
         "The task domains: a SUBMITTED event must name one, and each has its topic dispatch.<domain>. "
         "Lowercase letters, digits, '_' and '-'."},
        {"log.level", CONF_ENUM, FIELD(log_level), "\"info\"", 0, 0, "debug|info|warn|error", NULL, 0,
         "Least severe log line written to stderr."},
        {"admin.timeout_ms", CONF_INT, FIELD(admin_timeout_ms), "30000", 1000, 600000, NULL, NULL, 0,
         "Time limit of each admin request to the cluster (create and describe topics)."},

        {"schemas.dir", CONF_STRING, FIELD(schemas_dir), "\"\"", 0, 4096, NULL, NULL, 0,
         "Directory of the contracts: ids.json and the .avsc files. Empty: the directory built in "
         "(the source tree's schemas/ for a developer build, /usr/share/backlogd/schemas in the container)."},
        {"registry.url", CONF_STRING, FIELD(registry_url), "\"\"", 0, 2048, NULL, registry_url_rule, 0,
         "Base URL of a Confluent-compatible Schema Registry, e.g. http://registry:8081 or "
         "https://host/apis/ccompat/v7: http or https, no user:password@ (use registry.username and "
         "registry.password), no query or fragment. Set: run registers at start-up the newest version of each "
         "contract it writes under <topics.prefix><topic>-value (tasks.events, backlog.transitions, backlog.state, "
         "each dispatch.<domain>, backlog.deps; tasks.results is the workers'). Empty: the file registry built "
         "from schemas.dir, nothing registered."},
        {"registry.username", CONF_STRING, FIELD(registry_username), "\"\"", 0, 1024, NULL, NULL, 0,
         "Basic-auth user for the registry (with registry.password)."},
        {"registry.password", CONF_SECRET, FIELD(registry_password), "\"\"", 0, 1024, NULL, NULL, 0,
         "Basic-auth password for the registry. Never printed or logged."},
        {"registry.ca_location", CONF_STRING, FIELD(registry_ca_location), "\"\"", 0, 4096, NULL, NULL, 0,
         "CA bundle (PEM file) that signs the registry's certificate. Empty: the system's CAs."},
        {"registry.certificate_location", CONF_STRING, FIELD(registry_certificate_location), "\"\"", 0, 4096, NULL,
         NULL, 0, "Client certificate (PEM file) for mutual TLS with the registry."},
        {"registry.key_location", CONF_STRING, FIELD(registry_key_location), "\"\"", 0, 4096, NULL, NULL, 0,
         "Private key (PEM file) of the client certificate."},
        {"registry.key_password", CONF_SECRET, FIELD(registry_key_password), "\"\"", 0, 1024, NULL, NULL, 0,
         "Password of the private key. Never printed or logged."},
        {"registry.verify_tls", CONF_BOOL, FIELD(registry_verify_tls), "true", 0, 0, NULL, NULL, 0,
         "Verify the registry's certificate and host name. Turn off only for tests."},
        {"registry.timeout_ms", CONF_INT, FIELD(registry_timeout_ms), "5000", 100, 120000, NULL, NULL, 0,
         "Time limit of each registry request, connection included. A request over it is a transient fault: "
         "the partition waits and retries."},

        {"limits.message_max_bytes", CONF_INT, FIELD(limits_message_max_bytes), "1048576", 64, 104857600, NULL,
         NULL, 0, "Largest input record value accepted; a larger one goes to the DLQ (contract.violation)."},
        {"limits.id_max_bytes", CONF_INT, FIELD(limits_id_max_bytes), "200", 8, 4096, NULL, NULL, 0,
         "Longest event_id, task_id, task_type, domain, producer and tenant, in bytes (a dispatch_id, made from a task_id, may be 12 bytes longer)."},
        {"limits.text_max_bytes", CONF_INT, FIELD(limits_text_max_bytes), "4096", 64, 1048576, NULL, NULL, 0,
         "Longest free text (error code and message), in bytes."},
        {"limits.depends_on_max", CONF_INT, FIELD(limits_depends_on_max), "32", 0, 10000, NULL, NULL, 0,
         "Most entries in depends_on."},
        {"limits.labels_max", CONF_INT, FIELD(limits_labels_max), "32", 0, 10000, NULL, NULL, 0,
         "Most entries in labels."},
        {"limits.label_max_bytes", CONF_INT, FIELD(limits_label_max_bytes), "256", 1, 65536, NULL, NULL, 0,
         "Longest label key or value, in bytes."},
        {"limits.payload_max_bytes", CONF_INT, FIELD(limits_payload_max_bytes), "262144", 0, 104857600, NULL, NULL,
         0, "Largest payload, in bytes."},

        {"ingest.retry_backoff_ms", CONF_INT, FIELD(ingest_retry_backoff_ms), "200", 10, 60000, NULL, NULL, 0,
         "First wait before a partition paused by a transient fault (registry unreachable) is retried; "
         "doubles up to ingest.retry_backoff_max_ms."},
        {"ingest.retry_backoff_max_ms", CONF_INT, FIELD(ingest_retry_backoff_max_ms), "30000", 100, 600000, NULL,
         NULL, 0, "Longest wait between retries of a paused partition."},
        {"instance_id", CONF_STRING, FIELD(instance_id), "\"\"", 0, 200, NULL, group_id_rule, 0,
         "This instance's stable name; its transactional id is <group_id>-<instance_id>, so a restarted "
         "instance fences its predecessor at once. Empty: the host name (a pod's name on Kubernetes). Two "
         "instances must never share one."},
        {"consumer.static_membership", CONF_BOOL, FIELD(consumer_static_membership), "true", 0, 0, NULL, NULL, 0,
         "Join the group as a static member (group.instance.id = instance_id): a restarted instance gets its "
         "partitions back at once instead of after the old member's session.timeout.ms. The price: an instance "
         "that goes for good (scale-down) keeps its partitions unowned until its session times out "
         "(kafka.session.timeout.ms, 45 s by default). instance_id must then be unique in the group."},
        {"backlog.lease_ms", CONF_INT, FIELD(backlog_lease_ms), "300000", 1000, 86400000, NULL, NULL, 0,
         "A DISPATCHED or RUNNING task with no STARTED or HEARTBEAT for this long fails (lease_expired)."},
        {"backlog.retry_base_ms", CONF_INT, FIELD(backlog_retry_base_ms), "1000", 0, 86400000, NULL, NULL, 0,
         "Retry back-off before attempt n+1: uniform in [0, min(retry_cap_ms, retry_base_ms * 2^(n-1))]."},
        {"backlog.retry_cap_ms", CONF_INT, FIELD(backlog_retry_cap_ms), "300000", 0, 86400000, NULL, NULL, 0,
         "Longest retry back-off."},
        {"backlog.max_attempts", CONF_INT, FIELD(backlog_max_attempts), "3", 1, 1000, NULL, NULL, 0,
         "Attempts of a task that does not set max_attempts itself; after the last one it is DEAD."},
        {"backlog.retention_ms", CONF_INT, FIELD(backlog_retention_ms), "604800000", 60000, INT64_MAX, NULL, NULL, 0,
         "How long a terminal task is remembered, counted from its end (or its submission's occurred_at, if "
         "later), before its tombstone in backlog.state; 9223372036854775807: for ever. A SUBMITTED for a task "
         "not held, stamped no later than the newest forgotten task (after a restart: now minus this), is "
         "refused (transition.illegal), never run twice: keep it above the longest time a submission can wait "
         "in tasks.events."},
        {"backlog.dedup_window", CONF_INT, FIELD(backlog_dedup_window), "32", 1, 1024, NULL, NULL, 0,
         "Event ids remembered per task: a repeated event_id among them changes nothing."},
        {"backlog.rescore_interval_ms", CONF_INT, FIELD(backlog_rescore_interval_ms), "1000", 0, 3600000, NULL, NULL,
         0, "The READY tasks are scored again at most this often, so that aging, deadline urgency and freshness "
            "stay current (0: only when a task becomes READY)."},
        {"capacity.window_ms", CONF_INT, FIELD(capacity_window_ms), "60000", 1000, 3600000, NULL, NULL, 0,
         "The capacity estimate of each domain (SPEC §14) counts its workers' results over this long: throughput, "
         "drain time, predicted starts and the deadline_risk criterion follow the workers this fast."},
        {"capacity.min_samples", CONF_INT, FIELD(capacity_min_samples), "20", 1, 1000000, NULL, NULL, 0,
         "A domain's capacity estimate is known once it saw this many results in the window and this many "
         "runtimes; before, deadline_risk is 0 and the estimate is shown as unknown."},
        {"backlog.max_ready_items", CONF_INT, FIELD(backlog_max_ready_items), "1000000", 1, 100000000, NULL, NULL,
         0, "Input backpressure: at this many READY tasks the instance pauses tasks.events (and keeps polling)."},
        {"backlog.resume_ready_items", CONF_INT, FIELD(backlog_resume_ready_items), "800000", 0, 100000000, NULL,
         NULL, 0, "The low watermark: below this many READY tasks, tasks.events resumes. Below max_ready_items."},
        {"backlog.max_memory_bytes", CONF_INT, FIELD(backlog_max_memory_bytes), "1073741824", 0, 1099511627776,
         NULL, NULL, 0,
         "Input backpressure: when the tasks held take this many bytes of heap (the backlog's own count of its "
         "items, index and queues), the instance pauses tasks.events (and keeps polling). 0: no memory budget; "
         "else above resume_memory_bytes. Leave room under the container's limit for librdkafka's buffers "
         "(consumer.queue_max_kbytes) and the batch being committed (commit.hold_max_bytes)."},
        {"backlog.resume_memory_bytes", CONF_INT, FIELD(backlog_resume_memory_bytes), "939524096", 1048576,
         1099511627776, NULL, NULL, 0,
         "The low watermark: below this many bytes held, tasks.events resumes. Below max_memory_bytes; at least "
         "1 MiB, above what an empty backlog's index takes, so that input always resumes once tasks drain."},
        {"backlog.spill_enabled", CONF_BOOL, FIELD(backlog_spill_enabled), "true", 0, 0, NULL, NULL, 0,
         "Keep each task at rest (its snapshot written; not READY, not waiting for approval) as a small stub in "
         "the heap and the rest of it in the spill file (backlog.spill_dir), read back when the task is touched, "
         "as Kafka Streams keeps its state in RocksDB. false: every task whole in the heap (more memory, no "
         "file)."},
        {"backlog.spill_dir", CONF_STRING, FIELD(backlog_spill_dir), "\"\"", 0, 4096, NULL, NULL, 0,
         "The directory of the spill file (backlog.spill_enabled): a file made there and unlinked at once, one per "
         "instance, as large as its tasks at rest encoded (about 150 B each without payload, plus the payload) "
         "and at most about twice that before it is compacted. A cache of backlog.state: nothing in it outlives "
         "the process. Empty: $TMPDIR, else /tmp. Put it on a disk, not tmpfs (a tmpfs file is memory again): in "
         "Kubernetes an emptyDir without medium: Memory. Startup fails when no file can be made there."},
        {"transaction.timeout_ms", CONF_INT, FIELD(transaction_timeout_ms), "10000", 1000, 900000, NULL, NULL, 0,
         "transaction.timeout.ms of the transactional producer: how long an abandoned transaction can hold "
         "read_committed readers back. Also how long an abort is waited for: past it, a new producer takes "
         "over."},
        {"shutdown.grace_ms", CONF_INT, FIELD(shutdown_grace_ms), "25000", 1000, 600000, NULL, NULL, 0,
         "After SIGTERM or SIGINT the instance finishes its batch, commits, leaves the group and exits 0; if that "
         "takes longer than this it exits 1. Keep it below Kubernetes' terminationGracePeriodSeconds."},
        {"commit.interval_ms", CONF_INT, FIELD(commit_interval_ms), "100", 10, 60000, NULL, NULL, 0,
         "How long a batch of input gathers before its outputs and input offsets are committed. The commit "
         "runs while the next batch gathers."},
        {"commit.hold_max_bytes", CONF_INT, FIELD(commit_hold_max_bytes), "67108864", 0, 1073741824, NULL, NULL, 0,
         "Most bytes of the next batch's records held in memory while a commit runs; past it the loop waits "
         "for the commit. 0: no overlap, every commit is waited for."},
        {"producer.linger_ms", CONF_INT, FIELD(producer_linger_ms), "5", 0, 1000, NULL, NULL, 0,
         "linger.ms of the transactional producer: how long a partition's records wait to fill a produce "
         "request. Nothing is visible to read_committed readers before the commit, and the commit sends what "
         "waits at once, so a longer linger costs no latency up to commit.interval_ms; it makes fewer, larger "
         "requests (less CPU for backlogd and the broker) at the price of a commit that has more left to send."},
        {"consumer.queue_max_kbytes", CONF_INT, FIELD(consumer_queue_max_kbytes), "16384", 1024, 2097151, NULL,
         NULL, 0,
         "queued.max.messages.kbytes of the input consumer: the most input librdkafka fetches ahead of the "
         "pipeline, in KiB, all partitions together. It counts in the process's memory (RSS) at full speed; "
         "past it the fetcher waits fetch.queue.backoff.ms (10) before it fetches again. 16 MiB keeps one "
         "vCPU's pipeline fed (docs/performance.md)."},

        {"http.address", CONF_STRING, FIELD(http_address), "\"0.0.0.0\"", 1, 100, NULL, ip_address_rule, 0,
         "Address the HTTP endpoint (the status page /, /metrics, /healthz, /readyz) listens on: a numeric IPv4 "
         "or IPv6 address; "
         "0.0.0.0 is every IPv4 interface, 127.0.0.1 this host only."},
        {"http.port", CONF_INT, FIELD(http_port), "9464", 0, 65535, NULL, NULL, 0,
         "TCP port of the HTTP endpoint (the status page /, /metrics, /healthz, /readyz); 0 turns it off."},
        {"http.healthz_stale_ms", CONF_INT, FIELD(http_healthz_stale_ms), "30000", 1000, 3600000, NULL, NULL, 0,
         "/healthz answers 503 when the run loop has not turned for this long (the liveness probe then "
         "restarts the instance)."},
        {"http.connection_max_ms", CONF_INT, FIELD(http_connection_max_ms), "5000", 100, 600000, NULL, NULL, 0,
         "Longest life of one HTTP connection, whatever it does: a client that sends its request slowly, or "
         "keeps the connection open, is cut off after this long (an idle one after at most 10 s)."},
        {"http.max_connections", CONF_INT, FIELD(http_max_connections), "64", 2, 1000, NULL, NULL, 0,
         "HTTP connections open at once; more wait in the kernel's listen queue until one closes. Each costs "
         "two file descriptors."},
        {"http.max_connections_per_address", CONF_INT, FIELD(http_max_connections_per_address), "8", 1, 1000, NULL,
         NULL, 0,
         "HTTP connections open at once from one client address; more are refused, so one client cannot take "
         "the room the probes and Prometheus need. Below http.max_connections."},

        {"health.max_commit_age_ms", CONF_INT, FIELD(health_max_commit_age_ms), "0", 0, 86400000, NULL, NULL, 0,
         "/healthz answers 503 when work (input consumed or paused for retry, a batch open or aborted, a timer "
         "due) has waited this long without a transaction committed. Above commit.interval_ms + "
         "transaction.timeout_ms. 0: that sum plus 50000 (60100 with the defaults). An idle instance stays "
         "healthy."},
        {"health.max_aborts_in_row", CONF_INT, FIELD(health_max_aborts_in_row), "20", 1, 1000000, NULL, NULL, 0,
         "/healthz answers 503 once this many batches in a row have aborted without a commit between them."},

        {"policy.file", CONF_STRING, FIELD(policy_file), "\"\"", 0, 4096, NULL, NULL, 0,
         "Scheduling policy file (docs/policy.md), read at start-up and again on SIGHUP. A bad policy stops "
         "start-up; on SIGHUP it is refused with every problem logged and the running policy stays. Empty: "
         "the policy comes from backlog.policy (policy.name), else dispatch is FIFO (policy fifo@1)."},
        {"policy.name", CONF_STRING, FIELD(policy_name), "\"\"", 0, 100, NULL, group_id_rule, 0,
         "With policy.file empty: the key of the policy to follow in backlog.policy. Its newest record is "
         "applied whenever its name@version changes; a bad one is refused with every problem logged and the "
         "running policy stays. Empty: backlog.policy is not read."},
};
const size_t bl_config_key_count = sizeof(bl_config_keys) / sizeof(bl_config_keys[0]);

/* librdkafka properties that backlogd sets itself, with the reason. */
static const struct {
        const char *name;
        const char *reason;
} reserved_kafka_properties[] = {
        {"group.id", "set from group_id"},
        {"transactional.id", "set to group_id-instance_id (dlq redrive: group_id-dlq-redrive)"},
        {"enable.idempotence", "set by backlogd: transactions require it"},
        {"enable.auto.commit", "offsets are committed inside backlogd's transactions"},
        {"enable.auto.offset.store", "offsets are committed inside backlogd's transactions"},
        {"isolation.level", "backlogd always reads read_committed"},
        {"partitioner", "backlogd uses murmur2_random so keys land where Java producers put them"},
        {"partition.assignment.strategy", "backlogd needs the range assignor for co-partitioned inputs"},
        {"group.instance.id", "set from instance_id (consumer.static_membership)"},
};

/* The kafka object's contents before the file and environment add to it. */
static const char *const default_kafka_properties[][2] = {
        {"bootstrap.servers", "127.0.0.1:9092"},
};

static const char *const source_names[] = {"default", "file", "env"};

typedef struct loader_s {
        bl_config_problem_cb *problem_cb;
        void *opaque;
        int fatal_count;
} loader_t;

static void report(loader_t *loader, const char *key, bool fatal, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

static void report(loader_t *loader, const char *key, bool fatal, const char *fmt, ...) {
        char reason[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(reason, sizeof(reason), fmt, ap);
        va_end(ap);
        if (fatal)
                loader->fatal_count++;
        if (loader->problem_cb)
                loader->problem_cb(key, reason, fatal, loader->opaque);
}

/* ---- text rules ------------------------------------------------------- */

static const char *topic_chars_rule(const char *value) {
        for (const char *p = value; *p; p++)
                if (!isalnum((unsigned char)*p) && *p != '.' && *p != '_' && *p != '-')
                        return "may hold only letters, digits, '.', '_' and '-' (it becomes part of topic names)";
        return NULL;
}

static const char *domain_rule(const char *value) {
        for (const char *p = value; *p; p++)
                if (!islower((unsigned char)*p) && !isdigit((unsigned char)*p) && *p != '_' && *p != '-')
                        return "may hold only lowercase letters, digits, '_' and '-' (it names dispatch.<domain>)";
        return NULL;
}

static const char *group_id_rule(const char *value) {
        for (const char *p = value; *p; p++)
                if (!isgraph((unsigned char)*p))
                        return "may not hold spaces or control characters";
        return NULL;
}

static const char *ip_address_rule(const char *value) {
        unsigned char address[sizeof(struct in6_addr)];
        if (inet_pton(AF_INET, value, address) == 1 || inet_pton(AF_INET6, value, address) == 1)
                return NULL;
        return "must be a numeric IPv4 or IPv6 address, e.g. 0.0.0.0, 127.0.0.1 or ::";
}

static bool url_has_part(CURLU *url, CURLUPart part) {
        char *value = NULL;
        bool present = curl_url_get(url, part, &value, 0) == CURLUE_OK && value;
        curl_free(value);
        return present;
}

const char *bl_config_registry_url_problem(const char *url) {
        CURLU *parsed;
        const char *problem = NULL;
        if (!url || !*url)
                return NULL;
        if (strncasecmp(url, "http://", 7) && strncasecmp(url, "https://", 8))
                return "must start with http:// or https://";
        if (!(parsed = curl_url()))
                return "cannot be checked: out of memory";
        if (curl_url_set(parsed, CURLUPART_URL, url, 0) != CURLUE_OK)
                problem = "is not a valid URL";
        else if (url_has_part(parsed, CURLUPART_USER) || url_has_part(parsed, CURLUPART_PASSWORD))
                problem = "must not carry credentials (user:password@): set registry.username and "
                          "registry.password instead";
        else if (url_has_part(parsed, CURLUPART_QUERY) || url_has_part(parsed, CURLUPART_FRAGMENT))
                problem = "must not have a query (?...) or a fragment (#...)";
        curl_url_cleanup(parsed);
        return problem;
}

static const char *registry_url_rule(const char *value) {
        return bl_config_registry_url_problem(value);
}

/* ---- the table -------------------------------------------------------- */

static const conf_key_t *find_key(const char *name) {
        for (size_t i = 0; i < bl_config_key_count; i++)
                if (!strcmp(bl_config_keys[i].name, name))
                        return &bl_config_keys[i];
        return NULL;
}

static bool is_section(const char *prefix) {
        size_t len = strlen(prefix);
        for (size_t i = 0; i < bl_config_key_count; i++)
                if (!strncmp(bl_config_keys[i].name, prefix, len) && bl_config_keys[i].name[len] == '.')
                        return true;
        return false;
}


/* The closest known key to a misspelt one, or NULL if none is close. */
static const char *suggest_key(const char *name) {
        const char *best = NULL;
        size_t best_distance = 3;
        for (size_t i = 0; i < bl_config_key_count; i++) {
                size_t d = bl_text_edit_distance(name, bl_config_keys[i].name);
                if (d < best_distance) {
                        best_distance = d;
                        best = bl_config_keys[i].name;
                }
        }
        return best;
}

static void report_unknown_key(loader_t *loader, const char *name) {
        const char *suggestion = suggest_key(name);
        if (suggestion)
                report(loader, name, true, "unknown key (did you mean %s?)", suggestion);
        else
                report(loader, name, true, "unknown key");
}

static int enum_index(const conf_key_t *key, const char *text) {
        size_t len = strlen(text);
        int index = 0;
        for (const char *p = key->values; *p; index++) {
                const char *end = strchr(p, '|');
                size_t item_len = end ? (size_t)(end - p) : strlen(p);
                if (item_len == len && !strncmp(p, text, len))
                        return index;
                if (!end)
                        break;
                p = end + 1;
        }
        return -1;
}

/* The name of value @p index of an enum key, copied into out. */
static void enum_name(const conf_key_t *key, int64_t index, char *out, size_t out_size) {
        const char *p = key->values;
        for (int64_t i = 0; i < index && p; i++) {
                p = strchr(p, '|');
                if (p)
                        p++;
        }
        const char *end = p ? strchr(p, '|') : NULL;
        snprintf(out, out_size, "%.*s", p ? (int)(end ? (size_t)(end - p) : strlen(p)) : 0, p ? p : "");
}

/* ---- setters ---------------------------------------------------------- */

static void strlist_clear(bl_strlist_t *list) {
        for (size_t i = 0; i < list->count; i++)
                free(list->items[i]);
        free(list->items);
        list->items = NULL;
        list->count = 0;
}

static const char *json_type_name(const json_t *value) {
        switch (json_typeof(value)) {
        case JSON_OBJECT: return "an object";
        case JSON_ARRAY: return "an array";
        case JSON_STRING: return "a string";
        case JSON_INTEGER: return "an integer";
        case JSON_REAL: return "a number with a fraction";
        case JSON_TRUE:
        case JSON_FALSE: return "a boolean";
        default: return "null";
        }
}

/* Whether a key's value may hold a secret: a secret key, or a URL that may carry a password. */
static bool key_may_hold_secret(const conf_key_t *key) {
        return key->type == CONF_SECRET || key->text_rule == registry_url_rule;
}

static bool check_text(loader_t *loader, const char *name, const conf_key_t *key, const char *text,
                       int64_t min_len, int64_t max_len) {
        size_t len = strlen(text);
        const char *rule_error;
        if ((int64_t)len < min_len) {
                report(loader, name, true, min_len == 1 ? "must not be empty" : "is shorter than %lld characters",
                       (long long)min_len);
                return false;
        }
        if ((int64_t)len > max_len) {
                report(loader, name, true, "is %zu characters long, the limit is %lld", len, (long long)max_len);
                return false;
        }
        rule_error = key->text_rule ? key->text_rule(text) : NULL;
        if (rule_error && key_may_hold_secret(key))
                report(loader, name, true, "%s", rule_error); /* the value is never quoted */
        else if (rule_error)
                report(loader, name, true, "\"%s\" %s", text, rule_error);
        return rule_error == NULL;
        return true;
}

static bool set_text(bl_config_t *config, loader_t *loader, const conf_key_t *key, const json_t *value) {
        char **field = (char **)((char *)config + key->offset);
        char *copy;
        if (!json_is_string(value)) {
                report(loader, key->name, true, "expected a string, got %s", json_type_name(value));
                return false;
        }
        if (!check_text(loader, key->name, key, json_string_value(value), key->min, key->max))
                return false;
        copy = strdup(json_string_value(value));
        if (!copy)
                return false;
        free(*field);
        *field = copy;
        return true;
}

static bool set_int(bl_config_t *config, loader_t *loader, const conf_key_t *key, const json_t *value) {
        int64_t *field = (int64_t *)((char *)config + key->offset);
        json_int_t number;
        if (!json_is_integer(value)) {
                report(loader, key->name, true, "expected an integer, got %s", json_type_name(value));
                return false;
        }
        number = json_integer_value(value);
        if (number < key->min || number > key->max) {
                report(loader, key->name, true, "%lld is out of range [%lld, %lld]", (long long)number,
                       (long long)key->min, (long long)key->max);
                return false;
        }
        if (!strcmp(key->name, "topics.replication_factor") && number == 0) {
                report(loader, key->name, true, "must be -1 (the broker's default) or at least 1");
                return false;
        }
        *field = number;
        return true;
}

static bool set_enum(bl_config_t *config, loader_t *loader, const conf_key_t *key, const json_t *value) {
        int64_t *field = (int64_t *)((char *)config + key->offset);
        int index;
        if (!json_is_string(value)) {
                report(loader, key->name, true, "expected a string, got %s", json_type_name(value));
                return false;
        }
        index = enum_index(key, json_string_value(value));
        if (index < 0) {
                report(loader, key->name, true, "\"%s\" is not one of %s", json_string_value(value), key->values);
                return false;
        }
        *field = index;
        return true;
}

static bool set_bool(bl_config_t *config, loader_t *loader, const conf_key_t *key, const json_t *value) {
        bool *field = (bool *)((char *)config + key->offset);
        if (!json_is_boolean(value)) {
                report(loader, key->name, true, "expected true or false, got %s", json_type_name(value));
                return false;
        }
        *field = json_is_true(value);
        return true;
}

static bool strlist_item_ok(loader_t *loader, const conf_key_t *key, const json_t *array, size_t index) {
        const json_t *item = json_array_get(array, index);
        char item_name[160];
        snprintf(item_name, sizeof(item_name), "%s[%zu]", key->name, index);
        if (!json_is_string(item)) {
                report(loader, item_name, true, "expected a string, got %s", json_type_name(item));
                return false;
        }
        if (!check_text(loader, item_name, key, json_string_value(item), 1, (int64_t)key->item_max_len))
                return false;
        for (size_t j = 0; j < index; j++) {
                if (json_equal(json_array_get(array, j), item)) {
                        report(loader, item_name, true, "\"%s\" is listed twice", json_string_value(item));
                        return false;
                }
        }
        return true;
}

static bool set_strlist(bl_config_t *config, loader_t *loader, const conf_key_t *key, const json_t *value) {
        bl_strlist_t *field = (bl_strlist_t *)((char *)config + key->offset);
        bl_strlist_t list = {0};
        size_t count;
        bool ok = true;
        if (!json_is_array(value)) {
                report(loader, key->name, true, "expected an array of strings, got %s", json_type_name(value));
                return false;
        }
        count = json_array_size(value);
        if ((int64_t)count < key->min || (int64_t)count > key->max) {
                report(loader, key->name, true, "has %zu entries, expected %lld to %lld", count,
                       (long long)key->min, (long long)key->max);
                return false;
        }
        for (size_t i = 0; i < count; i++)
                ok = strlist_item_ok(loader, key, value, i) && ok;
        if (!ok)
                return false;
        list.items = calloc(count, sizeof(*list.items));
        if (!list.items)
                return false;
        for (list.count = 0; list.count < count; list.count++) {
                list.items[list.count] = strdup(json_string_value(json_array_get(value, list.count)));
                if (!list.items[list.count]) {
                        strlist_clear(&list);
                        return false;
                }
        }
        strlist_clear(field);
        *field = list;
        return true;
}

static void set_value(bl_config_t *config, loader_t *loader, const conf_key_t *key, const json_t *value,
                      conf_source_t source) {
        bool ok = false;
        switch (key->type) {
        case CONF_STRING:
        case CONF_SECRET: ok = set_text(config, loader, key, value); break;
        case CONF_INT: ok = set_int(config, loader, key, value); break;
        case CONF_ENUM: ok = set_enum(config, loader, key, value); break;
        case CONF_STRLIST: ok = set_strlist(config, loader, key, value); break;
        case CONF_BOOL: ok = set_bool(config, loader, key, value); break;
        }
        if (ok)
                config->sources[key - bl_config_keys] = (unsigned char)source;
}

/* ---- the kafka object ------------------------------------------------- */

bool bl_config_kafka_property_is_secret(const char *name) {
        static const char *const secret_names[] = {"sasl.oauthbearer.config", "ssl.key.pem",
                                                   "ssl.keystore.location"};
        if (strstr(name, "password") || strstr(name, "secret"))
                return true;
        for (size_t i = 0; i < sizeof(secret_names) / sizeof(secret_names[0]); i++)
                if (!strcmp(name, secret_names[i]))
                        return true;
        return false;
}

static const char *reserved_reason(const char *name) {
        for (size_t i = 0; i < sizeof(reserved_kafka_properties) / sizeof(reserved_kafka_properties[0]); i++)
                if (!strcmp(name, reserved_kafka_properties[i].name))
                        return reserved_kafka_properties[i].reason;
        return NULL;
}

/* A kafka property's value as librdkafka takes it (a new string, any length), or NULL if it has no text form. */
static char *kafka_value_text(const json_t *value) {
        char number[64];
        switch (json_typeof(value)) {
        case JSON_STRING: return strdup(json_string_value(value));
        case JSON_INTEGER: snprintf(number, sizeof(number), "%lld", (long long)json_integer_value(value)); break;
        case JSON_REAL: snprintf(number, sizeof(number), "%.17g", json_real_value(value)); break;
        case JSON_TRUE: snprintf(number, sizeof(number), "true"); break;
        case JSON_FALSE: snprintf(number, sizeof(number), "false"); break;
        default: return NULL;
        }
        return strdup(number);
}

static void set_kafka_property(bl_config_t *config, loader_t *loader, rd_kafka_conf_t *scratch,
                               const char *name, const json_t *value, conf_source_t source) {
        char full_name[300], errstr[512];
        const char *reason;
        char *text;
        snprintf(full_name, sizeof(full_name), "kafka.%s", name);
        reason = reserved_reason(name);
        if (reason) {
                report(loader, full_name, true, "may not be set: %s", reason);
                return;
        }
        if (!(text = kafka_value_text(value))) {
                if (json_is_string(value) || json_is_number(value) || json_is_boolean(value))
                        report(loader, full_name, true, "out of memory");
                else
                        report(loader, full_name, true, "expected a string, number or boolean, got %s",
                               json_type_name(value));
                return;
        }
        if (rd_kafka_conf_set(scratch, name, text, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
                report(loader, full_name, true, "librdkafka refuses it: %s", errstr);
        } else {
                json_object_set_new(config->kafka, name, json_string(text));
                json_object_set_new(config->kafka_sources, name, json_string(source_names[source]));
        }
        free(text);
}

static void load_kafka_object(bl_config_t *config, loader_t *loader, rd_kafka_conf_t *scratch,
                              const json_t *object) {
        const char *name;
        json_t *value;
        if (!json_is_object(object)) {
                report(loader, "kafka", true, "expected an object of librdkafka properties, got %s",
                       json_type_name(object));
                return;
        }
        json_object_foreach((json_t *)object, name, value) {
                if (!strncmp(name, "//", 2))
                        continue;
                set_kafka_property(config, loader, scratch, name, value, SOURCE_FILE);
        }
}

/* ---- the file --------------------------------------------------------- */

static void load_object(bl_config_t *config, loader_t *loader, rd_kafka_conf_t *scratch, const json_t *object,
                        const char *prefix) {
        const char *member;
        json_t *value;
        json_object_foreach((json_t *)object, member, value) {
                char name[256];
                const conf_key_t *key;
                if (!strncmp(member, "//", 2))
                        continue;
                snprintf(name, sizeof(name), "%s%s%s", prefix, *prefix ? "." : "", member);
                if (!*prefix && !strcmp(member, "kafka")) {
                        load_kafka_object(config, loader, scratch, value);
                        continue;
                }
                key = find_key(name);
                if (key)
                        set_value(config, loader, key, value, SOURCE_FILE);
                else if (json_is_object(value) && is_section(name))
                        load_object(config, loader, scratch, value, name);
                else if (is_section(name))
                        report(loader, name, true, "expected an object (a section of keys), got %s",
                               json_type_name(value));
                else
                        report_unknown_key(loader, name);
        }
}

/* What is wrong with a file jansson could not parse, in words that quote none of it. */
static const char *parse_fault(const json_error_t *error) {
        switch (json_error_code(error)) {
        case json_error_out_of_memory: return "out of memory";
        case json_error_stack_overflow: return "nested too deeply";
        case json_error_invalid_utf8: return "not valid UTF-8";
        case json_error_premature_end_of_input: return "the file ends before the JSON does";
        case json_error_end_of_input_expected: return "text after the end of the JSON object";
        case json_error_invalid_syntax: return "invalid JSON syntax (a string with a bad escape or a control "
                                               "character, a missing comma, quote or bracket)";
        case json_error_null_character: return "a NUL character";
        case json_error_null_byte_in_key: return "a NUL byte in a key";
        case json_error_duplicate_key: return "a key appears twice in one object";
        case json_error_numeric_overflow: return "a number too large";
        default: return "not valid JSON";
        }
}

static void load_file(bl_config_t *config, loader_t *loader, rd_kafka_conf_t *scratch, const char *path) {
        json_error_t error;
        json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &error);
        if (!root) {
                /* error.text quotes up to 20 characters of the offending token: never shown (PITFALLS.md) */
                if (json_error_code(&error) == json_error_cannot_open_file)
                        report(loader, path, true, "%s", error.text); /* the path and errno's words, no content */
                else if (error.line > 0)
                        report(loader, path, true, "line %d, column %d: %s", error.line, error.column,
                               parse_fault(&error));
                else
                        report(loader, path, true, "%s", parse_fault(&error));
                return;
        }
        if (!json_is_object(root))
                report(loader, path, true, "the file must hold one JSON object, it holds %s",
                       json_type_name(root));
        else
                load_object(config, loader, scratch, root, "");
        json_decref(root);
}

/* ---- the environment -------------------------------------------------- */

void bl_config_env_name(const char *key, char *out, size_t out_size) {
        size_t used = (size_t)snprintf(out, out_size, ENV_PREFIX);
        for (const char *p = key; *p && used + 1 < out_size; p++)
                out[used++] = *p == '.' ? '_' : (char)toupper((unsigned char)*p);
        out[used < out_size ? used : out_size - 1] = '\0';
}

/* Environment text to the JSON the setter expects, by the key's type. */
static json_t *env_text_to_json(loader_t *loader, const char *env_name, const conf_key_t *key, const char *text) {
        if (key->type == CONF_INT) {
                char *end;
                long long number;
                errno = 0;
                number = strtoll(text, &end, 10);
                if (errno || end == text || *end) {
                        report(loader, env_name, true, "\"%s\" is not an integer (%s)", text, key->name);
                        return NULL;
                }
                return json_integer(number);
        }
        if (key->type == CONF_BOOL) {
                if (!strcmp(text, "true") || !strcmp(text, "1") || !strcmp(text, "yes"))
                        return json_true();
                if (!strcmp(text, "false") || !strcmp(text, "0") || !strcmp(text, "no"))
                        return json_false();
                report(loader, env_name, true, "\"%s\" is not true or false (%s)", text, key->name);
                return NULL;
        }
        if (key->type == CONF_STRLIST) {
                json_t *array = json_array();
                char *copy = strdup(text), *save = NULL;
                if (!array || !copy) {
                        json_decref(array);
                        free(copy);
                        return NULL;
                }
                for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
                        while (isspace((unsigned char)*item))
                                item++;
                        json_array_append_new(array, json_string(item));
                }
                free(copy);
                return array;
        }
        return json_string(text);
}

static void load_env_key(bl_config_t *config, loader_t *loader, const char *env_name, const char *text) {
        for (size_t i = 0; i < bl_config_key_count; i++) {
                char expected[160];
                bl_config_env_name(bl_config_keys[i].name, expected, sizeof(expected));
                if (strcmp(expected, env_name))
                        continue;
                json_t *value = env_text_to_json(loader, env_name, &bl_config_keys[i], text);
                if (value)
                        set_value(config, loader, &bl_config_keys[i], value, SOURCE_ENV);
                json_decref(value);
                return;
        }
        /* Kubernetes injects <SERVICE>_SERVICE_HOST and friends for a Service
         * named backlogd; such variables are not meant for us. */
        report(loader, env_name, false, "ignored: no configuration key has this name");
}

static void load_env_kafka(bl_config_t *config, loader_t *loader, rd_kafka_conf_t *scratch, const char *suffix,
                           const char *text) {
        char name[256];
        size_t len = 0;
        json_t *value;
        for (const char *p = suffix; *p && len + 1 < sizeof(name); p++)
                name[len++] = *p == '_' ? '.' : (char)tolower((unsigned char)*p);
        name[len] = '\0';
        value = json_string(text);
        set_kafka_property(config, loader, scratch, name, value, SOURCE_ENV);
        json_decref(value);
}

static void load_env(bl_config_t *config, loader_t *loader, rd_kafka_conf_t *scratch, char *const *envp) {
        for (; envp && *envp; envp++) {
                const char *equals = strchr(*envp, '=');
                char env_name[160];
                if (strncmp(*envp, ENV_PREFIX, strlen(ENV_PREFIX)) || !equals)
                        continue;
                snprintf(env_name, sizeof(env_name), "%.*s", (int)(equals - *envp), *envp);
                if (!strcmp(env_name, "BACKLOGD_CONFIG"))
                        continue; /* the file's path, read by the CLI */
                if (!strncmp(env_name, ENV_KAFKA_PREFIX, strlen(ENV_KAFKA_PREFIX)))
                        load_env_kafka(config, loader, scratch, env_name + strlen(ENV_KAFKA_PREFIX), equals + 1);
                else
                        load_env_key(config, loader, env_name, equals + 1);
        }
}

/* ---- life cycle ------------------------------------------------------- */

void bl_config_destroy(bl_config_t *config) {
        if (!config)
                return;
        for (size_t i = 0; i < bl_config_key_count; i++) {
                const conf_key_t *key = &bl_config_keys[i];
                void *field = (char *)config + key->offset;
                if (key->type == CONF_STRING || key->type == CONF_SECRET)
                        free(*(char **)field);
                else if (key->type == CONF_STRLIST)
                        strlist_clear(field);
        }
        json_decref(config->kafka);
        json_decref(config->kafka_sources);
        free(config->sources);
        free(config);
}

static bl_config_t *config_new_empty(void) {
        bl_config_t *config = calloc(1, sizeof(*config));
        if (!config)
                return NULL;
        config->kafka = json_object();
        config->kafka_sources = json_object();
        config->sources = calloc(bl_config_key_count, 1);
        if (!config->kafka || !config->kafka_sources || !config->sources) {
                bl_config_destroy(config);
                return NULL;
        }
        return config;
}

/* Defaults go through the setter too; a bad default is a bug a unit test catches. */
static void load_defaults(bl_config_t *config, loader_t *loader) {
        for (size_t i = 0; i < bl_config_key_count; i++) {
                json_error_t error;
                json_t *value = json_loads(bl_config_keys[i].default_json, JSON_DECODE_ANY, &error);
                if (!value) {
                        report(loader, bl_config_keys[i].name, true, "default is not JSON: %s", error.text);
                        continue;
                }
                set_value(config, loader, &bl_config_keys[i], value, SOURCE_DEFAULT);
                json_decref(value);
        }
        for (size_t i = 0; i < sizeof(default_kafka_properties) / sizeof(default_kafka_properties[0]); i++) {
                json_object_set_new(config->kafka, default_kafka_properties[i][0],
                                    json_string(default_kafka_properties[i][1]));
                json_object_set_new(config->kafka_sources, default_kafka_properties[i][0], json_string("default"));
        }
}

int64_t bl_config_health_max_commit_age_ms(const bl_config_t *config) {
        if (config->health_max_commit_age_ms)
                return config->health_max_commit_age_ms;
        return config->commit_interval_ms + config->transaction_timeout_ms + 50000;
}

int64_t bl_config_letter_max_bytes(const bl_config_t *config) {
        return config->limits_message_max_bytes + BL_CONFIG_LETTER_ROOM_BYTES;
}

/* The kafka object's numeric property @p name, or @p fallback when it is not set. */
static int64_t kafka_number(const bl_config_t *config, const char *name, int64_t fallback) {
        const char *text = json_string_value(json_object_get(config->kafka, name));
        return text ? strtoll(text, NULL, 10) : fallback;
}

int64_t bl_config_producer_max_bytes(const bl_config_t *config) {
        int64_t letter = bl_config_letter_max_bytes(config);
        int64_t set = kafka_number(config, "message.max.bytes", letter);
        return set > letter ? set : letter;
}

int64_t bl_config_receive_max_bytes(const bl_config_t *config) {
        int64_t needed = bl_config_letter_max_bytes(config) + (1 << 20);
        /* the user's, or librdkafka's default unless a record needs more */
        return kafka_number(config, "receive.message.max.bytes", needed > 100000000 ? needed : 100000000);
}

/*
 * A dead letter of the largest record accepted must fit what the producer sends, and the largest record
 * what the consumer receives (receive.message.max.bytes: `run` raises it as the limits need, but one set
 * in the kafka object is the user's), or that record stops its partition: refuse limits that cannot fit.
 */
static void check_record_limits(const bl_config_t *config, loader_t *loader) {
        int64_t letter = bl_config_letter_max_bytes(config);
        int64_t produce_max = kafka_number(config, "message.max.bytes", letter);
        int64_t receive_max = bl_config_receive_max_bytes(config);
        if (produce_max < letter)
                report(loader, "kafka.message.max.bytes", true,
                       "%lld is below limits.message_max_bytes plus %d bytes of DLQ headers (%lld): the dead letter "
                       "of the largest record accepted would be refused",
                       (long long)produce_max, BL_CONFIG_LETTER_ROOM_BYTES, (long long)letter);
        if (receive_max < letter + 512)
                report(loader, "limits.message_max_bytes", true,
                       "%lld plus %d bytes of headers does not fit kafka.receive.message.max.bytes (%lld): a record "
                       "that large could not be read; lower the limit or raise receive.message.max.bytes",
                       (long long)config->limits_message_max_bytes, BL_CONFIG_LETTER_ROOM_BYTES,
                       (long long)receive_max);
}

/* Rules between keys, checked once every layer has had its say. */
static void check_relations(const bl_config_t *config, loader_t *loader) {
        check_record_limits(config, loader);
        if (config->backlog_resume_ready_items >= config->backlog_max_ready_items)
                report(loader, "backlog.resume_ready_items", true, "%lld must be below backlog.max_ready_items (%lld)",
                       (long long)config->backlog_resume_ready_items, (long long)config->backlog_max_ready_items);
        if (config->health_max_commit_age_ms != 0 &&
            config->health_max_commit_age_ms <= config->commit_interval_ms + config->transaction_timeout_ms)
                report(loader, "health.max_commit_age_ms", true,
                       "%lld must be above commit.interval_ms + transaction.timeout_ms (%lld): a healthy commit "
                       "can take that long",
                       (long long)config->health_max_commit_age_ms,
                       (long long)(config->commit_interval_ms + config->transaction_timeout_ms));
        if (config->http_max_connections_per_address >= config->http_max_connections)
                report(loader, "http.max_connections_per_address", true,
                       "%lld must be below http.max_connections (%lld), or one client takes every connection",
                       (long long)config->http_max_connections_per_address, (long long)config->http_max_connections);
        if (config->backlog_max_memory_bytes > 0 &&
            config->backlog_resume_memory_bytes >= config->backlog_max_memory_bytes)
                report(loader, "backlog.resume_memory_bytes", true, "%lld must be below backlog.max_memory_bytes (%lld)",
                       (long long)config->backlog_resume_memory_bytes, (long long)config->backlog_max_memory_bytes);
        if (config->backlog_retry_base_ms > config->backlog_retry_cap_ms)
                report(loader, "backlog.retry_base_ms", true, "%lld is above backlog.retry_cap_ms (%lld)",
                       (long long)config->backlog_retry_base_ms, (long long)config->backlog_retry_cap_ms);
}

bl_config_t *bl_config_load(const char *path, char *const *envp, bl_config_problem_cb *problem_cb, void *opaque) {
        loader_t loader = {problem_cb, opaque, 0};
        bl_config_t *config = config_new_empty();
        rd_kafka_conf_t *scratch = rd_kafka_conf_new();
        if (!config || !scratch) {
                report(&loader, "config", true, "out of memory");
                goto fail;
        }
        load_defaults(config, &loader);
        if (path)
                load_file(config, &loader, scratch, path);
        load_env(config, &loader, scratch, envp);
        check_relations(config, &loader);
        if (loader.fatal_count > 0)
                goto fail;
        rd_kafka_conf_destroy(scratch);
        return config;

fail:
        if (scratch)
                rd_kafka_conf_destroy(scratch);
        bl_config_destroy(config);
        return NULL;
}

bl_config_t *bl_config_new_defaults(void) {
        return bl_config_load(NULL, NULL, NULL, NULL);
}

rd_kafka_conf_t *bl_config_kafka_conf_new(const bl_config_t *config, char *errstr, size_t errstr_size) {
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        const char *name;
        json_t *value;
        json_object_foreach(config->kafka, name, value) {
                if (rd_kafka_conf_set(conf, name, json_string_value(value), errstr, errstr_size) !=
                    RD_KAFKA_CONF_OK) {
                        rd_kafka_conf_destroy(conf);
                        return NULL;
                }
        }
        return conf;
}

const char *bl_config_schemas_dir(const bl_config_t *config) {
        return config->schemas_dir && *config->schemas_dir ? config->schemas_dir : BL_SCHEMAS_DIR;
}

char *bl_config_topic_name(const bl_config_t *config, const char *base_name) {
        size_t size = strlen(config->topics_prefix) + strlen(base_name) + 1;
        char *name = malloc(size);
        if (name)
                snprintf(name, size, "%s%s", config->topics_prefix, base_name);
        return name;
}

/* ---- printing --------------------------------------------------------- */

/* A key's effective value as JSON (a new reference), secrets masked. */
static json_t *value_to_json(const bl_config_t *config, const conf_key_t *key) {
        const void *field = (const char *)config + key->offset;
        switch (key->type) {
        case CONF_STRING: return json_string(*(char *const *)field);
        case CONF_SECRET: return json_string(**(char *const *)field ? SECRET_MASK : "");
        case CONF_INT: return json_integer(*(const int64_t *)field);
        case CONF_BOOL: return json_boolean(*(const bool *)field);
        case CONF_ENUM: {
                char name[64];
                enum_name(key, *(const int64_t *)field, name, sizeof(name));
                return json_string(name);
        }
        case CONF_STRLIST: {
                const bl_strlist_t *list = field;
                json_t *array = json_array();
                for (size_t i = 0; i < list->count; i++)
                        json_array_append_new(array, json_string(list->items[i]));
                return array;
        }
        }
        return json_null();
}

static json_t *kafka_to_json(const bl_config_t *config) {
        json_t *masked = json_object();
        const char *name;
        json_t *value;
        json_object_foreach(config->kafka, name, value) {
                json_object_set_new(masked, name,
                                    json_string(bl_config_kafka_property_is_secret(name) ? SECRET_MASK
                                                                                          : json_string_value(value)));
        }
        return masked;
}

/* Puts value at the dotted path inside root, creating sections; takes value over. */
static void json_set_path(json_t *root, const char *path, json_t *value) {
        const char *dot = strchr(path, '.');
        if (!dot) {
                json_object_set_new(root, path, value);
                return;
        }
        char section[128];
        snprintf(section, sizeof(section), "%.*s", (int)(dot - path), path);
        json_t *child = json_object_get(root, section);
        if (!child) {
                child = json_object();
                json_object_set_new(root, section, child);
        }
        json_set_path(child, dot + 1, value);
}

static void print_json(const bl_config_t *config, FILE *out) {
        json_t *root = json_object();
        json_object_set_new(root, "kafka", kafka_to_json(config));
        for (size_t i = 0; i < bl_config_key_count; i++)
                json_set_path(root, bl_config_keys[i].name, value_to_json(config, &bl_config_keys[i]));
        json_dumpf(root, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        fputc('\n', out);
        json_decref(root);
}

static void print_table(const bl_config_t *config, FILE *out) {
        json_t *kafka = kafka_to_json(config);
        const char *name;
        json_t *value;
        json_object_foreach(kafka, name, value) {
                char full_name[300];
                snprintf(full_name, sizeof(full_name), "kafka.%s", name);
                fprintf(out, "%-34s %-40s (%s)\n", full_name, json_string_value(value),
                        json_string_value(json_object_get(config->kafka_sources, name)));
        }
        json_decref(kafka);
        for (size_t i = 0; i < bl_config_key_count; i++) {
                json_t *json = value_to_json(config, &bl_config_keys[i]);
                char *text = json_dumps(json, JSON_ENCODE_ANY | JSON_COMPACT);
                fprintf(out, "%-34s %-40s (%s)\n", bl_config_keys[i].name, text,
                        source_names[config->sources[i]]);
                free(text);
                json_decref(json);
        }
}

void bl_config_print(const bl_config_t *config, FILE *out, bool as_json) {
        if (as_json)
                print_json(config, out);
        else
                print_table(config, out);
}

static const char *type_name(const conf_key_t *key) {
        switch (key->type) {
        case CONF_STRING: return "string";
        case CONF_SECRET: return "secret string";
        case CONF_INT: return "integer";
        case CONF_ENUM: return "string";
        case CONF_STRLIST: return "list of strings";
        case CONF_BOOL: return "boolean";
        }
        return "?";
}

static void describe_bounds(const conf_key_t *key, char *out, size_t out_size) {
        switch (key->type) {
        case CONF_INT:
                if (key->max == INT64_MAX)
                        snprintf(out, out_size, "%lld or more", (long long)key->min);
                else
                        snprintf(out, out_size, "%lld to %lld", (long long)key->min, (long long)key->max);
                break;
        case CONF_ENUM: {
                size_t used = (size_t)snprintf(out, out_size, "one of `");
                for (const char *p = key->values; *p && used + 5 < out_size; p++) {
                        if (*p == '|')
                                used += (size_t)snprintf(out + used, out_size - used, "`, `");
                        else
                                out[used++] = *p;
                }
                snprintf(out + used, out_size - used, "`");
                break;
        }
        case CONF_STRLIST:
                snprintf(out, out_size, "%lld to %lld entries of 1 to %zu characters", (long long)key->min,
                         (long long)key->max, key->item_max_len);
                break;
        case CONF_BOOL: snprintf(out, out_size, "`true` or `false`"); break;
        default: snprintf(out, out_size, "%lld to %lld characters", (long long)key->min, (long long)key->max);
        }
}

/* Writes text into a Markdown table cell: '<', '>' and '|' would end or hide it. */
static void write_cell_text(FILE *out, const char *text) {
        for (const char *p = text; *p; p++) {
                if (*p == '<')
                        fputs("&lt;", out);
                else if (*p == '>')
                        fputs("&gt;", out);
                else if (*p == '|')
                        fputs("\\|", out);
                else
                        fputc(*p, out);
        }
}

static void write_key_table(FILE *out) {
        fprintf(out, "| key | type | default | allowed | environment | description |\n");
        fprintf(out, "|---|---|---|---|---|---|\n");
        for (size_t i = 0; i < bl_config_key_count; i++) {
                const conf_key_t *key = &bl_config_keys[i];
                char bounds[160], env_name[160];
                describe_bounds(key, bounds, sizeof(bounds));
                bl_config_env_name(key->name, env_name, sizeof(env_name));
                fprintf(out, "| `%s` | %s | `%s` | %s | `%s` | ", key->name, type_name(key), key->default_json,
                        bounds, env_name);
                write_cell_text(out, key->description);
                fputs(" |\n", out);
        }
}

static void write_kafka_section(FILE *out) {
        fprintf(out, "\n## The `kafka` object\n\n"
                     "Every member is a librdkafka property, passed to librdkafka as it is (see librdkafka's\n"
                     "CONFIGURATION.md): `bootstrap.servers`, `security.protocol`, `sasl.*`, `ssl.*`, tuning.\n"
                     "Values may be strings, numbers or booleans, of any length: a PEM chain in `ssl.ca.pem`\n"
                     "or `ssl.key.pem` reaches librdkafka whole. Each property is checked by librdkafka\n"
                     "when the configuration loads, so a misspelt one stops start-up with librdkafka's reason.\n"
                     "The environment sets one as `BACKLOGD_KAFKA_<PROPERTY>`, dots written as underscores:\n"
                     "`BACKLOGD_KAFKA_SASL_PASSWORD` sets `sasl.password`.\n\n"
                     "Defaults: ");
        for (size_t i = 0; i < sizeof(default_kafka_properties) / sizeof(default_kafka_properties[0]); i++)
                fprintf(out, "%s`%s` = `%s`", i ? ", " : "", default_kafka_properties[i][0],
                        default_kafka_properties[i][1]);
        fprintf(out, ".\n\nbacklogd owns these properties; setting one is an error:\n\n"
                     "| property | why |\n|---|---|\n");
        for (size_t i = 0; i < sizeof(reserved_kafka_properties) / sizeof(reserved_kafka_properties[0]); i++)
                fprintf(out, "| `%s` | %s |\n", reserved_kafka_properties[i].name,
                        reserved_kafka_properties[i].reason);
        fprintf(out, "\nValues of properties whose name contains `password` or `secret`, and of\n"
                     "`sasl.oauthbearer.config`, `ssl.key.pem` and `ssl.keystore.location`, are shown as\n"
                     "`%s` by `backlogd config check` and never logged.\n",
                SECRET_MASK);
}

void bl_config_write_reference(FILE *out) {
        fprintf(out, "<!-- Generated by `backlogd config reference` from the key table in src/ops/config.c.\n"
                     "     Do not edit: a test compares this file with the table. -->\n"
                     "# Configuration reference\n\n"
                     "backlogd reads one JSON file (`--config FILE`, or the path in `BACKLOGD_CONFIG`), then\n"
                     "applies environment overrides. Nested objects are sections: `{\"topics\": {\"partitions\": 12}}`\n"
                     "sets `topics.partitions`. Members named `//` are comments and are ignored. Unknown keys,\n"
                     "values of the wrong type and values out of range stop start-up with the key and the reason;\n"
                     "`backlogd config check FILE` lists every problem at once, or prints the effective\n"
                     "configuration with the source of each value (default, file, env) and secrets masked.\n"
                     "A file that is not valid JSON is reported by line, column and the kind of fault, never\n"
                     "with the text around it (it may be part of a password); a problem with a secret or\n"
                     "with `registry.url` never quotes the value.\n\n"
                     "Each key can be overridden by the environment variable named in the table (dots become\n"
                     "underscores, letters uppercase). A list is written comma-separated:\n"
                     "`BACKLOGD_DOMAINS=training,serving`. A `BACKLOGD_` variable that names no key is ignored\n"
                     "with a warning (Kubernetes injects such variables for a Service named backlogd).\n\n"
                     "## Keys\n\n");
        write_key_table(out);
        write_kafka_section(out);
}
