/*
 * fetcher.c: one worker thread that fetches writer schemas for the threads
 * that must not wait (fetcher.h).
 *
 * A small table of wanted ids, in the order first asked, under one mutex:
 *
 *   (absent) --ask--> QUEUED --worker takes it--> FETCHING --answer--> ANSWERED
 *   ANSWERED --ask--> (absent): the schema or the failure handed to the asker
 *   ANSWERED not found --ask--> the same answer, until NOT_FOUND_KEEP_MS pass
 *
 * The worker takes the oldest QUEUED id, drops the lock, makes the request
 * with the registry handle only it uses, and stores the answer. Parsing is
 * left to the asker, whose schema cache (contract/schemas.c) is its own:
 * the cache is never shared, so the hot path (an id already cached) never
 * comes here and takes no lock.
 *
 * Invariants: at most one request per id at a time, whoever asks; the table
 * holds at most MAX_WANTS ids (answers nobody collects make room after a while); a failure is handed to one asker and then
 * forgotten, so the next ask is a new request (the pipeline's back-off
 * spaces them). Shut-down sets the cancel flag the registry handle watches
 * (registry.c), so a request to a registry that hangs ends within its
 * progress callback's period, not registry.timeout_ms.
 *
 * Threads: bl_fetcher_get and bl_fetcher_wait from any thread; the worker.
 */
#include "contract/fetcher.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"

#define MAX_WANTS 256
#define NOT_FOUND_KEEP_MS 10000
#define ERRSTR_MAX 256

typedef enum { WANT_QUEUED, WANT_FETCHING, WANT_ANSWERED } want_state_t;

typedef struct want_s {
        int32_t id;
        want_state_t state;
        bl_err_t err;       /* when ANSWERED */
        char *schema_json;  /* when ANSWERED with BL_OK */
        char errstr[ERRSTR_MAX];
        int64_t answered_ms;
} want_t;

struct bl_fetcher_s {
        bl_registry_t *registry; /* the worker's only */
        pthread_t thread;
        bool thread_started;
        atomic_bool stopping;    /* also the registry handle's cancel flag */
        pthread_mutex_t lock;
        pthread_cond_t work;     /* an id queued, or stopping */
        pthread_cond_t answered; /* an answer stored */
        want_t wants[MAX_WANTS];
        size_t count;
        bl_fetcher_stats_t stats;
};

static int64_t monotonic_ms(void) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static want_t *find_want(bl_fetcher_t *fetcher, int32_t id) {
        for (size_t i = 0; i < fetcher->count; i++)
                if (fetcher->wants[i].id == id)
                        return &fetcher->wants[i];
        return NULL;
}

static void remove_want(bl_fetcher_t *fetcher, want_t *want) {
        size_t index = (size_t)(want - fetcher->wants);
        free(want->schema_json);
        memmove(want, want + 1, (fetcher->count - index - 1) * sizeof(*want));
        fetcher->count--;
}

static bool is_kept_answer(const want_t *want) {
        return want->state == WANT_ANSWERED && want->err == BL_ERR_NOT_FOUND;
}

/*
 * Room for one more id: answers older than NOT_FOUND_KEEP_MS go first (kept "not found" ones, and those
 * nobody came back for: a partition revoked while it waited), then the oldest "not found".
 */
static bool make_room(bl_fetcher_t *fetcher, int64_t now) {
        for (size_t i = fetcher->count; i-- > 0;)
                if (fetcher->wants[i].state == WANT_ANSWERED &&
                    now - fetcher->wants[i].answered_ms >= NOT_FOUND_KEEP_MS)
                        remove_want(fetcher, &fetcher->wants[i]);
        for (size_t i = 0; fetcher->count == MAX_WANTS && i < fetcher->count; i++)
                if (is_kept_answer(&fetcher->wants[i]))
                        remove_want(fetcher, &fetcher->wants[i]);
        return fetcher->count < MAX_WANTS;
}

/* ---- the worker ---------------------------------------------------------------- */

static want_t *next_queued(bl_fetcher_t *fetcher) {
        for (size_t i = 0; i < fetcher->count; i++)
                if (fetcher->wants[i].state == WANT_QUEUED)
                        return &fetcher->wants[i];
        return NULL;
}

static void log_answer(int32_t id, bl_err_t err, const char *errstr, int64_t took_ms) {
        if (err == BL_OK)
                bl_log_info("registry", "schema %" PRId32 " fetched in %" PRId64 " ms", id, took_ms);
        else if (err == BL_ERR_NOT_FOUND)
                bl_log_info("registry", "schema %" PRId32 " is unknown to the registry: %s", id, errstr);
        else
                bl_log_warn("registry",
                            "schema %" PRId32 " not fetched after %" PRId64 " ms: %s; the records that need it wait",
                            id, took_ms, errstr);
}

/* Stores the answer for @p id (under the lock). The id is there: only its asker removes it, once answered. */
static void store_answer(bl_fetcher_t *fetcher, int32_t id, bl_err_t err, char *schema_json, const char *errstr) {
        want_t *want = find_want(fetcher, id);
        want->state = WANT_ANSWERED;
        want->err = err;
        want->schema_json = schema_json;
        snprintf(want->errstr, sizeof(want->errstr), "%s", errstr);
        want->answered_ms = monotonic_ms();
        if (err == BL_OK)
                fetcher->stats.fetched++;
        else if (err == BL_ERR_NOT_FOUND)
                fetcher->stats.not_found++;
        else
                fetcher->stats.failed++;
        pthread_cond_broadcast(&fetcher->answered);
}

static void *worker_main(void *opaque) {
        bl_fetcher_t *fetcher = opaque;
        pthread_mutex_lock(&fetcher->lock);
        while (!atomic_load(&fetcher->stopping)) {
                want_t *want = next_queued(fetcher);
                if (!want) {
                        pthread_cond_wait(&fetcher->work, &fetcher->lock);
                        continue;
                }
                int32_t id = want->id;
                char errstr[ERRSTR_MAX] = "", *schema_json = NULL;
                want->state = WANT_FETCHING;
                pthread_mutex_unlock(&fetcher->lock);
                int64_t started = monotonic_ms();
                bl_log_debug("registry", "schema %" PRId32 ": asking the registry", id);
                bl_err_t err = bl_registry_get_schema(fetcher->registry, id, &schema_json, errstr, sizeof(errstr));
                if (!atomic_load(&fetcher->stopping)) /* else cancelled: nobody waits for it any more */
                        log_answer(id, err, errstr, monotonic_ms() - started);
                pthread_mutex_lock(&fetcher->lock);
                store_answer(fetcher, id, err, schema_json, errstr);
        }
        pthread_mutex_unlock(&fetcher->lock);
        return NULL;
}

/* ---- life cycle ------------------------------------------------------------------ */

void bl_fetcher_destroy(bl_fetcher_t *fetcher) {
        if (!fetcher)
                return;
        if (fetcher->thread_started) {
                pthread_mutex_lock(&fetcher->lock);
                atomic_store(&fetcher->stopping, true);
                pthread_cond_broadcast(&fetcher->work);
                pthread_mutex_unlock(&fetcher->lock);
                pthread_join(fetcher->thread, NULL);
        }
        for (size_t i = 0; i < fetcher->count; i++)
                free(fetcher->wants[i].schema_json);
        pthread_cond_destroy(&fetcher->answered);
        pthread_cond_destroy(&fetcher->work);
        pthread_mutex_destroy(&fetcher->lock);
        bl_registry_destroy(fetcher->registry);
        free(fetcher);
}

bl_fetcher_t *bl_fetcher_new(bl_registry_t *registry, char *errstr, size_t errstr_size) {
        bl_fetcher_t *fetcher = calloc(1, sizeof(*fetcher));
        pthread_condattr_t monotonic;
        int rc;
        if (!fetcher) {
                bl_registry_destroy(registry);
                bl_err_set(errstr, errstr_size, BL_ERR_NOMEM, "out of memory");
                return NULL;
        }
        fetcher->registry = registry;
        atomic_init(&fetcher->stopping, false);
        pthread_mutex_init(&fetcher->lock, NULL);
        pthread_cond_init(&fetcher->work, NULL);
        pthread_condattr_init(&monotonic);
        pthread_condattr_setclock(&monotonic, CLOCK_MONOTONIC);
        pthread_cond_init(&fetcher->answered, &monotonic);
        pthread_condattr_destroy(&monotonic);
        bl_registry_set_cancel(registry, &fetcher->stopping);
        if ((rc = pthread_create(&fetcher->thread, NULL, worker_main, fetcher)) != 0) {
                bl_err_set(errstr, errstr_size, BL_ERR_NOMEM, "cannot start the schema fetcher's thread: %s",
                           strerror(rc));
                bl_fetcher_destroy(fetcher);
                return NULL;
        }
        fetcher->thread_started = true;
        return fetcher;
}

/* ---- asking ------------------------------------------------------------------------ */

/* The answer of @p want, handed to the asker (under the lock). */
static bl_err_t collect(bl_fetcher_t *fetcher, want_t *want, char **schema_json, char *errstr, size_t errstr_size) {
        bl_err_t err = want->err;
        bl_err_set(errstr, errstr_size, err, "%s", want->errstr);
        if (is_kept_answer(want))
                return err;
        *schema_json = want->schema_json;
        want->schema_json = NULL;
        remove_want(fetcher, want);
        return err;
}

static bl_err_t queue(bl_fetcher_t *fetcher, int32_t id, char *errstr, size_t errstr_size) {
        if (!make_room(fetcher, monotonic_ms()))
                return bl_err_set(errstr, errstr_size, BL_ERR_UNAVAILABLE,
                                  "schema %" PRId32 ": %d schema ids are being fetched already", id, MAX_WANTS);
        fetcher->wants[fetcher->count++] = (want_t){.id = id, .state = WANT_QUEUED};
        pthread_cond_signal(&fetcher->work);
        return bl_err_set(errstr, errstr_size, BL_ERR_PENDING, "schema %" PRId32 " pending: asked of the registry",
                          id);
}

bl_err_t bl_fetcher_get(bl_fetcher_t *fetcher, int32_t id, char **schema_json, char *errstr, size_t errstr_size) {
        bl_err_t err;
        *schema_json = NULL;
        pthread_mutex_lock(&fetcher->lock);
        want_t *want = find_want(fetcher, id);
        if (want && is_kept_answer(want) && monotonic_ms() - want->answered_ms >= NOT_FOUND_KEEP_MS) {
                remove_want(fetcher, want);
                want = NULL;
        }
        if (!want)
                err = queue(fetcher, id, errstr, errstr_size);
        else if (want->state == WANT_ANSWERED)
                err = collect(fetcher, want, schema_json, errstr, errstr_size);
        else
                err = bl_err_set(errstr, errstr_size, BL_ERR_PENDING, "schema %" PRId32 " pending: %s", id,
                                 want->state == WANT_QUEUED ? "queued for the registry"
                                                            : "waiting for the registry's answer");
        pthread_mutex_unlock(&fetcher->lock);
        return err;
}

bool bl_fetcher_wait(bl_fetcher_t *fetcher, int32_t id, int timeout_ms) {
        struct timespec deadline;
        bool answered;
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_sec += timeout_ms / 1000;
        deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) {
                deadline.tv_sec++;
                deadline.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&fetcher->lock);
        for (bool timed_out = false;;) {
                want_t *want = find_want(fetcher, id);
                answered = !want || want->state == WANT_ANSWERED;
                if (answered || timed_out)
                        break;
                timed_out = pthread_cond_timedwait(&fetcher->answered, &fetcher->lock, &deadline) != 0;
        }
        pthread_mutex_unlock(&fetcher->lock);
        return answered;
}

bl_fetcher_stats_t bl_fetcher_stats(bl_fetcher_t *fetcher) {
        pthread_mutex_lock(&fetcher->lock);
        bl_fetcher_stats_t stats = fetcher->stats;
        pthread_mutex_unlock(&fetcher->lock);
        return stats;
}
