/*
 * test_config.c: every way a configuration can be wrong is reported with
 * the key and the reason; defaults, file and environment layer as documented;
 * secrets never print. Fixtures live in tests/fixtures/config.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "ops/config.h"
#include "ops/config_int.h"

#define MAX_PROBLEMS 16

typedef struct problems_s {
        int count;
        int fatal;
        char key[MAX_PROBLEMS][128];
        char reason[MAX_PROBLEMS][512];
} problems_t;

static void collect(const char *key, const char *reason, bool fatal, void *opaque) {
        problems_t *problems = opaque;
        if (problems->count < MAX_PROBLEMS) {
                snprintf(problems->key[problems->count], sizeof(problems->key[0]), "%s", key);
                snprintf(problems->reason[problems->count], sizeof(problems->reason[0]), "%s", reason);
        }
        problems->count++;
        problems->fatal += fatal;
}

static const char *fixture(const char *name) {
        static char path[1024];
        const char *dir = getenv("BACKLOGD_FIXTURES");
        snprintf(path, sizeof(path), "%s/config/%s", dir ? dir : "tests/fixtures", name);
        return path;
}

/* Loads a fixture that must fail with exactly one problem at @p key whose reason holds @p reason. */
static void expect_one_error(const char *file, const char *key, const char *reason) {
        problems_t problems = {0};
        bl_config_t *config = bl_config_load(fixture(file), NULL, collect, &problems);
        CHECK(config == NULL);
        CHECK_INT(problems.count, 1);
        CHECK_INT(problems.fatal, 1);
        CHECK_STR(problems.key[0], key);
        CHECK_CONTAINS(problems.reason[0], reason);
        bl_config_destroy(config);
}

static void test_defaults_are_valid(void) {
        bl_config_t *config = bl_config_new_defaults();
        CHECK(config != NULL);
        CHECK_STR(config->group_id, "backlogd");
        CHECK_INT(config->topics_partitions, 6);
        CHECK_INT(config->topics_replication_factor, -1);
        CHECK_INT(config->domains.count, 4);
        CHECK_STR(config->domains.items[1], "model_inference");
        CHECK_STR(json_string_value(json_object_get(config->kafka, "bootstrap.servers")), "127.0.0.1:9092");
        bl_config_destroy(config);
}

static void test_full_file(void) {
        problems_t problems = {0};
        bl_config_t *config = bl_config_load(fixture("valid_full.json"), NULL, collect, &problems);
        CHECK(config != NULL);
        CHECK_INT(problems.count, 0);
        if (!config)
                return;
        CHECK_STR(config->topics_prefix, "prod.");
        CHECK_INT(config->topics_partitions, 12);
        CHECK_INT(config->topics_replication_factor, 3);
        CHECK_INT(config->topics_transitions_retention_ms, -1);
        CHECK_INT(config->domains.count, 2);
        CHECK_INT(config->log_level, 0);
        CHECK_INT(config->admin_timeout_ms, 5000);
        CHECK_STR(json_string_value(json_object_get(config->kafka, "statistics.interval.ms")), "0");
        CHECK_STR(json_string_value(json_object_get(config->kafka, "socket.keepalive.enable")), "true");
        char *name = bl_config_topic_name(config, "tasks.events");
        CHECK_STR(name, "prod.tasks.events");
        free(name);
        bl_config_destroy(config);
}

static void test_type_and_range_errors(void) {
        expect_one_error("unknown_key.json", "topics.partiton", "unknown key (did you mean topics.partitions?)");
        expect_one_error("unknown_top_level.json", "colour", "unknown key");
        expect_one_error("wrong_type.json", "topics.partitions", "expected an integer, got a string");
        expect_one_error("fraction_for_integer.json", "admin.timeout_ms", "expected an integer");
        expect_one_error("out_of_range.json", "topics.partitions", "0 is out of range [1, 10000]");
        expect_one_error("replication_zero.json", "topics.replication_factor", "must be -1");
        expect_one_error("bad_enum.json", "log.level", "\"verbose\" is not one of debug|info|warn|error");
        expect_one_error("section_not_object.json", "topics", "expected an object");
}

static void test_text_rule_errors(void) {
        expect_one_error("bad_domain.json", "domains[0]", "lowercase letters");
        expect_one_error("duplicate_domain.json", "domains[1]", "listed twice");
        expect_one_error("empty_domains.json", "domains", "has 0 entries");
        expect_one_error("bad_prefix.json", "topics.prefix", "may hold only letters");
}

static void test_kafka_object_errors(void) {
        expect_one_error("kafka_unknown_property.json", "kafka.bootstrap.server", "librdkafka refuses it");
        expect_one_error("kafka_reserved.json", "kafka.enable.auto.commit", "may not be set");
        expect_one_error("kafka_bad_value.json", "kafka.security.protocol", "librdkafka refuses it");
        expect_one_error("kafka_not_object.json", "kafka", "expected an object of librdkafka properties");
        expect_one_error("kafka_value_type.json", "kafka.bootstrap.servers", "expected a string, number or boolean");
}

static void test_file_errors(void) {
        problems_t problems = {0};
        CHECK(bl_config_load(fixture("no_such_file.json"), NULL, collect, &problems) == NULL);
        CHECK_INT(problems.count, 1);
        CHECK_CONTAINS(problems.key[0], "no_such_file.json");
        CHECK_CONTAINS(problems.reason[0], "unable to open");
        expect_one_error("not_an_object.json", fixture("not_an_object.json"), "must hold one JSON object");
        expect_one_error("duplicate_key.json", fixture("duplicate_key.json"), "a key appears twice in one object");
}

static void test_syntax_error_names_line(void) {
        problems_t problems = {0};
        CHECK(bl_config_load(fixture("syntax_error.json"), NULL, collect, &problems) == NULL);
        CHECK_INT(problems.count, 1);
        CHECK_CONTAINS(problems.reason[0], "line 3");
}

static void test_every_error_is_reported(void) {
        problems_t problems = {0};
        CHECK(bl_config_load(fixture("many_errors.json"), NULL, collect, &problems) == NULL);
        CHECK_INT(problems.fatal, 4);
        CHECK_STR(problems.key[0], "group_id");
        CHECK_CONTAINS(problems.reason[0], "must not be empty");
        CHECK_STR(problems.key[1], "topics.partitions");
        CHECK_STR(problems.key[2], "topics.prefix");
        CHECK_CONTAINS(problems.reason[2], "expected a string, got an integer");
        CHECK_STR(problems.key[3], "domainz");
        CHECK_CONTAINS(problems.reason[3], "did you mean domains?");
}

static void test_environment_overrides(void) {
        char *envp[] = {"PATH=/bin",
                        "BACKLOGD_TOPICS_PARTITIONS=24",
                        "BACKLOGD_DOMAINS=training, serving",
                        "BACKLOGD_KAFKA_BOOTSTRAP_SERVERS=10.0.0.1:9093",
                        "BACKLOGD_KAFKA_SASL_PASSWORD=from-a-secret",
                        "BACKLOGD_CONFIG=/ignored/here.json",
                        "BACKLOGD_SERVICE_HOST=10.1.2.3",
                        NULL};
        problems_t problems = {0};
        bl_config_t *config = bl_config_load(fixture("valid_full.json"), envp, collect, &problems);
        CHECK(config != NULL);
        if (!config)
                return;
        CHECK_INT(config->topics_partitions, 24);
        CHECK_INT(config->domains.count, 2);
        CHECK_STR(config->domains.items[1], "serving");
        CHECK_STR(json_string_value(json_object_get(config->kafka, "bootstrap.servers")), "10.0.0.1:9093");
        CHECK_STR(json_string_value(json_object_get(config->kafka_sources, "sasl.password")), "env");
        /* An unknown BACKLOGD_ variable warns and is ignored. */
        CHECK_INT(problems.count, 1);
        CHECK_INT(problems.fatal, 0);
        CHECK_STR(problems.key[0], "BACKLOGD_SERVICE_HOST");
        bl_config_destroy(config);
}

/* The spill store's keys: on by default in the temp dir; a deployment points it at its volume, or turns it off. */
static void test_spill_keys(void) {
        bl_config_t *config = bl_config_new_defaults();
        CHECK(config != NULL);
        if (config) {
                CHECK(config->backlog_spill_enabled);
                CHECK_STR(config->backlog_spill_dir, "");
        }
        bl_config_destroy(config);
        char *envp[] = {"BACKLOGD_BACKLOG_SPILL_DIR=/var/lib/backlogd/spill", "BACKLOGD_BACKLOG_SPILL_ENABLED=false",
                        NULL};
        problems_t problems = {0};
        config = bl_config_load(fixture("valid_full.json"), envp, collect, &problems);
        CHECK(config != NULL);
        CHECK_INT(problems.count, 0);
        if (config) {
                CHECK(!config->backlog_spill_enabled);
                CHECK_STR(config->backlog_spill_dir, "/var/lib/backlogd/spill");
        }
        bl_config_destroy(config);
}

static void test_environment_errors(void) {
        char *envp[] = {"BACKLOGD_TOPICS_PARTITIONS=twelve", "BACKLOGD_LOG_LEVEL=loud",
                        "BACKLOGD_KAFKA_ISOLATION_LEVEL=read_uncommitted", NULL};
        problems_t problems = {0};
        CHECK(bl_config_load(NULL, envp, collect, &problems) == NULL);
        CHECK_INT(problems.fatal, 3);
        CHECK_STR(problems.key[0], "BACKLOGD_TOPICS_PARTITIONS");
        CHECK_CONTAINS(problems.reason[0], "not an integer");
        CHECK_STR(problems.key[1], "log.level");
        CHECK_STR(problems.key[2], "kafka.isolation.level");
}

static void test_env_names(void) {
        char name[64];
        bl_config_env_name("topics.replication_factor", name, sizeof(name));
        CHECK_STR(name, "BACKLOGD_TOPICS_REPLICATION_FACTOR");
}

/* Prints into memory; the caller frees. */
static char *print_to_string(const bl_config_t *config, bool as_json) {
        char *buffer = NULL;
        size_t size = 0;
        FILE *memory = open_memstream(&buffer, &size);
        bl_config_print(config, memory, as_json);
        fclose(memory);
        return buffer;
}

static void test_sources_are_shown(void) {
        char *envp[] = {"BACKLOGD_GROUP_ID=from-env", NULL};
        bl_config_t *config = bl_config_load(NULL, envp, NULL, NULL);
        char *table = print_to_string(config, false);
        CHECK_CONTAINS(table, "\"from-env\"");
        CHECK_CONTAINS(table, "(env)");
        CHECK_CONTAINS(table, "(default)");
        free(table);
        bl_config_destroy(config);
}

static void test_secrets_are_masked(void) {
        bl_config_t *config = bl_config_load(fixture("valid_full.json"), NULL, NULL, NULL);
        CHECK(config != NULL);
        if (!config)
                return;
        char *table = print_to_string(config, false);
        char *json = print_to_string(config, true);
        CHECK(strstr(table, "hunter2") == NULL);
        CHECK(strstr(json, "hunter2") == NULL);
        CHECK_CONTAINS(table, "kafka.sasl.password");
        CHECK_CONTAINS(table, "********");
        CHECK_CONTAINS(table, "(file)");
        CHECK(bl_config_kafka_property_is_secret("ssl.key.password"));
        CHECK(bl_config_kafka_property_is_secret("sasl.oauthbearer.client.secret"));
        CHECK(!bl_config_kafka_property_is_secret("sasl.username"));
        free(table);
        free(json);
        bl_config_destroy(config);
}

/* The JSON that config check prints loads back to the same values. */
static void test_printed_json_loads_back(void) {
        bl_config_t *config = bl_config_load(fixture("valid_full.json"), NULL, NULL, NULL);
        char path[] = "/tmp/backlogd-config-XXXXXX";
        int fd = mkstemp(path);
        FILE *out = fdopen(fd, "w");
        bl_config_print(config, out, true);
        fclose(out);
        problems_t problems = {0};
        bl_config_t *again = bl_config_load(path, NULL, collect, &problems);
        CHECK(again != NULL);
        CHECK_INT(problems.count, 0);
        if (again) {
                CHECK_INT(again->topics_partitions, config->topics_partitions);
                CHECK_STR(again->topics_prefix, config->topics_prefix);
                CHECK_INT(again->log_level, config->log_level);
                CHECK_INT(again->domains.count, config->domains.count);
        }
        unlink(path);
        bl_config_destroy(again);
        bl_config_destroy(config);
}

static void test_reference_lists_every_key(void) {
        char *buffer = NULL;
        size_t size = 0;
        FILE *memory = open_memstream(&buffer, &size);
        bl_config_write_reference(memory);
        fclose(memory);
        for (size_t i = 0; i < bl_config_key_count; i++) {
                char cell[160], env_name[160];
                snprintf(cell, sizeof(cell), "| `%s` |", bl_config_keys[i].name);
                CHECK_CONTAINS(buffer, cell);
                bl_config_env_name(bl_config_keys[i].name, env_name, sizeof(env_name));
                CHECK_CONTAINS(buffer, env_name);
                CHECK(strlen(bl_config_keys[i].description) > 10);
        }
        CHECK_CONTAINS(buffer, "`enable.auto.commit`");
        free(buffer);
}


/* Whether @p name ends with @p suffix. */
static bool ends_with(const char *name, const char *suffix) {
        size_t length = strlen(name), suffix_length = strlen(suffix);
        return length >= suffix_length && !strcmp(name + length - suffix_length, suffix);
}

/*
 * The keys whose values reach only int64_t arithmetic that saturates
 * (core/duration.c) or a topic's retention.ms (a long for Kafka): the only
 * ones allowed above INT32_MAX. Every other duration ends up in an int of
 * librdkafka or libmicrohttpd.
 */
static bool int64_end_to_end(const char *name) {
        static const char *const keys[] = {"backlog.retention_ms", "topics.transitions_retention_ms",
                                           "topics.dlq_retention_ms", "backlog.max_memory_bytes",
                                           "backlog.resume_memory_bytes", "commit.hold_max_bytes",
                                           "limits.message_max_bytes", "limits.payload_max_bytes"};
        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
                if (!strcmp(keys[i], name))
                        return true;
        return false;
}

/* Loads the defaults with @p key (and its partners in a rule between keys) set to @p value. */
static bl_config_t *load_with(const conf_key_t *key, long long value, problems_t *problems) {
        char setting[3][160], env_name[128];
        char *envp[4] = {setting[0], NULL, NULL, NULL};
        bl_config_env_name(key->name, env_name, sizeof(env_name));
        snprintf(setting[0], sizeof(setting[0]), "%s=%lld", env_name, value);
        /* a watermark or a base at its extreme needs its partner beside it */
        if (!strcmp(key->name, "backlog.retry_base_ms")) {
                snprintf(setting[1], sizeof(setting[1]), "BACKLOGD_BACKLOG_RETRY_CAP_MS=%lld", (long long)key->max);
                envp[1] = setting[1];
        } else if (!strcmp(key->name, "backlog.retry_cap_ms")) {
                snprintf(setting[1], sizeof(setting[1]), "BACKLOGD_BACKLOG_RETRY_BASE_MS=%lld", (long long)key->min);
                envp[1] = setting[1];
        } else if (!strcmp(key->name, "backlog.resume_memory_bytes")) {
                snprintf(setting[1], sizeof(setting[1]), "BACKLOGD_BACKLOG_MAX_MEMORY_BYTES=%lld",
                         value == key->max ? 0LL : value + 1);
                envp[1] = setting[1];
        } else if (!strcmp(key->name, "backlog.max_memory_bytes")) {
                snprintf(setting[1], sizeof(setting[1]), "BACKLOGD_BACKLOG_RESUME_MEMORY_BYTES=%lld",
                         value > 1048576 ? value - 1 : 1048576LL); /* 0: no budget, any watermark */
                envp[1] = setting[1];
        }
        memset(problems, 0, sizeof(*problems));
        return bl_config_load(NULL, envp, collect, problems);
}

/*
 * Issue #12 item 5: every duration (and memory) key works from its minimum
 * to its maximum as the table documents them: both ends load, one past either
 * end is refused with the key named, and a value above INT32_MAX is allowed
 * only where it never meets an int. The behaviour at the ends is shown where
 * each key is used (test_backlog.c: retention, lease, retry, rescore at 0 and
 * at their maximum; test_duration.c: the arithmetic at INT64_MAX).
 */
static void test_duration_keys_work_at_both_ends(void) {
        size_t checked = 0;
        for (size_t i = 0; i < bl_config_key_count; i++) {
                const conf_key_t *key = &bl_config_keys[i];
                if (key->type != CONF_INT || !(ends_with(key->name, "_ms") || ends_with(key->name, "_bytes")))
                        continue;
                problems_t problems;
                bl_config_t *config;
                for (int end = 0; end < 2; end++) {
                        long long value = end ? (long long)key->max : (long long)key->min;
                        config = load_with(key, value, &problems);
                        if (!config)
                                fprintf(stderr, "  %s = %lld: %s: %s\n", key->name, value, problems.key[0],
                                        problems.reason[0]);
                        CHECK(config != NULL);
                        CHECK_INT(problems.fatal, 0);
                        if (config)
                                CHECK_INT(*(const int64_t *)((const char *)config + key->offset), value);
                        bl_config_destroy(config);
                }
                if (key->min > INT64_MIN) {
                        CHECK((config = load_with(key, (long long)key->min - 1, &problems)) == NULL);
                        CHECK_STR(problems.key[0], key->name);
                        bl_config_destroy(config);
                }
                if (key->max < INT64_MAX) {
                        CHECK((config = load_with(key, (long long)key->max + 1, &problems)) == NULL);
                        CHECK_STR(problems.key[0], key->name);
                        bl_config_destroy(config);
                }
                /* never negative, but for a topic's retention.ms, where -1 is Kafka's "for ever" */
                CHECK(key->min >= 0 || (!strncmp(key->name, "topics.", 7) && key->min == -1));
                if (!int64_end_to_end(key->name) && key->max > INT32_MAX)
                        fprintf(stderr, "  %s: max %lld does not fit an int\n", key->name, (long long)key->max);
                CHECK(int64_end_to_end(key->name) || key->max <= INT32_MAX);
                checked++;
        }
        CHECK(checked >= 17);
        /* the watermarks of the memory budget, like those of the READY count */
        char *envp[] = {"BACKLOGD_BACKLOG_MAX_MEMORY_BYTES=2000000", "BACKLOGD_BACKLOG_RESUME_MEMORY_BYTES=2000000", NULL};
        problems_t problems = {0};
        CHECK(bl_config_load(NULL, envp, collect, &problems) == NULL);
        CHECK_STR(problems.key[0], "backlog.resume_memory_bytes");
        CHECK_CONTAINS(problems.reason[0], "must be below backlog.max_memory_bytes");
        char *off[] = {"BACKLOGD_BACKLOG_MAX_MEMORY_BYTES=0", NULL}; /* no budget: the low watermark is moot */
        bl_config_t *config = bl_config_load(NULL, off, collect, &problems);
        CHECK(config != NULL);
        bl_config_destroy(config);
}

static void test_kafka_conf(void) {
        char errstr[256], value[256];
        size_t value_size = sizeof(value);
        bl_config_t *config = bl_config_load(fixture("valid_full.json"), NULL, NULL, NULL);
        rd_kafka_conf_t *conf = bl_config_kafka_conf_new(config, errstr, sizeof(errstr));
        CHECK(conf != NULL);
        CHECK(rd_kafka_conf_get(conf, "bootstrap.servers", value, &value_size) == RD_KAFKA_CONF_OK);
        CHECK_STR(value, "broker-1:9092,broker-2:9092");
        rd_kafka_conf_destroy(conf);
        bl_config_destroy(config);
}

/* Writes @p text to a new temporary file; its path in @p path (a mkstemp template). */
static void write_temp(char *path, const char *text) {
        int fd = mkstemp(path);
        FILE *out = fdopen(fd, "w");
        fputs(text, out);
        fclose(out);
}

/* A PEM-like value of @p size bytes: lines of base64 letters between the BEGIN and END lines. */
static char *pem_of_size(size_t size) {
        static const char head[] = "-----BEGIN CERTIFICATE-----\n", tail[] = "-----END CERTIFICATE-----\n";
        char *pem = malloc(size + 1);
        size_t at = strlen(head);
        memcpy(pem, head, at);
        for (size_t column = 0; at < size - strlen(tail); at++, column++)
                pem[at] = column % 65 == 64 ? '\n' : "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[at % 64];
        memcpy(pem + at, tail, strlen(tail) + 1);
        return pem;
}

/* A property's value in @p conf, as librdkafka holds it (a new string). */
static char *conf_value(rd_kafka_conf_t *conf, const char *name) {
        size_t size = 0;
        char *value;
        if (rd_kafka_conf_get(conf, name, NULL, &size) != RD_KAFKA_CONF_OK)
                return NULL;
        value = malloc(size);
        rd_kafka_conf_get(conf, name, value, &size);
        return value;
}

/* Regression (issue 12): a kafka property value over 4,095 bytes was cut silently (ssl.ca.pem, ssl.key.pem). */
static void test_long_kafka_values_reach_librdkafka_whole(void) {
        char path[] = "/tmp/backlogd-config-XXXXXX", errstr[256];
        char *pem = pem_of_size(6144), *env_pem = pem_of_size(9000);
        json_t *document = json_pack("{s:{s:s, s:s}}", "kafka", "bootstrap.servers", "b:9092", "ssl.ca.pem", pem);
        char *text = json_dumps(document, 0), *env_entry = malloc(strlen(env_pem) + 64), *got;
        char *envp[] = {env_entry, NULL};
        problems_t problems = {0};
        bl_config_t *config;
        rd_kafka_conf_t *conf;
        CHECK_INT(strlen(pem), 6144);
        write_temp(path, text);
        config = bl_config_load(path, NULL, collect, &problems);
        CHECK(config != NULL);
        CHECK_INT(problems.count, 0);
        conf = config ? bl_config_kafka_conf_new(config, errstr, sizeof(errstr)) : NULL;
        CHECK(conf != NULL);
        got = conf ? conf_value(conf, "ssl.ca.pem") : NULL;
        CHECK(got != NULL && strlen(got) == 6144);
        CHECK(got && !strcmp(got, pem));
        free(got);
        if (conf)
                rd_kafka_conf_destroy(conf);
        bl_config_destroy(config);
        /* the same through the environment, 9,000 bytes */
        sprintf(env_entry, "BACKLOGD_KAFKA_SSL_CA_PEM=%s", env_pem);
        config = bl_config_load(path, envp, collect, &problems);
        CHECK(config != NULL);
        conf = config ? bl_config_kafka_conf_new(config, errstr, sizeof(errstr)) : NULL;
        got = conf ? conf_value(conf, "ssl.ca.pem") : NULL;
        CHECK(got && !strcmp(got, env_pem));
        free(got);
        if (conf)
                rd_kafka_conf_destroy(conf);
        bl_config_destroy(config);
        unlink(path);
        free(text);
        free(env_entry);
        json_decref(document);
        free(pem);
        free(env_pem);
}

/* Loads @p text as a config file: must fail with one problem, whose reason contains @p reason and not @p secret. */
static void expect_refused_without(const char *text, const char *key, const char *reason, const char *secret) {
        char path[] = "/tmp/backlogd-config-XXXXXX";
        problems_t problems = {0};
        write_temp(path, text);
        CHECK(bl_config_load(path, NULL, collect, &problems) == NULL);
        CHECK_INT(problems.count, 1);
        if (key)
                CHECK_STR(problems.key[0], key);
        CHECK_CONTAINS(problems.reason[0], reason);
        CHECK(strstr(problems.reason[0], secret) == NULL);
        CHECK(strstr(problems.key[0], secret) == NULL);
        unlink(path);
}

/* Regression (issue 12): config check accepted a registry.url with user:password@ that run refuses, and printed it. */
static void test_registry_url_rule(void) {
        expect_refused_without("{\"registry\": {\"url\": \"https://svc:s3cr3tpw@registry:8081\"}}", "registry.url",
                               "must not carry credentials", "s3cr3tpw");
        expect_refused_without("{\"registry\": {\"url\": \"https://svc@registry:8081\"}}", "registry.url",
                               "must not carry credentials", "svc@");
        expect_refused_without("{\"registry\": {\"url\": \"http://registry:8081/?token=s3cr3tpw\"}}",
                               "registry.url", "must not have a query", "s3cr3tpw");
        expect_refused_without("{\"registry\": {\"url\": \"ftp://registry\"}}", "registry.url",
                               "must start with http:// or https://", "ftp:");
        CHECK(bl_config_registry_url_problem("") == NULL);
        CHECK(bl_config_registry_url_problem("http://registry:8081") == NULL);
        CHECK(bl_config_registry_url_problem("https://host/apis/ccompat/v7") == NULL);
        CHECK(bl_config_registry_url_problem("https://u:p@host") != NULL);
}

/* Regression (issue 12): a parse error quoted jansson's error text, which holds a piece of the file (a password). */
static void test_parse_errors_quote_nothing(void) {
        expect_refused_without("{\"registry\": {\"password\": \"hunt\\qer2\"}}", NULL, "line 1, column", "hunt");
        expect_refused_without("{\"kafka\": {\"sasl.password\": \"pa\\x55ss\"}}", NULL, "invalid JSON syntax", "pa");
        expect_refused_without("{\"kafka\": {\"sasl.password\": \"tab\there\"}}", NULL, "line 1", "tab");
        expect_refused_without("{\"kafka\": {\"sasl.password\": \"unterminated", NULL, "line 1", "unterm");
        expect_refused_without("{\"registry\": {\"password\": secretword}}", NULL, "line 1", "secretw");
}

int main(void) {
        RUN(test_defaults_are_valid);
        RUN(test_full_file);
        RUN(test_type_and_range_errors);
        RUN(test_text_rule_errors);
        RUN(test_kafka_object_errors);
        RUN(test_file_errors);
        RUN(test_syntax_error_names_line);
        RUN(test_every_error_is_reported);
        RUN(test_environment_overrides);
        RUN(test_spill_keys);
        RUN(test_environment_errors);
        RUN(test_env_names);
        RUN(test_sources_are_shown);
        RUN(test_secrets_are_masked);
        RUN(test_printed_json_loads_back);
        RUN(test_reference_lists_every_key);
        RUN(test_kafka_conf);
        RUN(test_long_kafka_values_reach_librdkafka_whole);
        RUN(test_registry_url_rule);
        RUN(test_parse_errors_quote_nothing);
        RUN(test_duration_keys_work_at_both_ends);
        return check_exit_status();
}
