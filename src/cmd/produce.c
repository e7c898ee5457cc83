/*
 * produce.c: `backlogd produce`: JSON lines in, TaskEvents out.
 *
 * Each line is one TaskEvent as a JSON object (docs/cli/produce.md gives
 * the shape). It is encoded with the chosen version of the TaskEvent
 * contract, framed with that schema's id (registered under <topic>-value
 * when a registry is configured), checked by the same decoder `run` uses, so
 * that what goes out is what backlogd accepts, and published keyed by task_id
 * with the murmur2 partitioner. A bad line is reported with its number and
 * the reason and the rest still go out; the exit status is 1 if any line or
 * delivery failed. Main thread only; delivery reports are served by polls.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd/cmd.h"
#include "contract/decoder.h"
#include "contract/source.h"
#include "contract/encode.h"
#include "kafka/client.h"
#include "base/log.h"

typedef struct produce_opts_s {
        const char *config_path;
        const char *input_path;
        const char *topic_role;
        int schema_version; /* 0: newest */
        bool validate;
} produce_opts_t;

typedef struct producer_state_s {
        const bl_config_t *config;
        bl_contract_source_t contracts;
        bl_schema_t *schema;
        bl_decoder_t *decoder;
        int32_t schema_id;
        rd_kafka_t *producer;
        char *topic;
        unsigned long sent, failed_lines, failed_deliveries;
} producer_state_t;

static void usage(FILE *out) {
        fprintf(out, "Usage: backlogd produce [-c FILE] [--results] [--schema-version N] [--no-validate] [INPUT]\n"
                     "\n"
                     "Publishes TaskEvents read as JSON lines from INPUT (default: stdin) to\n"
                     "tasks.events (or tasks.results with --results), keyed by task_id. Blank\n"
                     "lines and lines starting with # are skipped. event_id, occurred_at and\n"
                     "producer are filled in when a line leaves them out. A bad line is\n"
                     "reported with its number and reason; the others still go out.\n"
                     "Exit status: 0 all sent, 1 some line or delivery failed, 2 usage.\n"
                     "\n"
                     "Options:\n"
                     "  -c, --config FILE       configuration file (else $BACKLOGD_CONFIG, else defaults)\n"
                     "      --results           publish to tasks.results (worker results)\n"
                     "      --schema-version N  encode with TaskEvent version N (default: the newest)\n"
                     "      --no-validate       skip the contract's rules (to publish test poison pills)\n"
                     "  -h, --help              this help\n");
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *message, void *opaque) {
        producer_state_t *state = opaque;
        (void)rk;
        if (message->err) {
                state->failed_deliveries++;
                bl_log_error("produce", "delivery of %.*s failed: %s", (int)message->key_len,
                             (const char *)message->key, rd_kafka_err2str(message->err));
        } else {
                state->sent++;
        }
}

/* ---- set-up ------------------------------------------------------------- */

static bool open_contracts(producer_state_t *state, const produce_opts_t *opts, char *errstr, size_t errstr_size) {
        char subject[512];
        if (!bl_contract_source_open(&state->contracts, state->config, errstr, errstr_size))
                return false;
        state->schema = bl_schemas_version(state->contracts.schemas, "task_event", opts->schema_version);
        if (!state->schema) {
                bl_err_set(errstr, errstr_size, BL_ERR_NOT_FOUND, "TaskEvent version %d is not in %s",
                           opts->schema_version, state->contracts.catalog->dir);
                return false;
        }
        snprintf(subject, sizeof(subject), "%s-value", state->topic);
        if (bl_schemas_publish(state->contracts.schemas, state->schema, subject, &state->schema_id, errstr, errstr_size))
                return false;
        state->decoder = bl_decoder_new_from_config(state->contracts.schemas, state->config, errstr, errstr_size);
        return state->decoder != NULL;
}

static bool open_producer(producer_state_t *state, char *errstr, size_t errstr_size) {
        const char *overrides[] = {"partitioner", "murmur2_random", "enable.idempotence", "true", "linger.ms", "20",
                                   NULL};
        rd_kafka_conf_t *conf = bl_kafka_conf_new(state->config, overrides, errstr, errstr_size);
        if (!conf)
                return false;
        rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
        rd_kafka_conf_set_opaque(conf, state);
        state->producer = bl_kafka_new_from_conf(RD_KAFKA_PRODUCER, conf, errstr, errstr_size);
        return state->producer != NULL;
}

static void close_all(producer_state_t *state) {
        if (state->producer)
                rd_kafka_destroy(state->producer);
        bl_decoder_destroy(state->decoder);
        bl_contract_source_close(&state->contracts);
        free(state->topic);
}

/* ---- one line ----------------------------------------------------------- */

static void random_uuid(char out[37]) {
        unsigned char bytes[16];
        FILE *random = fopen("/dev/urandom", "rb");
        if (!random || fread(bytes, 1, sizeof(bytes), random) != sizeof(bytes))
                for (size_t i = 0; i < sizeof(bytes); i++)
                        bytes[i] = (unsigned char)rand();
        if (random)
                fclose(random);
        bytes[6] = (bytes[6] & 0x0F) | 0x40;
        bytes[8] = (bytes[8] & 0x3F) | 0x80;
        snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", bytes[0], bytes[1],
                 bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7], bytes[8], bytes[9], bytes[10], bytes[11],
                 bytes[12], bytes[13], bytes[14], bytes[15]);
}

static void fill_defaults(json_t *event) {
        char uuid[37];
        struct timespec now;
        if (!json_object_get(event, "event_id")) {
                random_uuid(uuid);
                json_object_set_new(event, "event_id", json_string(uuid));
        }
        if (!json_object_get(event, "occurred_at")) {
                clock_gettime(CLOCK_REALTIME, &now);
                json_object_set_new(event, "occurred_at",
                                    json_integer((json_int_t)now.tv_sec * 1000 + now.tv_nsec / 1000000));
        }
        if (!json_object_get(event, "producer"))
                json_object_set_new(event, "producer", json_string("backlogd-produce"));
}

static void line_failed(producer_state_t *state, unsigned long line_number, const char *reason) {
        state->failed_lines++;
        fprintf(stderr, "backlogd produce: line %lu: %s\n", line_number, reason);
}

/* Encodes, checks and enqueues one line; the buffer goes to librdkafka (F_FREE). */
static void produce_line(producer_state_t *state, const char *line, unsigned long line_number, bool validate) {
        char errstr[512];
        json_error_t error;
        unsigned char *value = NULL;
        size_t value_size;
        json_t *event = json_loads(line, 0, &error);
        const char *task_id;
        if (!json_is_object(event)) {
                snprintf(errstr, sizeof(errstr), event ? "expected a JSON object" : "not JSON: %s", error.text);
                line_failed(state, line_number, errstr);
                goto done;
        }
        fill_defaults(event);
        task_id = json_string_value(json_object_get(event, "task_id"));
        if (bl_encode_json(state->schema, state->schema_id, event, &value, &value_size, errstr, sizeof(errstr))) {
                line_failed(state, line_number, errstr);
                goto done;
        }
        if (validate) {
                bl_task_event_t decoded;
                bl_record_error_t failure;
                if (!bl_decoder_decode(state->decoder, task_id, strlen(task_id), value, value_size, &decoded,
                                       &failure)) {
                        snprintf(errstr, sizeof(errstr), "%s: %s", bl_reason_name(failure.reason), failure.detail);
                        line_failed(state, line_number, failure.transient ? failure.detail : errstr);
                        goto done;
                }
        }
        rd_kafka_resp_err_t err;
        while ((err = rd_kafka_producev(state->producer, RD_KAFKA_V_TOPIC(state->topic),
                                        RD_KAFKA_V_KEY(task_id, strlen(task_id)), RD_KAFKA_V_VALUE(value, value_size),
                                        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE), RD_KAFKA_V_END)) ==
               RD_KAFKA_RESP_ERR__QUEUE_FULL)
                rd_kafka_poll(state->producer, 100);
        if (err)
                line_failed(state, line_number, rd_kafka_err2str(err));
        else
                value = NULL; /* librdkafka frees it */
done:
        free(value);
        json_decref(event);
        rd_kafka_poll(state->producer, 0);
}

static void produce_all(producer_state_t *state, FILE *input, bool validate) {
        char *line = NULL;
        size_t capacity = 0;
        unsigned long line_number = 0;
        while (getline(&line, &capacity, input) >= 0) {
                const char *p = line;
                line_number++;
                while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
                        p++;
                if (*p && *p != '#')
                        produce_line(state, line, line_number, validate);
        }
        free(line);
        rd_kafka_flush(state->producer, 30000);
        int unsent = rd_kafka_outq_len(state->producer);
        if (unsent)
                bl_log_error("produce", "%d records were not delivered in time", unsent);
        state->failed_deliveries += (unsigned long)unsent;
}

/* ---- the command -------------------------------------------------------- */

static int parse_options(int argc, char **argv, produce_opts_t *opts) {
        static const struct option options[] = {
                {"config", required_argument, NULL, 'c'},     {"results", no_argument, NULL, 'r'},
                {"schema-version", required_argument, NULL, 'v'}, {"no-validate", no_argument, NULL, 'n'},
                {"help", no_argument, NULL, 'h'},             {NULL, 0, NULL, 0},
        };
        int opt;
        char *end;
        optind = 1;
        while ((opt = getopt_long(argc, argv, "c:h", options, NULL)) != -1) {
                switch (opt) {
                case 'c': opts->config_path = optarg; break;
                case 'r': opts->topic_role = "tasks.results"; break;
                case 'v':
                        opts->schema_version = (int)strtol(optarg, &end, 10);
                        if (*end || opts->schema_version < 1)
                                return bl_cmd_usage_error("produce", "--schema-version takes a number from 1");
                        break;
                case 'n': opts->validate = false; break;
                case 'h': usage(stdout); return -1;
                default: return bl_cmd_usage_error("produce", "bad option");
                }
        }
        if (optind < argc)
                opts->input_path = argv[optind++];
        if (optind < argc)
                return bl_cmd_usage_error("produce", "unexpected argument '%s'", argv[optind]);
        return BL_EXIT_OK;
}

int bl_cmd_produce(int argc, char **argv) {
        produce_opts_t opts = {NULL, NULL, "tasks.events", 0, true};
        producer_state_t state = {0};
        char errstr[512];
        FILE *input = stdin;
        int status = parse_options(argc, argv, &opts);
        if (status)
                return status < 0 ? BL_EXIT_OK : status;
        if (opts.input_path && !(input = fopen(opts.input_path, "r"))) {
                fprintf(stderr, "backlogd produce: cannot open %s\n", opts.input_path);
                return BL_EXIT_FAILURE;
        }
        bl_config_t *config = bl_cmd_load_config(opts.config_path);
        status = BL_EXIT_FAILURE;
        if (!config)
                goto done;
        state.config = config;
        state.topic = bl_config_topic_name(config, opts.topic_role);
        if (!open_contracts(&state, &opts, errstr, sizeof(errstr)) || !open_producer(&state, errstr, sizeof(errstr))) {
                fprintf(stderr, "backlogd produce: %s\n", errstr);
                goto done;
        }
        produce_all(&state, input, opts.validate);
        fprintf(stderr, "backlogd produce: %lu sent to %s (schema id %d), %lu lines failed, %lu deliveries failed\n",
                state.sent, state.topic, (int)state.schema_id, state.failed_lines, state.failed_deliveries);
        status = state.failed_lines || state.failed_deliveries ? BL_EXIT_FAILURE : BL_EXIT_OK;
done:
        close_all(&state);
        bl_config_destroy(config);
        if (input != stdin)
                fclose(input);
        return status;
}
