/*
 * agent.c: the demo's decision agent on loopback (agent.h says what it
 * answers). libmicrohttpd serves it, a thread per connection, so that an
 * answer held back past the request's timeout_ms keeps only its own
 * connection waiting, as a slow agent would: backlogd gives up on it and
 * the policy decides, and the late answer goes nowhere.
 *
 * A request's body is read whole (at most REQUEST_MAX_BYTES, else 413),
 * parsed with jansson and answered with schemas/agent/response-v1.json's
 * shape. The heuristic is the reference agent's in small
 * (examples/agents/reference_agent.py): deadlines first, stale input held
 * back. Nothing of it is shared with backlogd's side: backlogd sees only
 * HTTP, as with any agent.
 *
 * Threads: libmicrohttpd's (one per connection) run the handler; the
 * counters are atomics that the demo's main thread reads.
 */
#include "demo/agent.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "demo/scenario.h"

#if MHD_VERSION >= 0x00097002
typedef enum MHD_Result mhd_result_t;
#else
typedef int mhd_result_t;
#endif

#define REQUEST_MAX_BYTES (4 * 1024 * 1024)
#define SLOW_EXTRA_MS 150            /* a slow answer comes this long after timeout_ms */
#define HOLD_MS 300                  /* a hold of stale input */
#define STALE_AFTER_MS (5 * 3600000) /* input older than this is stale */
#define SPELL_PERIOD 97              /* consultations between two spells of failure */
#define SPELL_LENGTH 6               /* failures in a row in a spell */
#define JSON_CONTENT_TYPE "application/json"

struct bl_demo_agent_s {
        struct MHD_Daemon *daemon;
        uint64_t seed;
        bool steady;  /* bl_demo_agent_start_steady: every answer valid, after delay_ms */
        int delay_ms;
        int port;
        _Atomic uint64_t requests, answered, slow, failed, garbage, bad_request, ordered, holds, baits;
};

/* A request's body as it arrives. */
typedef struct upload_s {
        char *body;
        size_t size;
        bool too_large;
} upload_t;

/* How one consultation goes. */
typedef enum { FATE_ANSWER, FATE_SLOW, FATE_FAIL, FATE_GARBAGE } fate_t;

/* ---- the fate of a consultation ----------------------------------------------------------- */

/* The consultation's number: the digits that end its id ("backlogd-0-17": 17); -1 when it has none. */
static int64_t consultation_number(const char *id) {
        size_t length = strlen(id), start = length;
        while (start > 0 && id[start - 1] >= '0' && id[start - 1] <= '9')
                start--;
        if (start == length || length - start > 15)
                return -1;
        return strtoll(id + start, NULL, 10);
}

static double unit_of(uint64_t hash) {
        return (double)(hash >> 11) / 9007199254740992.0; /* 2^53 */
}

static fate_t fate_of(const bl_demo_agent_t *agent, const char *consultation_id) {
        if (agent->steady)
                return FATE_ANSWER;
        int64_t number = consultation_number(consultation_id);
        int64_t offset = SPELL_PERIOD - 5 - (int64_t)(agent->seed % 3); /* the first spell from the 5th to 7th */
        double draw = unit_of(bl_scenario_hash(agent->seed, consultation_id, 1));
        if (number >= 0 && (number + offset) % SPELL_PERIOD < SPELL_LENGTH)
                return FATE_FAIL;
        if (draw < 0.08)
                return FATE_SLOW;
        if (draw < 0.12)
                return FATE_FAIL;
        return draw < 0.15 ? FATE_GARBAGE : FATE_ANSWER;
}

/* ---- the answer -------------------------------------------------------------------------- */

typedef struct candidate_s {
        const char *task_id;
        int64_t deadline_ms;      /* INT64_MAX: none */
        int64_t data_ready_at_ms; /* -1: unknown */
        double score;
} candidate_t;

static int64_t integer_or(const json_t *value, int64_t otherwise) {
        return json_is_integer(value) ? (int64_t)json_integer_value(value) : otherwise;
}

/* Deadline nearest first (none last), then the policy's score, then task_id: a total order. */
static int by_urgency(const void *a, const void *b) {
        const candidate_t *x = a, *y = b;
        if (x->deadline_ms != y->deadline_ms)
                return x->deadline_ms < y->deadline_ms ? -1 : 1;
        if (x->score != y->score)
                return x->score > y->score ? -1 : 1;
        return strcmp(x->task_id, y->task_id);
}

typedef struct limits_s {
        int64_t sent_at_ms, timeout_ms, hold_max_ms, deadline_margin_ms;
        double max_held_share;
} limits_t;

static limits_t limits_of(const json_t *request) {
        const json_t *limits = json_object_get(request, "limits");
        limits_t out = {
                .sent_at_ms = integer_or(json_object_get(request, "sent_at_ms"), 0),
                .timeout_ms = integer_or(json_object_get(limits, "timeout_ms"), 500),
                .hold_max_ms = integer_or(json_object_get(limits, "hold_max_ms"), 0),
                .deadline_margin_ms = integer_or(json_object_get(limits, "deadline_margin_ms"), 0),
                .max_held_share = json_number_value(json_object_get(limits, "max_held_share")),
        };
        return out;
}

/* Whether a hold of @p candidate is one backlogd accepts: stale input, ending before its deadline's margin. */
static bool worth_holding(const candidate_t *candidate, const limits_t *limits) {
        return candidate->data_ready_at_ms >= 0 && limits->sent_at_ms - candidate->data_ready_at_ms > STALE_AFTER_MS &&
               HOLD_MS <= limits->hold_max_ms &&
               (candidate->deadline_ms == INT64_MAX ||
                limits->sent_at_ms + HOLD_MS <= candidate->deadline_ms - limits->deadline_margin_ms);
}

static bool append_entry(json_t *list, json_t *entry) {
        return entry && !json_array_append_new(list, entry);
}

/* The order and the holds of @p candidates (sorted), and in one answer of 10 a part to refuse. */
static bool fill_answer(bl_demo_agent_t *agent, const char *consultation_id, candidate_t *candidates, size_t count,
                        const limits_t *limits, json_t *order, json_t *holds) {
        size_t held_max = (size_t)(limits->max_held_share * (double)count), held = 0;
        uint64_t bait = bl_scenario_hash(agent->seed, consultation_id, 2);
        bool baited = !agent->steady && unit_of(bait) < 0.10;
        /* the bait: a hold past hold_max_ms of the last candidate (left out of the order), or a task not sent */
        bool hold_bait = baited && (bait & 1) && count >= 2 && limits->hold_max_ms < 86400000 - 1000;
        bool ok = true;
        for (size_t i = 0; ok && i < count - (hold_bait ? 1 : 0); i++) {
                const candidate_t *c = &candidates[i];
                if (held < held_max && worth_holding(c, limits)) {
                        ok = append_entry(holds, json_pack("{s:s, s:I, s:s}", "task_id", c->task_id, "hold_ms",
                                                           (json_int_t)HOLD_MS, "reason",
                                                           "input data over 5 hours old: wait for a refresh"));
                        held++;
                        atomic_fetch_add(&agent->holds, 1);
                        continue;
                }
                ok = append_entry(order, json_pack("{s:s, s:s}", "task_id", c->task_id, "reason",
                                                   c->deadline_ms == INT64_MAX ? "no deadline: by score"
                                                                               : "deadline nearest first"));
                atomic_fetch_add(&agent->ordered, 1);
        }
        if (ok && baited)
                atomic_fetch_add(&agent->baits, 1);
        if (ok && hold_bait)
                ok = append_entry(holds, json_pack("{s:s, s:I, s:s}", "task_id", candidates[count - 1].task_id,
                                                   "hold_ms", (json_int_t)(limits->hold_max_ms + 1000), "reason",
                                                   "a hold longer than hold_max_ms, on purpose"));
        else if (ok && baited)
                ok = append_entry(order, json_pack("{s:s, s:s}", "task_id", "demo-never-sent", "reason",
                                                   "a task it was not sent, on purpose"));
        return ok;
}

/* The answer to @p request as JSON text (malloc'd), or NULL when the request lacks what it needs. */
static char *answer_text(bl_demo_agent_t *agent, const json_t *request, const char *consultation_id) {
        const json_t *list = json_object_get(request, "candidates");
        size_t count = json_array_size(list);
        limits_t limits = limits_of(request);
        candidate_t *candidates = calloc(count ? count : 1, sizeof(*candidates));
        json_t *order = json_array(), *holds = json_array(), *answer = NULL;
        char *text = NULL;
        for (size_t i = 0; candidates && i < count; i++) {
                const json_t *entry = json_array_get(list, i);
                candidates[i] = (candidate_t){json_string_value(json_object_get(entry, "task_id")),
                                              integer_or(json_object_get(entry, "deadline_ms"), INT64_MAX),
                                              integer_or(json_object_get(entry, "data_ready_at_ms"), -1),
                                              json_number_value(json_object_get(entry, "score"))};
                if (!candidates[i].task_id)
                        goto done;
        }
        if (!candidates || !order || !holds)
                goto done;
        if (count > 1)
                qsort(candidates, count, sizeof(*candidates), by_urgency);
        if (!fill_answer(agent, consultation_id, candidates, count, &limits, order, holds))
                goto done;
        answer = json_pack("{s:s, s:s, s:{s:s, s:s}, s:O, s:O, s:[]}", "schema", "backlogd.agent.response.v1",
                           "consultation_id", consultation_id, "agent", "name", BL_DEMO_AGENT_NAME, "version",
                           BL_DEMO_AGENT_VERSION, "order", order, "holds", holds, "escalations");
        text = answer ? json_dumps(answer, JSON_COMPACT) : NULL;
done:
        json_decref(answer);
        json_decref(order);
        json_decref(holds);
        free(candidates);
        return text;
}

/* ---- HTTP ------------------------------------------------------------------------------- */

static mhd_result_t reply(struct MHD_Connection *connection, unsigned int status, const char *content_type,
                          char *body) {
        struct MHD_Response *response =
                MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE); /* takes body */
        if (!response) {
                free(body);
                return MHD_NO;
        }
        MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
        mhd_result_t result = MHD_queue_response(connection, status, response);
        MHD_destroy_response(response);
        return result;
}

static mhd_result_t reply_text(struct MHD_Connection *connection, unsigned int status, const char *text) {
        char *body = strdup(text);
        return body ? reply(connection, status, "text/plain", body) : MHD_NO;
}

static void sleep_ms(int64_t ms) {
        struct timespec pause = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
        while (nanosleep(&pause, &pause) && pause.tv_nsec >= 0)
                ;
}

/* One whole request: its fate, then the answer that fate gives. */
static mhd_result_t decide(bl_demo_agent_t *agent, struct MHD_Connection *connection, const upload_t *upload) {
        json_t *request = upload->too_large ? NULL : json_loadb(upload->body, upload->size, 0, NULL);
        const char *id = json_string_value(json_object_get(request, "consultation_id"));
        mhd_result_t result;
        char *text;
        if (!id) {
                atomic_fetch_add(&agent->bad_request, 1);
                json_decref(request);
                return reply_text(connection, upload->too_large ? 413 : MHD_HTTP_BAD_REQUEST,
                                  "a consultation of backlogd.agent.request.v1 expected\n");
        }
        fate_t fate = fate_of(agent, id);
        switch (fate) {
        case FATE_FAIL:
                atomic_fetch_add(&agent->failed, 1);
                result = reply_text(connection, MHD_HTTP_INTERNAL_SERVER_ERROR, "the demo agent failed, on purpose\n");
                break;
        case FATE_GARBAGE:
                atomic_fetch_add(&agent->garbage, 1);
                result = reply_text(connection, MHD_HTTP_OK, "{\"schema\": \"backlogd.agent.resp");
                break;
        case FATE_SLOW:
                atomic_fetch_add(&agent->slow, 1);
                sleep_ms(limits_of(request).timeout_ms + SLOW_EXTRA_MS);
                __attribute__((fallthrough)); /* the answer, too late */
        case FATE_ANSWER:
                if (agent->delay_ms > 0)
                        sleep_ms(agent->delay_ms);
                text = answer_text(agent, request, id);
                if (!text) {
                        atomic_fetch_add(&agent->bad_request, 1);
                        result = reply_text(connection, MHD_HTTP_BAD_REQUEST, "candidates without task_id\n");
                        break;
                }
                if (fate == FATE_ANSWER)
                        atomic_fetch_add(&agent->answered, 1);
                result = reply(connection, MHD_HTTP_OK, JSON_CONTENT_TYPE, text);
                break;
        }
        json_decref(request);
        return result;
}

static bool read_upload(upload_t *upload, const char *data, size_t size) {
        if (upload->too_large || upload->size + size > REQUEST_MAX_BYTES) {
                upload->too_large = true;
                return true; /* read on, answer 413 at the end */
        }
        char *body = realloc(upload->body, upload->size + size + 1);
        if (!body)
                return false;
        memcpy(body + upload->size, data, size);
        upload->size += size;
        body[upload->size] = '\0';
        upload->body = body;
        return true;
}

static mhd_result_t handle(void *opaque, struct MHD_Connection *connection, const char *url, const char *method,
                           const char *version, const char *upload_data, size_t *upload_data_size, void **context) {
        bl_demo_agent_t *agent = opaque;
        upload_t *upload = *context;
        (void)version;
        if (!upload) {
                if (strcmp(method, MHD_HTTP_METHOD_POST) || strcmp(url, "/decide"))
                        return reply_text(connection, MHD_HTTP_NOT_FOUND, "POST /decide\n");
                if (!(upload = calloc(1, sizeof(*upload))))
                        return MHD_NO;
                *context = upload;
                atomic_fetch_add(&agent->requests, 1);
                return MHD_YES;
        }
        if (*upload_data_size) {
                bool ok = read_upload(upload, upload_data, *upload_data_size);
                *upload_data_size = 0;
                return ok ? MHD_YES : MHD_NO;
        }
        return decide(agent, connection, upload);
}

static void completed(void *opaque, struct MHD_Connection *connection, void **context,
                      enum MHD_RequestTerminationCode code) {
        upload_t *upload = *context;
        (void)opaque;
        (void)connection;
        (void)code;
        if (upload)
                free(upload->body);
        free(upload);
        *context = NULL;
}

static int listening_port(struct MHD_Daemon *daemon) {
        const union MHD_DaemonInfo *info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_LISTEN_FD);
        struct sockaddr_in address;
        socklen_t length = sizeof(address);
        if (!info || getsockname(info->listen_fd, (struct sockaddr *)&address, &length) != 0)
                return -1;
        return ntohs(address.sin_port);
}

static bl_demo_agent_t *start(uint64_t seed, bool steady, int delay_ms, char *errstr, size_t errstr_size) {
        bl_demo_agent_t *agent = calloc(1, sizeof(*agent));
        struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = 0};
        if (!agent) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        agent->seed = seed;
        agent->steady = steady;
        agent->delay_ms = delay_ms;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        agent->daemon = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL,
                                         NULL, handle, agent, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&address,
                                         MHD_OPTION_NOTIFY_COMPLETED, completed, agent, MHD_OPTION_END);
        if (!agent->daemon || (agent->port = listening_port(agent->daemon)) < 0) {
                snprintf(errstr, errstr_size, "the demo's agent cannot listen on 127.0.0.1");
                bl_demo_agent_stop(agent);
                return NULL;
        }
        return agent;
}

bl_demo_agent_t *bl_demo_agent_start(uint64_t seed, char *errstr, size_t errstr_size) {
        return start(seed, false, 0, errstr, errstr_size);
}

bl_demo_agent_t *bl_demo_agent_start_steady(int delay_ms, char *errstr, size_t errstr_size) {
        return start(0, true, delay_ms, errstr, errstr_size);
}

void bl_demo_agent_stop(bl_demo_agent_t *agent) {
        if (!agent)
                return;
        if (agent->daemon)
                MHD_stop_daemon(agent->daemon);
        free(agent);
}

int bl_demo_agent_port(const bl_demo_agent_t *agent) {
        return agent->port;
}

void bl_demo_agent_stats(const bl_demo_agent_t *agent, bl_demo_agent_stats_t *stats) {
        memset(stats, 0, sizeof(*stats));
        if (!agent)
                return;
        stats->requests = atomic_load(&agent->requests);
        stats->answered = atomic_load(&agent->answered);
        stats->slow = atomic_load(&agent->slow);
        stats->failed = atomic_load(&agent->failed);
        stats->garbage = atomic_load(&agent->garbage);
        stats->bad_request = atomic_load(&agent->bad_request);
        stats->ordered = atomic_load(&agent->ordered);
        stats->holds = atomic_load(&agent->holds);
        stats->baits = atomic_load(&agent->baits);
}
