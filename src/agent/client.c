/*
 * client.c: the agents' consultations on one thread and one curl multi
 * handle (client.h).
 *
 * A consultation moves through three lists, each change under the one
 * mutex, the network never under it:
 *
 *   consult (caller) --> queued --worker: easy handle added--> running
 *   running --curl done, classified, decoded (worker)--> done --poll (caller)--> the caller's
 *
 * The caller's side only encodes, copies and links: the worker does every
 * libcurl call, so one thread owns the multi handle and its connection
 * cache (keep-alive to each agent). curl_multi_wakeup ends the worker's
 * curl_multi_poll as soon as a consultation is queued or the client stops;
 * curl_multi_poll otherwise wakes for libcurl's own timers, so a
 * consultation's timeout ends it on time with nothing else happening.
 *
 * Invariants: outstanding (queued + running + done) never exceeds
 * max_outstanding; a response body is held only up to the consultation's
 * max_response_bytes; the bearer token lives in the consultation's header
 * line only, wiped when it is freed, and is never in a reason or a log line
 * (reasons name the result, the HTTP status and libcurl's error text, which
 * never carries request headers).
 *
 * Threads: consult, poll and outstanding from the owner's thread; stats from
 * any; the worker.
 */
#include "agent/client.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "agent/answer.h"
#include "agent/request.h"
#include "base/log.h"
#include "ops/http_client.h"

#define DEFAULT_MAX_OUTSTANDING 64
#define FIRST_BODY_CAPACITY 4096
#define POLL_MS 1000

static const char *const result_names[BL_AGENT_RESULT__COUNT] = {
        "answered", "timeout",   "http_error", "redirect",  "tls",      "unreachable",
        "too_large", "malformed", "invalid",    "cancelled", "internal",
};

typedef struct consultation_s {
        struct consultation_s *next;
        bl_agent_outcome_t *outcome; /* domain, id, candidate ids, sent_at: filled by consult */
        char *request_body;
        size_t request_length;
        char *url;
        char *ca_location;
        char *certificate_location;
        char *key_location;
        char *authorization; /* "Authorization: Bearer ...", NULL without a token; wiped when freed */
        long timeout_ms;
        size_t max_response_bytes;
        int64_t queued_at_ms; /* monotonic */
        CURL *curl;           /* the worker's, while running */
        struct curl_slist *headers;
        char *response;
        size_t response_length;
        size_t response_capacity;
        bool response_too_large;
        bool response_out_of_memory;
        char curl_error[CURL_ERROR_SIZE];
} consultation_t;

typedef struct consultation_list_s {
        consultation_t *head, *tail;
} consultation_list_t;

struct bl_agent_client_s {
        CURLM *multi; /* the worker's only */
        pthread_t thread;
        bool thread_started;
        atomic_bool stopping;
        pthread_mutex_t lock;
        consultation_list_t queued;  /* under lock */
        consultation_list_t done;    /* under lock */
        consultation_list_t running; /* the worker's only */
        size_t outstanding;          /* under lock */
        size_t max_outstanding;
        bl_agent_client_stats_t stats; /* under lock */
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result = CURLE_FAILED_INIT;

static void init_curl_once(void) {
        curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int64_t monotonic_ms(void) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

const char *bl_agent_result_name(bl_agent_result_t result) {
        return (unsigned)result < BL_AGENT_RESULT__COUNT ? result_names[result] : "?";
}

bool bl_agent_result_is_failure(bl_agent_result_t result) {
        return result != BL_AGENT_ANSWERED && result != BL_AGENT_CANCELLED;
}

/* ---- lists ------------------------------------------------------------------------------ */

static void list_push(consultation_list_t *list, consultation_t *consultation) {
        consultation->next = NULL;
        if (list->tail)
                list->tail->next = consultation;
        else
                list->head = consultation;
        list->tail = consultation;
}

static consultation_t *list_pop(consultation_list_t *list) {
        consultation_t *first = list->head;
        if (first) {
                list->head = first->next;
                if (!list->head)
                        list->tail = NULL;
                first->next = NULL;
        }
        return first;
}

static void list_remove(consultation_list_t *list, consultation_t *consultation) {
        consultation_t **link = &list->head, *previous = NULL;
        while (*link && *link != consultation) {
                previous = *link;
                link = &(*link)->next;
        }
        if (!*link)
                return;
        *link = consultation->next;
        if (list->tail == consultation)
                list->tail = previous;
        consultation->next = NULL;
}

/* ---- one consultation ------------------------------------------------------------------- */

void bl_agent_outcome_destroy(bl_agent_outcome_t *outcome) {
        if (!outcome)
                return;
        for (size_t i = 0; i < outcome->candidate_count; i++)
                free(outcome->candidate_ids[i]);
        free(outcome->candidate_ids);
        free(outcome->domain);
        free(outcome->consultation_id);
        bl_agent_answer_clear(&outcome->answer);
        free(outcome);
}

static void wipe_and_free(char *secret) {
        if (secret) {
                explicit_bzero(secret, strlen(secret));
                free(secret);
        }
}

/* Everything of a consultation but its outcome: what a finished one no longer needs, the token first. */
static void release_transfer(consultation_t *consultation) {
        wipe_and_free(consultation->authorization);
        consultation->authorization = NULL;
        if (consultation->curl)
                curl_easy_cleanup(consultation->curl);
        consultation->curl = NULL;
        curl_slist_free_all(consultation->headers);
        consultation->headers = NULL;
        free(consultation->request_body);
        free(consultation->url);
        free(consultation->ca_location);
        free(consultation->certificate_location);
        free(consultation->key_location);
        free(consultation->response);
        consultation->request_body = consultation->url = consultation->response = NULL;
        consultation->ca_location = consultation->certificate_location = consultation->key_location = NULL;
}

static void consultation_destroy(consultation_t *consultation) {
        if (!consultation)
                return;
        release_transfer(consultation);
        bl_agent_outcome_destroy(consultation->outcome);
        free(consultation);
}

static bool copy_optional(const char *text, char **out) {
        *out = NULL;
        return !text || (*out = strdup(text)) != NULL;
}

/* The outcome's fixed part: what the request said, copied. False when out of memory. */
static bool prepare_outcome(bl_agent_outcome_t *outcome, const bl_agent_request_t *request) {
        outcome->domain = strdup(request->domain);
        outcome->consultation_id = strdup(request->consultation_id);
        outcome->sent_at_ms = request->now_ms;
        outcome->candidate_ids = calloc(request->candidate_count ? request->candidate_count : 1, sizeof(char *));
        if (!outcome->domain || !outcome->consultation_id || !outcome->candidate_ids)
                return false;
        for (; outcome->candidate_count < request->candidate_count; outcome->candidate_count++)
                if (!(outcome->candidate_ids[outcome->candidate_count] =
                              strdup(request->candidates[outcome->candidate_count].task_id)))
                        return false;
        return true;
}

/* "Authorization: Bearer <token>" from the variable @p token_env names, into *out (NULL without token_env). */
static bl_err_t authorization_of(const char *token_env, char **out, char *errstr, size_t errstr_size) {
        static const char prefix[] = "Authorization: Bearer ";
        *out = NULL;
        if (!token_env)
                return BL_OK;
        const char *token = getenv(token_env);
        if (!token || !*token)
                return bl_err_set(errstr, errstr_size, BL_ERR_CONFIG,
                                  "the agent's token_env %s is not set in the environment", token_env);
        if (strpbrk(token, "\r\n"))
                return bl_err_set(errstr, errstr_size, BL_ERR_CONFIG,
                                  "the token in %s holds a line break: not a bearer token", token_env);
        size_t size = sizeof(prefix) + strlen(token);
        if (!(*out = malloc(size)))
                return bl_err_set(errstr, errstr_size, BL_ERR_NOMEM, "out of memory");
        snprintf(*out, size, "%s%s", prefix, token);
        return BL_OK;
}

static consultation_t *consultation_new(const bl_agent_policy_t *agent, const bl_agent_request_t *request,
                                        char *errstr, size_t errstr_size, bl_err_t *err) {
        consultation_t *consultation = calloc(1, sizeof(*consultation));
        *err = BL_ERR_NOMEM;
        if (!consultation || !(consultation->outcome = calloc(1, sizeof(*consultation->outcome)))) {
                consultation_destroy(consultation);
                bl_err_set(errstr, errstr_size, BL_ERR_NOMEM, "out of memory");
                return NULL;
        }
        *err = bl_agent_request_encode(request, agent, &consultation->request_body, &consultation->request_length,
                                       errstr, errstr_size);
        if (*err != BL_OK) {
                consultation_destroy(consultation);
                return NULL;
        }
        if ((*err = authorization_of(agent->token_env, &consultation->authorization, errstr, errstr_size)) !=
            BL_OK) {
                consultation_destroy(consultation);
                return NULL;
        }
        consultation->timeout_ms = (long)agent->timeout_ms;
        consultation->max_response_bytes = (size_t)agent->max_response_bytes;
        if (!prepare_outcome(consultation->outcome, request) || !copy_optional(agent->url, &consultation->url) ||
            !copy_optional(agent->ca_location, &consultation->ca_location) ||
            !copy_optional(agent->certificate_location, &consultation->certificate_location) ||
            !copy_optional(agent->key_location, &consultation->key_location)) {
                *err = bl_err_set(errstr, errstr_size, BL_ERR_NOMEM, "out of memory");
                consultation_destroy(consultation);
                return NULL;
        }
        *err = BL_OK;
        return consultation;
}

/* ---- the easy handle (worker) --------------------------------------------------------------- */

static size_t collect_response(char *data, size_t size, size_t count, void *opaque) {
        consultation_t *consultation = opaque;
        size_t bytes = size * count;
        if (bytes > consultation->max_response_bytes - consultation->response_length) {
                consultation->response_too_large = true;
                return 0; /* libcurl stops with CURLE_WRITE_ERROR */
        }
        if (consultation->response_length + bytes + 1 > consultation->response_capacity) {
                size_t capacity = consultation->response_capacity ? consultation->response_capacity
                                                                  : FIRST_BODY_CAPACITY;
                while (capacity < consultation->response_length + bytes + 1)
                        capacity *= 2;
                char *grown = realloc(consultation->response, capacity);
                if (!grown) {
                        consultation->response_out_of_memory = true;
                        return 0;
                }
                consultation->response = grown;
                consultation->response_capacity = capacity;
        }
        memcpy(consultation->response + consultation->response_length, data, bytes);
        consultation->response_length += bytes;
        consultation->response[consultation->response_length] = '\0';
        return bytes;
}

static struct curl_slist *build_headers(const consultation_t *consultation) {
        const char *lines[] = {"Content-Type: application/json", "Accept: application/json",
                               "Expect:", /* no 100-continue round trip */
                               consultation->authorization};
        return bl_http_client_headers(lines, sizeof(lines) / sizeof(lines[0]));
}

/* Every option of one consultation: the registry's transport and TLS settings, with this agent's bounds. */
static CURLcode set_options(consultation_t *consultation) {
        CURL *curl = consultation->curl;
        CURLcode rc = bl_http_client_transport(curl, (long)consultation->timeout_ms,
                                               (curl_off_t)consultation->max_response_bytes, consultation->curl_error);
        if (!rc)
                rc = curl_easy_setopt(curl, CURLOPT_URL, consultation->url);
        if (!rc)
                rc = curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect_response);
        if (!rc)
                rc = curl_easy_setopt(curl, CURLOPT_WRITEDATA, consultation);
        if (!rc)
                rc = curl_easy_setopt(curl, CURLOPT_HTTPHEADER, consultation->headers);
        if (!rc)
                rc = curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)consultation->request_length);
        if (!rc) /* the body is the consultation's and outlives the transfer */
                rc = curl_easy_setopt(curl, CURLOPT_POSTFIELDS, consultation->request_body);
        if (!rc)
                rc = curl_easy_setopt(curl, CURLOPT_PRIVATE, consultation);
        if (!rc)
                rc = curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
        if (!rc)
                rc = curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
        if (!rc && consultation->ca_location)
                rc = curl_easy_setopt(curl, CURLOPT_CAINFO, consultation->ca_location);
        if (!rc && consultation->certificate_location)
                rc = curl_easy_setopt(curl, CURLOPT_SSLCERT, consultation->certificate_location);
        if (!rc && consultation->key_location)
                rc = curl_easy_setopt(curl, CURLOPT_SSLKEY, consultation->key_location);
        return rc;
}

/* ---- classifying the end -------------------------------------------------------------------- */

static bool is_tls_failure(CURLcode rc) {
        switch (rc) {
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CERTPROBLEM:
        case CURLE_SSL_CIPHER:
        case CURLE_SSL_CACERT_BADFILE:
        case CURLE_SSL_ENGINE_NOTFOUND:
        case CURLE_SSL_ENGINE_SETFAILED:
        case CURLE_SSL_ENGINE_INITFAILED:
        case CURLE_SSL_SHUTDOWN_FAILED:
        case CURLE_SSL_CRL_BADFILE:
        case CURLE_SSL_ISSUER_ERROR:
        case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
        case CURLE_SSL_INVALIDCERTSTATUS:
        case CURLE_USE_SSL_FAILED: return true;
        default: return false;
        }
}

static bl_agent_result_t status_result(long status) {
        if (status >= 300 && status < 400)
                return BL_AGENT_REDIRECT;
        return BL_AGENT_HTTP_ERROR;
}

/* The result of a transfer that libcurl ended with @p rc, the reason into the outcome. */
static bl_agent_result_t transport_result(consultation_t *consultation, CURLcode rc) {
        bl_agent_outcome_t *outcome = consultation->outcome;
        const char *detail = consultation->curl_error[0] ? consultation->curl_error : curl_easy_strerror(rc);
        long status = outcome->http_status;
        if (rc == CURLE_OUT_OF_MEMORY || consultation->response_out_of_memory) {
                snprintf(outcome->reason, sizeof(outcome->reason), "out of memory reading the answer");
                return BL_AGENT_INTERNAL;
        }
        if (rc == CURLE_FILESIZE_EXCEEDED || consultation->response_too_large) {
                if (status && (status < 200 || status >= 300)) { /* the status said it all already */
                        snprintf(outcome->reason, sizeof(outcome->reason), "HTTP %ld (a body over %zu bytes)",
                                 status, consultation->max_response_bytes);
                        return status_result(status);
                }
                snprintf(outcome->reason, sizeof(outcome->reason), "HTTP %ld: an answer over %zu bytes", status,
                         consultation->max_response_bytes);
                return BL_AGENT_TOO_LARGE;
        }
        if (rc == CURLE_OPERATION_TIMEDOUT) {
                snprintf(outcome->reason, sizeof(outcome->reason), "no answer within %ld ms", consultation->timeout_ms);
                return BL_AGENT_TIMEOUT;
        }
        snprintf(outcome->reason, sizeof(outcome->reason), "%s", detail);
        if (is_tls_failure(rc))
                return BL_AGENT_TLS;
        return BL_AGENT_UNREACHABLE;
}

/* The result of a transfer that completed: the status, then the body. */
static bl_agent_result_t answer_result(consultation_t *consultation) {
        bl_agent_outcome_t *outcome = consultation->outcome;
        long status = outcome->http_status;
        if (status < 200 || status >= 300) {
                snprintf(outcome->reason, sizeof(outcome->reason), "HTTP %ld%s", status,
                         status >= 300 && status < 400 ? " (redirects are not followed)" : "");
                return status_result(status);
        }
        char detail[200];
        bl_err_t err = bl_agent_answer_decode(consultation->response ? consultation->response : "",
                                              consultation->response_length, outcome->consultation_id,
                                              &outcome->answer, detail, sizeof(detail));
        if (err == BL_OK)
                return BL_AGENT_ANSWERED;
        snprintf(outcome->reason, sizeof(outcome->reason), "%s", detail);
        return err == BL_ERR_REFUSED ? BL_AGENT_MALFORMED : err == BL_ERR_NOMEM ? BL_AGENT_INTERNAL : BL_AGENT_INVALID;
}

/* Hands the outcome over to the done list (worker); the rest of the consultation goes. */
static void finish(bl_agent_client_t *client, consultation_t *consultation, bl_agent_result_t result) {
        bl_agent_outcome_t *outcome = consultation->outcome;
        outcome->result = result;
        outcome->latency_ms = monotonic_ms() - consultation->queued_at_ms;
        if (result != BL_AGENT_ANSWERED)
                bl_log_debug("agent", "%s consultation %s: %s after %lld ms: %s", outcome->domain,
                             outcome->consultation_id, bl_agent_result_name(result), (long long)outcome->latency_ms,
                             outcome->reason);
        if (consultation->curl)
                curl_multi_remove_handle(client->multi, consultation->curl);
        release_transfer(consultation); /* a finished consultation keeps only its outcome */
        pthread_mutex_lock(&client->lock);
        client->stats.results[result]++;
        list_push(&client->done, consultation);
        pthread_mutex_unlock(&client->lock);
}

/* ---- the worker --------------------------------------------------------------------------- */

static void start(bl_agent_client_t *client, consultation_t *consultation) {
        consultation->curl = curl_easy_init();
        consultation->headers = consultation->curl ? build_headers(consultation) : NULL;
        CURLcode rc = consultation->headers ? set_options(consultation) : CURLE_OUT_OF_MEMORY;
        if (!rc && curl_multi_add_handle(client->multi, consultation->curl) != CURLM_OK)
                rc = CURLE_FAILED_INIT;
        if (rc) {
                curl_easy_cleanup(consultation->curl); /* never added: finish must not remove it */
                consultation->curl = NULL;
                snprintf(consultation->outcome->reason, sizeof(consultation->outcome->reason),
                         "libcurl refuses the consultation: %s", curl_easy_strerror(rc));
                finish(client, consultation, BL_AGENT_INTERNAL);
                return;
        }
        list_push(&client->running, consultation);
}

static void start_queued(bl_agent_client_t *client) {
        consultation_list_t taken;
        pthread_mutex_lock(&client->lock);
        taken = client->queued;
        client->queued = (consultation_list_t){NULL, NULL};
        pthread_mutex_unlock(&client->lock);
        for (consultation_t *consultation; (consultation = list_pop(&taken));)
                start(client, consultation);
}

static void collect_finished(bl_agent_client_t *client) {
        CURLMsg *message;
        int left;
        while ((message = curl_multi_info_read(client->multi, &left))) {
                consultation_t *consultation = NULL;
                if (message->msg != CURLMSG_DONE)
                        continue;
                curl_easy_getinfo(message->easy_handle, CURLINFO_PRIVATE, (char **)&consultation);
                CURLcode rc = message->data.result;
                curl_easy_getinfo(consultation->curl, CURLINFO_RESPONSE_CODE, &consultation->outcome->http_status);
                list_remove(&client->running, consultation);
                finish(client, consultation, rc == CURLE_OK ? answer_result(consultation)
                                                            : transport_result(consultation, rc));
        }
}

static void cancel_running(bl_agent_client_t *client) {
        for (consultation_t *consultation; (consultation = list_pop(&client->running));) {
                snprintf(consultation->outcome->reason, sizeof(consultation->outcome->reason),
                         "cancelled: the client stopped");
                finish(client, consultation, BL_AGENT_CANCELLED);
        }
}

static void *worker_main(void *opaque) {
        bl_agent_client_t *client = opaque;
        while (!atomic_load(&client->stopping)) {
                int running = 0;
                start_queued(client);
                curl_multi_perform(client->multi, &running);
                collect_finished(client);
                curl_multi_poll(client->multi, NULL, 0, POLL_MS, NULL);
        }
        cancel_running(client);
        return NULL;
}

/* ---- life cycle ---------------------------------------------------------------------------- */

static void free_list(consultation_list_t *list) {
        for (consultation_t *consultation; (consultation = list_pop(list));)
                consultation_destroy(consultation);
}

void bl_agent_client_destroy(bl_agent_client_t *client) {
        if (!client)
                return;
        if (client->thread_started) {
                atomic_store(&client->stopping, true);
                curl_multi_wakeup(client->multi);
                pthread_join(client->thread, NULL);
        }
        free_list(&client->queued);
        free_list(&client->running);
        free_list(&client->done);
        if (client->multi)
                curl_multi_cleanup(client->multi);
        pthread_mutex_destroy(&client->lock);
        free(client);
}

bl_agent_client_t *bl_agent_client_new(size_t max_outstanding, char *errstr, size_t errstr_size) {
        pthread_once(&curl_once, init_curl_once);
        if (curl_init_result != CURLE_OK) {
                bl_err_set(errstr, errstr_size, BL_ERR_UNSUPPORTED, "cannot initialise libcurl: %s",
                           curl_easy_strerror(curl_init_result));
                return NULL;
        }
        bl_agent_client_t *client = calloc(1, sizeof(*client));
        if (!client) {
                bl_err_set(errstr, errstr_size, BL_ERR_NOMEM, "out of memory");
                return NULL;
        }
        pthread_mutex_init(&client->lock, NULL);
        atomic_init(&client->stopping, false);
        client->max_outstanding = max_outstanding ? max_outstanding : DEFAULT_MAX_OUTSTANDING;
        if (!(client->multi = curl_multi_init())) {
                bl_err_set(errstr, errstr_size, BL_ERR_NOMEM, "cannot make a curl multi handle");
                bl_agent_client_destroy(client);
                return NULL;
        }
        int rc = pthread_create(&client->thread, NULL, worker_main, client);
        if (rc != 0) {
                bl_err_set(errstr, errstr_size, BL_ERR_NOMEM, "cannot start the agents' thread: %s", strerror(rc));
                bl_agent_client_destroy(client);
                return NULL;
        }
        client->thread_started = true;
        return client;
}

/* ---- the owner's calls ------------------------------------------------------------------------ */

bl_err_t bl_agent_client_consult(bl_agent_client_t *client, const bl_agent_policy_t *agent,
                                 const bl_agent_request_t *request, char *errstr, size_t errstr_size) {
        bl_err_t err;
        pthread_mutex_lock(&client->lock);
        bool full = client->outstanding >= client->max_outstanding;
        if (full)
                client->stats.refused++;
        pthread_mutex_unlock(&client->lock);
        if (full) /* checked first: a full client costs the caller no encoding */
                return bl_err_set(errstr, errstr_size, BL_ERR_UNAVAILABLE,
                                  "%zu consultations outstanding already: the policy decides", client->max_outstanding);
        consultation_t *consultation = consultation_new(agent, request, errstr, errstr_size, &err);
        pthread_mutex_lock(&client->lock);
        if (consultation) {
                consultation->queued_at_ms = monotonic_ms();
                list_push(&client->queued, consultation);
                client->outstanding++;
                client->stats.consulted++;
        } else {
                client->stats.refused++;
        }
        pthread_mutex_unlock(&client->lock);
        if (consultation)
                curl_multi_wakeup(client->multi);
        return err;
}

bl_agent_outcome_t *bl_agent_client_poll(bl_agent_client_t *client) {
        bl_agent_outcome_t *outcome = NULL;
        pthread_mutex_lock(&client->lock);
        consultation_t *finished = list_pop(&client->done);
        if (finished) {
                outcome = finished->outcome;
                finished->outcome = NULL;
                client->outstanding--;
        }
        pthread_mutex_unlock(&client->lock);
        consultation_destroy(finished);
        return outcome;
}

size_t bl_agent_client_outstanding(bl_agent_client_t *client) {
        pthread_mutex_lock(&client->lock);
        size_t outstanding = client->outstanding;
        pthread_mutex_unlock(&client->lock);
        return outstanding;
}

bl_agent_client_stats_t bl_agent_client_stats(bl_agent_client_t *client) {
        pthread_mutex_lock(&client->lock);
        bl_agent_client_stats_t stats = client->stats;
        pthread_mutex_unlock(&client->lock);
        return stats;
}
