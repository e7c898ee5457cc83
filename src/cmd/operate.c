/*
 * operate.c: the operator's commands of SPEC §15: `backlogd approve`,
 * `reject`, `cancel` (each TASK_ID... --reason TEXT [--by NAME]) and
 * `prioritize TASK_ID --business-value X | --deadline T`.
 *
 * Each builds one TaskEvent per task (APPROVED, REJECTED, CANCELLED, or an
 * UPDATED carrying the new business_value or deadline) in the newest
 * TaskEvent version, with the actor and the reason (v3), checks it with the
 * same decoder `run` uses, and publishes it to tasks.control keyed by
 * task_id with the murmur2 partitioner. tasks.control is the operators'
 * topic: its write ACL is the approvers' alone (docs/security.md), and `run`
 * honours APPROVED and REJECTED only from it.
 *
 * The actor is --by, else the Kafka principal of the kafka object
 * (sasl.username), else the OS user: whoever the ACLs let write is who
 * the history names. Options are checked before any Kafka handle exists
 * (usage errors exit 2). Main thread only; delivery reports served by polls.
 */
#include <getopt.h>
#include <math.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "contract/decoder.h"
#include "contract/encode.h"
#include "contract/source.h"
#include "kafka/client.h"

typedef struct operate_opts_s {
        const char *command;    /* approve, reject, cancel, prioritize */
        const char *event_type; /* APPROVED, REJECTED, CANCELLED, UPDATED */
        const char *config_path;
        const char *reason;
        const char *actor;
        bool has_business_value;
        double business_value;
        bool has_deadline;
        int64_t deadline_ms;
        char **task_ids;
        int task_count;
} operate_opts_t;

typedef struct operate_state_s {
        const bl_config_t *config;
        bl_contract_source_t contracts;
        bl_schema_t *schema;
        bl_decoder_t *decoder;
        int32_t schema_id;
        rd_kafka_t *producer;
        char *topic;
        unsigned long sent, failed;
} operate_state_t;

static void usage_of(FILE *out, const char *command) {
        if (!strcmp(command, "prioritize")) {
                fprintf(out, "Usage: backlogd prioritize [-c FILE] TASK_ID (--business-value X | --deadline T)\n"
                             "                           [--reason TEXT] [--by NAME]\n"
                             "\n"
                             "Changes a task's business value (0 to 1) or deadline (milliseconds since 1970,\n"
                             "or an RFC 3339 time such as 2025-06-01T12:00:00Z): an UPDATED TaskEvent\n"
                             "to tasks.control, with who and why. A READY task is scored again at once.\n");
        } else {
                fprintf(out,
                        "Usage: backlogd %s [-c FILE] TASK_ID... --reason TEXT [--by NAME]\n"
                        "\n"
                        "%s each task: one %s TaskEvent per task to tasks.control, carrying who\n"
                        "(--by NAME, else the Kafka principal sasl.username, else the OS user) and why.\n"
                        "backlogd honours APPROVED and REJECTED only from tasks.control.\n",
                        command,
                        !strcmp(command, "approve")  ? "Approves"
                        : !strcmp(command, "reject") ? "Rejects (the task ends CANCELLED with the reason)"
                                                     : "Cancels (a DISPATCHED or RUNNING task's worker is told)",
                        !strcmp(command, "approve")  ? "APPROVED"
                        : !strcmp(command, "reject") ? "REJECTED"
                                                     : "CANCELLED");
        }
        fprintf(out, "Exit status: 0 all sent, 1 some event failed, 2 usage.\n"
                     "\n"
                     "Options:\n"
                     "  -c, --config FILE        configuration file (else $BACKLOGD_CONFIG, else defaults)\n"
                     "      --reason TEXT        why (required but for prioritize; at most 512 bytes)\n"
                     "      --by NAME            who, when not the Kafka principal or the OS user\n");
        if (!strcmp(command, "prioritize"))
                fprintf(out, "      --business-value X   the new business value, 0 to 1\n"
                             "      --deadline T         the new deadline\n");
        fprintf(out, "  -h, --help               this help\n");
}

/* An RFC 3339 time ("2025-06-01T12:00:00Z") or milliseconds since 1970; false when it is neither. */
static bool parse_time_ms(const char *text, int64_t *out) {
        char *end;
        long long number = strtoll(text, &end, 10);
        if (*text && !*end && number >= 0) {
                *out = number;
                return true;
        }
        return bl_encode_parse_rfc3339(text, out);
}

static int parse_options(int argc, char **argv, operate_opts_t *opts) {
        static const struct option options[] = {
                {"config", required_argument, NULL, 'c'}, {"reason", required_argument, NULL, 'r'},
                {"by", required_argument, NULL, 'b'},     {"business-value", required_argument, NULL, 'v'},
                {"deadline", required_argument, NULL, 'd'}, {"help", no_argument, NULL, 'h'},
                {NULL, 0, NULL, 0},
        };
        bool prioritize = !strcmp(opts->command, "prioritize");
        int opt;
        char *end;
        optind = 1;
        while ((opt = getopt_long(argc, argv, "c:h", options, NULL)) != -1) {
                switch (opt) {
                case 'c': opts->config_path = optarg; break;
                case 'r': opts->reason = optarg; break;
                case 'b': opts->actor = optarg; break;
                case 'v':
                        opts->business_value = strtod(optarg, &end);
                        if (!prioritize || *end || !*optarg || !(opts->business_value >= 0 && opts->business_value <= 1))
                                return bl_cmd_usage_error(opts->command, "--business-value takes a number from 0 to 1"
                                                                         " (prioritize only)");
                        opts->has_business_value = true;
                        break;
                case 'd':
                        if (!prioritize || !parse_time_ms(optarg, &opts->deadline_ms))
                                return bl_cmd_usage_error(opts->command, "--deadline takes milliseconds since 1970 "
                                                                         "or an RFC 3339 time (prioritize only)");
                        opts->has_deadline = true;
                        break;
                case 'h': usage_of(stdout, opts->command); return -1;
                default: return bl_cmd_usage_error(opts->command, "bad option");
                }
        }
        opts->task_ids = argv + optind;
        opts->task_count = argc - optind;
        if (opts->task_count < 1)
                return bl_cmd_usage_error(opts->command, "which task? give at least one TASK_ID");
        if (prioritize && opts->task_count != 1)
                return bl_cmd_usage_error(opts->command, "prioritize takes one TASK_ID");
        if (prioritize && opts->has_business_value == opts->has_deadline)
                return bl_cmd_usage_error(opts->command, "give --business-value or --deadline (one of them)");
        if (!prioritize && (!opts->reason || !*opts->reason))
                return bl_cmd_usage_error(opts->command, "--reason TEXT is required: the history says why");
        if (opts->reason && strlen(opts->reason) > BL_REASON_MAX_BYTES)
                return bl_cmd_usage_error(opts->command, "--reason is longer than %d bytes", BL_REASON_MAX_BYTES);
        if (opts->actor && (!*opts->actor || strlen(opts->actor) > BL_ACTOR_MAX_BYTES))
                return bl_cmd_usage_error(opts->command, "--by takes a name of 1 to %d bytes", BL_ACTOR_MAX_BYTES);
        return BL_EXIT_OK;
}

/* --by, else the Kafka principal, else the OS user. Borrowed; never NULL. */
static const char *actor_of(const operate_opts_t *opts, const bl_config_t *config) {
        const char *principal = json_string_value(json_object_get(config->kafka, "sasl.username"));
        const struct passwd *user;
        if (opts->actor)
                return opts->actor;
        if (principal && *principal)
                return principal;
        if ((user = getpwuid(getuid())) && user->pw_name && *user->pw_name)
                return user->pw_name;
        return getenv("USER") && *getenv("USER") ? getenv("USER") : "unknown";
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *message, void *opaque) {
        operate_state_t *state = opaque;
        (void)rk;
        if (message->err) {
                state->failed++;
                fprintf(stderr, "backlogd: %.*s: not delivered: %s\n", (int)message->key_len,
                        (const char *)message->key, rd_kafka_err2str(message->err));
        } else {
                state->sent++;
        }
}

static bool open_all(operate_state_t *state, char *errstr, size_t errstr_size) {
        const char *overrides[] = {"partitioner", "murmur2_random", "enable.idempotence", "true", NULL};
        char subject[512];
        rd_kafka_conf_t *conf;
        if (!(state->topic = bl_config_topic_name(state->config, "tasks.control")) ||
            !bl_contract_source_open(&state->contracts, state->config, errstr, errstr_size))
                return false;
        if (!(state->schema = bl_schemas_newest(state->contracts.schemas, "task_event"))) {
                bl_err_set(errstr, errstr_size, BL_ERR_NOT_FOUND, "the contracts have no task_event");
                return false;
        }
        snprintf(subject, sizeof(subject), "%s-value", state->topic);
        if (bl_schemas_publish(state->contracts.schemas, state->schema, subject, &state->schema_id, errstr,
                               errstr_size) ||
            !(state->decoder = bl_decoder_new_from_config(state->contracts.schemas, state->config, errstr,
                                                          errstr_size)) ||
            !(conf = bl_kafka_conf_new(state->config, overrides, errstr, errstr_size)))
                return false;
        rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
        rd_kafka_conf_set_opaque(conf, state);
        state->producer = bl_kafka_new_from_conf(RD_KAFKA_PRODUCER, conf, errstr, errstr_size);
        return state->producer != NULL;
}

static void close_all(operate_state_t *state) {
        if (state->producer)
                rd_kafka_destroy(state->producer);
        bl_decoder_destroy(state->decoder);
        bl_contract_source_close(&state->contracts);
        free(state->topic);
}

static json_t *event_for(const operate_opts_t *opts, const char *task_id, const char *actor) {
        struct timespec now;
        char event_id[96];
        clock_gettime(CLOCK_REALTIME, &now);
        int64_t now_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
        snprintf(event_id, sizeof(event_id), "%s-%lld-%ld-%d", opts->command, (long long)now_ms, (long)now.tv_nsec,
                 (int)getpid());
        json_t *event = json_pack("{s:s, s:s, s:s, s:I, s:s, s:s}", "event_id", event_id, "task_id", task_id,
                                  "event_type", opts->event_type, "occurred_at", (json_int_t)now_ms, "producer",
                                  "backlogd-operator", "actor", actor);
        if (event && opts->reason)
                json_object_set_new(event, "reason", json_string(opts->reason));
        if (event && opts->has_business_value)
                json_object_set_new(event, "business_value", json_real(opts->business_value));
        if (event && opts->has_deadline)
                json_object_set_new(event, "deadline", json_integer((json_int_t)opts->deadline_ms));
        return event;
}

/* Encodes, checks and enqueues the event for @p task_id; false (reported) when it cannot go out. */
static bool send_one(operate_state_t *state, const operate_opts_t *opts, const char *task_id, const char *actor) {
        char errstr[512];
        unsigned char *value = NULL;
        size_t value_size;
        bl_task_event_t decoded;
        bl_record_error_t failure;
        rd_kafka_resp_err_t err;
        json_t *event = event_for(opts, task_id, actor);
        bool ok = false;
        if (!event || bl_encode_json(state->schema, state->schema_id, event, &value, &value_size, errstr,
                                     sizeof(errstr))) {
                fprintf(stderr, "backlogd %s: %s: %s\n", opts->command, task_id, event ? errstr : "out of memory");
                goto done;
        }
        if (!bl_decoder_decode(state->decoder, task_id, strlen(task_id), value, value_size, &decoded, &failure)) {
                fprintf(stderr, "backlogd %s: %s: %s: %s\n", opts->command, task_id, bl_reason_name(failure.reason),
                        failure.detail);
                goto done;
        }
        while ((err = rd_kafka_producev(state->producer, RD_KAFKA_V_TOPIC(state->topic),
                                        RD_KAFKA_V_KEY(task_id, strlen(task_id)), RD_KAFKA_V_VALUE(value, value_size),
                                        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE), RD_KAFKA_V_END)) ==
               RD_KAFKA_RESP_ERR__QUEUE_FULL)
                rd_kafka_poll(state->producer, 100);
        if (err) {
                fprintf(stderr, "backlogd %s: %s: %s\n", opts->command, task_id, rd_kafka_err2str(err));
                goto done;
        }
        value = NULL; /* librdkafka frees it */
        ok = true;
done:
        free(value);
        json_decref(event);
        return ok;
}

static int operate(int argc, char **argv, const char *command, const char *event_type) {
        operate_opts_t opts = {.command = command, .event_type = event_type};
        operate_state_t state = {0};
        char errstr[512];
        int status = parse_options(argc, argv, &opts);
        if (status)
                return status < 0 ? BL_EXIT_OK : status;
        bl_config_t *config = bl_cmd_load_config(opts.config_path);
        status = BL_EXIT_FAILURE;
        if (!config)
                goto done;
        state.config = config;
        if (!open_all(&state, errstr, sizeof(errstr))) {
                fprintf(stderr, "backlogd %s: %s\n", command, errstr);
                goto done;
        }
        const char *actor = actor_of(&opts, config);
        for (int i = 0; i < opts.task_count; i++)
                state.failed += !send_one(&state, &opts, opts.task_ids[i], actor);
        rd_kafka_flush(state.producer, 30000);
        state.failed += (unsigned long)rd_kafka_outq_len(state.producer);
        fprintf(stderr, "backlogd %s: %lu %s event(s) sent to %s by %s, %lu failed\n", command, state.sent, event_type,
                state.topic, actor, state.failed);
        status = state.failed ? BL_EXIT_FAILURE : BL_EXIT_OK;
done:
        close_all(&state);
        bl_config_destroy(config);
        return status;
}

int bl_cmd_approve(int argc, char **argv) {
        return operate(argc, argv, "approve", "APPROVED");
}

int bl_cmd_reject(int argc, char **argv) {
        return operate(argc, argv, "reject", "REJECTED");
}

int bl_cmd_cancel(int argc, char **argv) {
        return operate(argc, argv, "cancel", "CANCELLED");
}

int bl_cmd_prioritize(int argc, char **argv) {
        return operate(argc, argv, "prioritize", "UPDATED");
}
