/*
 * history.c: the fold behind `backlogd replay --verify`: tasks rebuilt from
 * their transitions, checked link by link, compared with backlog.state.
 *
 * Each task id seen in either topic gets one entry, found through a chained
 * hash table (FNV-1a, power-of-two buckets, grown at load 1) and listed in
 * the order first seen. An entry keeps only what the next step needs: the
 * last seq and to_state, the item of the last transition (the previous one
 * is freed as the next arrives, after its payload moved over, since only
 * the transition that took the submission carries the payload), the chain errors
 * found, and the latest snapshot or tombstone of backlog.state. Memory is
 * therefore two items per task, whatever the length of the histories.
 *
 * Verify walks the entries sorted by task_id, so its report does not depend
 * on the order in which partitions were read. Items are compared field by
 * field over the whole BacklogItem contract; sets (dependencies, dependents,
 * labels) are compared without regard to order. Single-threaded.
 */
#include "core/history.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WHAT_MAX_BYTES 512
#define VALUE_MAX_BYTES 1024

typedef struct chain_error_s {
        int64_t seq;
        int32_t partition;
        int64_t offset;
        char *what;
} chain_error_t;

typedef struct error_list_s {
        chain_error_t *items;
        size_t count, capacity;
} error_list_t;

typedef enum { STORED_NONE, STORED_ITEM, STORED_TOMBSTONE, STORED_UNREADABLE } stored_kind_t;

typedef struct task_s {
        char *task_id;
        struct task_s *bucket_next;

        /* from backlog.transitions */
        size_t transitions;
        int32_t partition;   /* of its transitions; -1 before the first */
        int64_t last_seq;
        bl_state_t last_to;
        bl_item_t *rebuilt;  /* item of the last transition that had one, payload carried */
        error_list_t errors;

        /* from backlog.state */
        stored_kind_t stored_kind;
        bl_item_t *stored;
        int32_t stored_partition;
        int64_t stored_offset; /* of an unreadable snapshot */
        char *stored_why;
} task_t;

struct bl_history_s {
        task_t **buckets;
        size_t bucket_count; /* a power of two */
        task_t **tasks;      /* in the order first seen */
        size_t task_count, task_capacity;
        error_list_t keyless; /* unreadable transitions without a key */
};

/* ---- entries ----------------------------------------------------------------- */

static uint64_t hash_id(const char *text) {
        uint64_t hash = 1469598103934665603ULL;
        for (; *text; text++)
                hash = (hash ^ (unsigned char)*text) * 1099511628211ULL;
        return hash;
}

static void errors_clear(error_list_t *list) {
        for (size_t i = 0; i < list->count; i++)
                free(list->items[i].what);
        free(list->items);
        memset(list, 0, sizeof(*list));
}

static bl_err_t errors_add(error_list_t *list, int64_t seq, int32_t partition, int64_t offset, const char *fmt, ...)
        __attribute__((format(printf, 5, 6)));

static bl_err_t errors_add(error_list_t *list, int64_t seq, int32_t partition, int64_t offset, const char *fmt, ...) {
        char what[WHAT_MAX_BYTES];
        va_list ap;
        if (list->count == list->capacity) {
                size_t capacity = list->capacity ? list->capacity * 2 : 4;
                chain_error_t *items = realloc(list->items, capacity * sizeof(*items));
                if (!items)
                        return BL_ERR_NOMEM;
                list->items = items;
                list->capacity = capacity;
        }
        va_start(ap, fmt);
        vsnprintf(what, sizeof(what), fmt, ap);
        va_end(ap);
        chain_error_t *error = &list->items[list->count];
        if (!(error->what = strdup(what)))
                return BL_ERR_NOMEM;
        error->seq = seq;
        error->partition = partition;
        error->offset = offset;
        list->count++;
        return BL_OK;
}

static void task_destroy(task_t *task) {
        if (!task)
                return;
        free(task->task_id);
        bl_item_destroy(task->rebuilt);
        bl_item_destroy(task->stored);
        free(task->stored_why);
        errors_clear(&task->errors);
        free(task);
}

bl_history_t *bl_history_new(void) {
        bl_history_t *history = calloc(1, sizeof(*history));
        if (!history)
                return NULL;
        history->bucket_count = 64;
        history->buckets = calloc(history->bucket_count, sizeof(*history->buckets));
        if (!history->buckets) {
                bl_history_destroy(history);
                return NULL;
        }
        return history;
}

void bl_history_destroy(bl_history_t *history) {
        if (!history)
                return;
        for (size_t i = 0; i < history->task_count; i++)
                task_destroy(history->tasks[i]);
        free(history->tasks);
        free(history->buckets);
        errors_clear(&history->keyless);
        free(history);
}

static task_t *find(const bl_history_t *history, const char *task_id) {
        task_t *task = history->buckets[hash_id(task_id) & (history->bucket_count - 1)];
        while (task && strcmp(task->task_id, task_id))
                task = task->bucket_next;
        return task;
}

static bool grow_buckets(bl_history_t *history) {
        size_t count = history->bucket_count * 2;
        task_t **buckets = calloc(count, sizeof(*buckets));
        if (!buckets)
                return false;
        for (size_t i = 0; i < history->task_count; i++) {
                task_t *task = history->tasks[i];
                size_t slot = hash_id(task->task_id) & (count - 1);
                task->bucket_next = buckets[slot];
                buckets[slot] = task;
        }
        free(history->buckets);
        history->buckets = buckets;
        history->bucket_count = count;
        return true;
}

/* The entry of @p task_id, made when new; NULL when out of memory. */
static task_t *find_or_add(bl_history_t *history, const char *task_id) {
        task_t *task = find(history, task_id);
        size_t slot;
        if (task)
                return task;
        if (history->task_count == history->task_capacity) {
                size_t capacity = history->task_capacity ? history->task_capacity * 2 : 64;
                task_t **tasks = realloc(history->tasks, capacity * sizeof(*tasks));
                if (!tasks)
                        return NULL;
                history->tasks = tasks;
                history->task_capacity = capacity;
        }
        if (history->task_count >= history->bucket_count && !grow_buckets(history))
                return NULL;
        if (!(task = calloc(1, sizeof(*task))) || !(task->task_id = strdup(task_id))) {
                free(task);
                return NULL;
        }
        task->partition = -1;
        task->stored_partition = -1;
        task->stored_offset = -1;
        slot = hash_id(task_id) & (history->bucket_count - 1);
        task->bucket_next = history->buckets[slot];
        history->buckets[slot] = task;
        history->tasks[history->task_count++] = task;
        return task;
}

size_t bl_history_task_count(const bl_history_t *history) {
        return history->task_count;
}

const bl_item_t *bl_history_rebuilt(const bl_history_t *history, const char *task_id) {
        const task_t *task = find(history, task_id);
        return task ? task->rebuilt : NULL;
}

/* ---- the fold ------------------------------------------------------------------ */

/* The links between the previous transition of @p task and @p t. */
static bl_err_t check_link(task_t *task, const bl_transition_t *t, int32_t partition, int64_t offset) {
        bl_err_t err = BL_OK;
        if (task->transitions == 0) {
                if (t->seq != 1)
                        err = errors_add(&task->errors, t->seq, partition, offset,
                                         "history starts at seq %" PRId64 ", not 1", t->seq);
                if (!err && t->has_from)
                        err = errors_add(&task->errors, t->seq, partition, offset,
                                         "seq %" PRId64 " is the first transition but has from_state %s", t->seq,
                                         bl_state_name(t->from));
                return err;
        }
        if (t->seq != task->last_seq + 1)
                err = t->seq > task->last_seq
                              ? errors_add(&task->errors, t->seq, partition, offset,
                                           "seq %" PRId64 " follows seq %" PRId64 ": %" PRId64 " missing", t->seq,
                                           task->last_seq, t->seq - task->last_seq - 1)
                              : errors_add(&task->errors, t->seq, partition, offset,
                                           "seq %" PRId64 " follows seq %" PRId64 ": repeated or out of order",
                                           t->seq, task->last_seq);
        if (err)
                return err;
        if (!t->has_from)
                return errors_add(&task->errors, t->seq, partition, offset, "seq %" PRId64 " has no from_state",
                                  t->seq);
        if (t->from != task->last_to)
                return errors_add(&task->errors, t->seq, partition, offset,
                                  "seq %" PRId64 " has from_state %s, but the transition before it went to %s", t->seq,
                                  bl_state_name(t->from), bl_state_name(task->last_to));
        return BL_OK;
}

/* The item embedded in @p t: there, this task, in to_state, with the transition's seq and attempt. */
static bl_err_t check_item(task_t *task, const bl_transition_t *t, const bl_item_t *item, int32_t partition,
                           int64_t offset) {
        bl_err_t err = BL_OK;
        if (!item)
                return errors_add(&task->errors, t->seq, partition, offset, "seq %" PRId64 " carries no item", t->seq);
        if (strcmp(item->task_id, t->task_id))
                err = errors_add(&task->errors, t->seq, partition, offset, "seq %" PRId64 " carries the item of %s",
                                 t->seq, item->task_id);
        if (!err && item->state != t->to)
                err = errors_add(&task->errors, t->seq, partition, offset,
                                 "seq %" PRId64 " goes to %s, but its item is in %s", t->seq, bl_state_name(t->to),
                                 bl_state_name(item->state));
        if (!err && item->seq != t->seq)
                err = errors_add(&task->errors, t->seq, partition, offset,
                                 "seq %" PRId64 " carries an item with seq %" PRId64, t->seq, item->seq);
        if (!err && item->attempt != t->attempt)
                err = errors_add(&task->errors, t->seq, partition, offset,
                                 "seq %" PRId64 " has attempt %d, but its item has attempt %d", t->seq,
                                 (int)t->attempt, (int)item->attempt);
        return err;
}

/* Whether @p t begins a new life of a purged task: seq 1, no from_state, after a terminal or placeholder item. */
static bool starts_anew(const task_t *task, const bl_transition_t *t) {
        if (task->transitions == 0 || t->seq != 1 || t->has_from)
                return false;
        return bl_state_is_terminal(task->last_to) || (task->rebuilt && task->rebuilt->placeholder);
}

/*
 * The item of the newest transition becomes the rebuilt one; the payload
 * moves over when it has none, except onto a note on a task that had ended
 * already: the backlog let go of an ended task's payload (bl_item_trim), so
 * such a note, and the snapshot written with it, rightly carry none.
 */
static void take_item(task_t *task, bl_item_t *item) {
        if (!item)
                return;
        bool trimmed = task->rebuilt && bl_state_is_terminal(task->rebuilt->state) && bl_state_is_terminal(item->state);
        if (task->rebuilt && task->rebuilt->has_payload && !item->has_payload && !trimmed) {
                free(item->payload);
                item->payload = task->rebuilt->payload;
                item->payload_size = task->rebuilt->payload_size;
                item->has_payload = true;
                task->rebuilt->payload = NULL;
                task->rebuilt->has_payload = false;
        }
        bl_item_destroy(task->rebuilt);
        task->rebuilt = item;
}

bl_err_t bl_history_fold(bl_history_t *history, const bl_transition_t *transition, bl_item_t *item_after,
                         int32_t partition, int64_t offset) {
        task_t *task = find_or_add(history, transition->task_id);
        bl_err_t err = BL_OK;
        if (!task) {
                bl_item_destroy(item_after);
                return BL_ERR_NOMEM;
        }
        if (task->partition >= 0 && task->partition != partition)
                err = errors_add(&task->errors, transition->seq, partition, offset,
                                 "seq %" PRId64 " is in partition %d, the transitions before it in %d",
                                 transition->seq, (int)partition, (int)task->partition);
        if (starts_anew(task, transition)) {
                bl_item_destroy(task->rebuilt);
                task->rebuilt = NULL;
                task->transitions = 0;
        }
        if (!err)
                err = check_link(task, transition, partition, offset);
        if (!err && transition->has_from && transition->from != transition->to &&
            !bl_state_transition_legal(transition->from, transition->to))
                err = errors_add(&task->errors, transition->seq, partition, offset,
                                 "seq %" PRId64 ": %s -> %s is not a legal transition", transition->seq,
                                 bl_state_name(transition->from), bl_state_name(transition->to));
        if (!err)
                err = check_item(task, transition, item_after, partition, offset);
        if (task->partition < 0)
                task->partition = partition;
        task->transitions++;
        task->last_seq = transition->seq;
        task->last_to = transition->to;
        take_item(task, item_after);
        return err;
}

bl_err_t bl_history_fold_unreadable(bl_history_t *history, const char *task_id, int32_t partition, int64_t offset,
                                    const char *why) {
        task_t *task;
        if (!task_id || !*task_id)
                return errors_add(&history->keyless, -1, partition, offset, "a record without a key cannot be read: %s",
                                  why);
        if (!(task = find_or_add(history, task_id)))
                return BL_ERR_NOMEM;
        return errors_add(&task->errors, -1, partition, offset, "a transition cannot be read: %s", why);
}

bl_err_t bl_history_store(bl_history_t *history, const char *task_id, bl_item_t *item, int32_t partition) {
        task_t *task = find_or_add(history, task_id);
        if (!task) {
                bl_item_destroy(item);
                return BL_ERR_NOMEM;
        }
        bl_item_destroy(task->stored);
        free(task->stored_why);
        task->stored_why = NULL;
        task->stored = item;
        task->stored_kind = item ? STORED_ITEM : STORED_TOMBSTONE;
        task->stored_partition = partition;
        return BL_OK;
}

bl_err_t bl_history_store_unreadable(bl_history_t *history, const char *task_id, int32_t partition, int64_t offset,
                                     const char *why) {
        task_t *task = find_or_add(history, task_id);
        if (!task)
                return BL_ERR_NOMEM;
        bl_item_destroy(task->stored);
        free(task->stored_why);
        task->stored = NULL;
        task->stored_kind = STORED_UNREADABLE;
        task->stored_partition = partition;
        task->stored_offset = offset;
        task->stored_why = strdup(why);
        return task->stored_why ? BL_OK : BL_ERR_NOMEM;
}

/* ---- values as text ------------------------------------------------------------ */

const char *bl_history_format_time(int64_t ms, char *out, size_t out_size) {
        struct tm utc;
        time_t seconds;
        int64_t millis;
        size_t used;
        if (ms == BL_NO_TIME) {
                snprintf(out, out_size, "none");
                return out;
        }
        seconds = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
        millis = ms - (int64_t)seconds * 1000;
        if (!gmtime_r(&seconds, &utc) || !(used = strftime(out, out_size, "%Y-%m-%dT%H:%M:%S", &utc))) {
                snprintf(out, out_size, "%" PRId64, ms);
                return out;
        }
        snprintf(out + used, out_size - used, ".%03dZ", (int)millis);
        return out;
}

static int compare_text(const void *a, const void *b) {
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The strings of @p vec sorted, borrowed; NULL (with *ok false) when out of memory. */
static char **sorted_copy(const bl_strvec_t *vec, bool *ok) {
        char **copy;
        if (vec->count == 0)
                return NULL;
        if (!(copy = malloc(vec->count * sizeof(*copy)))) {
                *ok = false;
                return NULL;
        }
        memcpy(copy, vec->items, vec->count * sizeof(*copy));
        qsort(copy, vec->count, sizeof(*copy), compare_text);
        return copy;
}

/* Appends to @p out, ending with "..." when it does not fit. */
static void append(char *out, size_t out_size, const char *text) {
        size_t used = strlen(out), length = strlen(text);
        if (used + length < out_size) {
                memcpy(out + used, text, length + 1);
        } else if (out_size > 4) {
                snprintf(out + used, out_size - used, "%s", text);
                memcpy(out + out_size - 4, "...", 4);
        }
}

/* "[a, b]", sorted. */
static void format_set(char **sorted, size_t count, char *out, size_t out_size) {
        snprintf(out, out_size, "[");
        for (size_t i = 0; i < count; i++) {
                if (i)
                        append(out, out_size, ", ");
                append(out, out_size, sorted[i]);
        }
        append(out, out_size, "]");
}

/* A label as the diff sees it. */
typedef struct {
        const char *key, *value;
} label_ref_t;

/* @p labels as pairs sorted by key; NULL when there are none, or when out of memory (*ok false then). */
static label_ref_t *sorted_labels(const bl_labels_t *labels, bool *ok) {
        label_ref_t *pairs;
        size_t count = 0;
        if (labels->count == 0)
                return NULL;
        if (!(pairs = malloc(labels->count * sizeof(*pairs)))) {
                *ok = false;
                return NULL;
        }
        for (const char *key = bl_labels_next(labels, NULL, &pairs[0].value); key;
             key = bl_labels_next(labels, key, &pairs[count].value))
                pairs[count++].key = key;
        for (size_t i = 1; i < count; i++) /* insertion sort: labels are few */
                for (size_t j = i; j > 0 && strcmp(pairs[j - 1].key, pairs[j].key) > 0; j--) {
                        label_ref_t swap = pairs[j];
                        pairs[j] = pairs[j - 1];
                        pairs[j - 1] = swap;
                }
        return pairs;
}

static void format_labels(const label_ref_t *pairs, size_t count, char *out, size_t out_size) {
        snprintf(out, out_size, "{");
        for (size_t i = 0; i < count; i++) {
                if (i)
                        append(out, out_size, ", ");
                append(out, out_size, pairs[i].key);
                append(out, out_size, "=");
                append(out, out_size, pairs[i].value);
        }
        append(out, out_size, "}");
}

static uint64_t fnv1a(const void *data, size_t size) {
        const unsigned char *bytes = data;
        uint64_t hash = 1469598103934665603ULL;
        for (size_t i = 0; i < size; i++)
                hash = (hash ^ bytes[i]) * 1099511628211ULL;
        return hash;
}

static void format_payload(const bl_item_t *item, char *out, size_t out_size) {
        if (!item->has_payload)
                snprintf(out, out_size, "none");
        else
                snprintf(out, out_size, "%" PRIu32 " bytes (fnv1a %016" PRIx64 ")", item->payload_size,
                         fnv1a(item->payload, item->payload_size));
}

static void format_error(const bl_item_t *item, char *out, size_t out_size) {
        const bl_item_cold_t *cold = bl_item_cold(item);
        if (!cold->has_last_error)
                snprintf(out, out_size, "none");
        else
                snprintf(out, out_size, "%s: %s (%s)", cold->error_code ? cold->error_code : "",
                         cold->error_message ? cold->error_message : "",
                         cold->error_retryable ? "retryable" : "not retryable");
}

/* ---- comparing two items ------------------------------------------------------- */

typedef struct differ_s {
        bl_history_field_cb *cb;
        void *opaque;
        int count;
        bool ok;
} differ_t;

static void differs(differ_t *d, const char *field, const char *stored, const char *rebuilt) {
        d->count++;
        d->cb(field, stored, rebuilt, d->opaque);
}

static bool same_text(const char *a, const char *b) {
        return (!a && !b) || (a && b && !strcmp(a, b));
}

static void diff_text(differ_t *d, const char *field, const char *stored, const char *rebuilt) {
        if (!same_text(stored, rebuilt))
                differs(d, field, stored ? stored : "none", rebuilt ? rebuilt : "none");
}

static void diff_long(differ_t *d, const char *field, int64_t stored, int64_t rebuilt) {
        char a[32], b[32];
        if (stored == rebuilt)
                return;
        snprintf(a, sizeof(a), "%" PRId64, stored);
        snprintf(b, sizeof(b), "%" PRId64, rebuilt);
        differs(d, field, a, b);
}

static void diff_double(differ_t *d, const char *field, double stored, double rebuilt) {
        char a[40], b[40];
        if (memcmp(&stored, &rebuilt, sizeof(double)) == 0 || stored == rebuilt)
                return;
        snprintf(a, sizeof(a), "%.17g", stored);
        snprintf(b, sizeof(b), "%.17g", rebuilt);
        differs(d, field, a, b);
}

static void diff_bool(differ_t *d, const char *field, bool stored, bool rebuilt) {
        if (stored != rebuilt)
                differs(d, field, stored ? "true" : "false", rebuilt ? "true" : "false");
}

static void diff_time(differ_t *d, const char *field, int64_t stored, int64_t rebuilt) {
        char a[48], b[48];
        if (stored != rebuilt)
                differs(d, field, bl_history_format_time(stored, a, sizeof(a)),
                        bl_history_format_time(rebuilt, b, sizeof(b)));
}

static void diff_max_attempts(differ_t *d, int32_t stored, int32_t rebuilt) {
        char a[32] = "none", b[32] = "none";
        if (stored == rebuilt)
                return;
        if (stored)
                snprintf(a, sizeof(a), "%d", (int)stored);
        if (rebuilt)
                snprintf(b, sizeof(b), "%d", (int)rebuilt);
        differs(d, "max_attempts", a, b);
}

static void diff_set(differ_t *d, const char *field, const bl_strvec_t *stored, const bl_strvec_t *rebuilt) {
        char **a = sorted_copy(stored, &d->ok), **b = sorted_copy(rebuilt, &d->ok);
        bool same = stored->count == rebuilt->count;
        for (size_t i = 0; same && d->ok && i < stored->count; i++)
                same = !strcmp(a[i], b[i]);
        if (!same && d->ok) {
                char text_a[VALUE_MAX_BYTES], text_b[VALUE_MAX_BYTES];
                format_set(a, stored->count, text_a, sizeof(text_a));
                format_set(b, rebuilt->count, text_b, sizeof(text_b));
                differs(d, field, text_a, text_b);
        }
        free(a);
        free(b);
}

static void diff_labels(differ_t *d, const bl_item_t *stored, const bl_item_t *rebuilt) {
        const bl_labels_t *s = &bl_item_cold(stored)->labels, *r = &bl_item_cold(rebuilt)->labels;
        label_ref_t *a = sorted_labels(s, &d->ok), *b = sorted_labels(r, &d->ok);
        bool same = s->count == r->count;
        for (size_t i = 0; same && d->ok && i < s->count; i++)
                same = !strcmp(a[i].key, b[i].key) && !strcmp(a[i].value, b[i].value);
        if (!same && d->ok) {
                char text_a[VALUE_MAX_BYTES], text_b[VALUE_MAX_BYTES];
                format_labels(a, s->count, text_a, sizeof(text_a));
                format_labels(b, r->count, text_b, sizeof(text_b));
                differs(d, "labels", text_a, text_b);
        }
        free(a);
        free(b);
}

static void format_event_ids(const bl_item_t *item, char *out, size_t out_size) {
        snprintf(out, out_size, "[");
        for (const char *id = bl_item_event_next(item, NULL); id; id = bl_item_event_next(item, id)) {
                if (id != item->recent_event_ids)
                        append(out, out_size, ", ");
                append(out, out_size, id);
        }
        append(out, out_size, "]");
}

/* The event ids in their order: a list, not a set. */
static void diff_event_ids(differ_t *d, const bl_item_t *stored, const bl_item_t *rebuilt) {
        bool same = stored->recent_event_count == rebuilt->recent_event_count;
        for (const char *a = bl_item_event_next(stored, NULL), *b = bl_item_event_next(rebuilt, NULL); same && a;
             a = bl_item_event_next(stored, a), b = bl_item_event_next(rebuilt, b))
                same = !strcmp(a, b);
        if (!same) {
                char text_a[VALUE_MAX_BYTES], text_b[VALUE_MAX_BYTES];
                format_event_ids(stored, text_a, sizeof(text_a));
                format_event_ids(rebuilt, text_b, sizeof(text_b));
                differs(d, "recent_event_ids", text_a, text_b);
        }
}

static void diff_payload(differ_t *d, const bl_item_t *stored, const bl_item_t *rebuilt) {
        char a[64], b[64];
        if (stored->has_payload == rebuilt->has_payload &&
            (!stored->has_payload ||
             (stored->payload_size == rebuilt->payload_size &&
              (stored->payload_size == 0 || !memcmp(stored->payload, rebuilt->payload, stored->payload_size)))))
                return;
        format_payload(stored, a, sizeof(a));
        format_payload(rebuilt, b, sizeof(b));
        differs(d, "payload", a, b);
}

static void diff_last_error(differ_t *d, const bl_item_t *stored, const bl_item_t *rebuilt) {
        char a[VALUE_MAX_BYTES], b[VALUE_MAX_BYTES];
        const bl_item_cold_t *s = bl_item_cold(stored), *r = bl_item_cold(rebuilt);
        if (s->has_last_error == r->has_last_error &&
            (!s->has_last_error ||
             (same_text(s->error_code, r->error_code) && same_text(s->error_message, r->error_message) &&
              s->error_retryable == r->error_retryable)))
                return;
        format_error(stored, a, sizeof(a));
        format_error(rebuilt, b, sizeof(b));
        differs(d, "last_error", a, b);
}

int bl_history_diff_items(const bl_item_t *s, const bl_item_t *r, bl_history_field_cb *cb, void *opaque) {
        differ_t d = {cb, opaque, 0, true};
        if (s->state != r->state)
                differs(&d, "state", bl_state_name(s->state), bl_state_name(r->state));
        diff_long(&d, "seq", s->seq, r->seq);
        diff_long(&d, "attempt", s->attempt, r->attempt);
        diff_max_attempts(&d, s->max_attempts, r->max_attempts);
        diff_long(&d, "partition", s->partition, r->partition);
        diff_text(&d, "task_type", s->kind->task_type, r->kind->task_type);
        diff_text(&d, "domain", s->kind->domain, r->kind->domain);
        diff_text(&d, "tenant", s->kind->tenant, r->kind->tenant);
        diff_text(&d, "sla_class", s->kind->sla_class, r->kind->sla_class);
        diff_double(&d, "business_value", s->business_value, r->business_value);
        diff_double(&d, "risk", s->risk, r->risk);
        diff_time(&d, "submitted_at", s->submitted_at_ms, r->submitted_at_ms);
        diff_time(&d, "deadline", s->deadline_ms, r->deadline_ms);
        diff_time(&d, "not_before", s->not_before_ms, r->not_before_ms);
        diff_time(&d, "data_ready_at", s->data_ready_at_ms, r->data_ready_at_ms);
        diff_time(&d, "state_since", s->state_since_ms, r->state_since_ms);
        diff_time(&d, "ready_since", s->ready_since_ms, r->ready_since_ms);
        diff_time(&d, "lease_expires_at", s->lease_expires_at_ms, r->lease_expires_at_ms);
        diff_time(&d, "retry_at", s->retry_at_ms, r->retry_at_ms);
        diff_time(&d, "terminal_at", s->terminal_at_ms, r->terminal_at_ms);
        const bl_item_cold_t *s_cold = bl_item_cold(s), *r_cold = bl_item_cold(r);
        diff_set(&d, "depends_on", &s_cold->depends_on, &r_cold->depends_on);
        diff_set(&d, "pending_deps", &s_cold->pending_deps, &r_cold->pending_deps);
        diff_set(&d, "dependents", &s_cold->dependents, &r_cold->dependents);
        diff_bool(&d, "approval_required", s->approval_required, r->approval_required);
        diff_bool(&d, "approved", s->approved, r->approved);
        diff_labels(&d, s, r);
        diff_payload(&d, s, r);
        diff_text(&d, "traceparent", s_cold->traceparent, r_cold->traceparent);
        diff_last_error(&d, s, r);
        diff_event_ids(&d, s, r);
        diff_bool(&d, "placeholder", s->placeholder, r->placeholder);
        return d.ok ? d.count : -1;
}

/* ---- verify -------------------------------------------------------------------- */

typedef struct verify_s {
        const bl_history_report_t *report;
        bl_history_totals_t *totals;
        const task_t *task;
        size_t differences; /* of the current task */
} verify_t;

static void report_difference(verify_t *v, const char *field, const char *stored, const char *rebuilt,
                              const char *message) {
        bl_history_difference_t difference = {v->task->task_id, field, stored, rebuilt, message};
        v->differences++;
        v->totals->differences++;
        if (v->report->difference)
                v->report->difference(v->report->opaque, &difference);
}

static void field_differs(const char *field, const char *stored, const char *rebuilt, void *opaque) {
        verify_t *v = opaque;
        char message[3 * VALUE_MAX_BYTES];
        snprintf(message, sizeof(message), "task %s: %s is %s in backlog.state, %s rebuilt from backlog.transitions",
                 v->task->task_id, field, stored, rebuilt);
        report_difference(v, field, stored, rebuilt, message);
}

static void report_errors(verify_t *v, const char *task_id, const error_list_t *errors) {
        for (size_t i = 0; i < errors->count; i++) {
                const chain_error_t *e = &errors->items[i];
                bl_history_chain_error_t error = {task_id, e->seq, e->partition, e->offset, e->what};
                v->totals->chain_errors++;
                if (v->report->chain_error)
                        v->report->chain_error(v->report->opaque, &error);
        }
}

/* backlog.state has no snapshot of a task that has a history: purged, or missing. */
static void compare_absent(verify_t *v, const task_t *task) {
        char message[2 * WHAT_MAX_BYTES];
        bl_state_t last = task->rebuilt ? task->rebuilt->state : task->last_to;
        const char *stored = task->stored_kind == STORED_TOMBSTONE ? "tombstone" : "absent";
        if (bl_state_is_terminal(last) || (task->rebuilt && task->rebuilt->placeholder)) {
                v->totals->purged++;
                return;
        }
        snprintf(message, sizeof(message),
                 "task %s: %s in backlog.state, %s rebuilt from backlog.transitions (only a terminal task is purged)",
                 task->task_id, task->stored_kind == STORED_TOMBSTONE ? "a tombstone" : "no snapshot",
                 bl_state_name(last));
        report_difference(v, "task", stored, bl_state_name(last), message);
}

static bl_err_t compare_task(verify_t *v, const task_t *task) {
        char message[2 * WHAT_MAX_BYTES];
        switch (task->stored_kind) {
        case STORED_UNREADABLE:
                snprintf(message, sizeof(message), "task %s: its snapshot at partition %d offset %" PRId64
                                                   " of backlog.state cannot be read: %s",
                         task->task_id, (int)task->stored_partition, task->stored_offset, task->stored_why);
                report_difference(v, "snapshot", "unreadable", task->rebuilt ? bl_state_name(task->rebuilt->state)
                                                                             : "absent", message);
                return BL_OK;
        case STORED_NONE:
        case STORED_TOMBSTONE:
                if (task->transitions == 0)
                        v->totals->purged++; /* a tombstone whose history is gone */
                else
                        compare_absent(v, task);
                return BL_OK;
        case STORED_ITEM: break;
        }
        if (task->transitions == 0 || !task->rebuilt) {
                snprintf(message, sizeof(message), "task %s: %s in backlog.state, %s in backlog.transitions",
                         task->task_id, bl_state_name(task->stored->state),
                         task->transitions == 0 ? "no history" : "no item rebuilt");
                report_difference(v, "task", bl_state_name(task->stored->state), "absent", message);
                return BL_OK;
        }
        return bl_history_diff_items(task->stored, task->rebuilt, field_differs, v) < 0 ? BL_ERR_NOMEM : BL_OK;
}

static int compare_tasks(const void *a, const void *b) {
        return strcmp((*(task_t *const *)a)->task_id, (*(task_t *const *)b)->task_id);
}

bl_err_t bl_history_verify(const bl_history_t *history, const bl_history_report_t *report,
                           bl_history_totals_t *totals) {
        verify_t v = {report, totals, NULL, 0};
        task_t **sorted = NULL;
        bl_err_t err = BL_OK;
        memset(totals, 0, sizeof(*totals));
        if (history->task_count && !(sorted = malloc(history->task_count * sizeof(*sorted))))
                return BL_ERR_NOMEM;
        if (sorted) {
                memcpy(sorted, history->tasks, history->task_count * sizeof(*sorted));
                qsort(sorted, history->task_count, sizeof(*sorted), compare_tasks);
        }
        report_errors(&v, "", &history->keyless);
        for (size_t i = 0; i < history->task_count && !err; i++) {
                const task_t *task = sorted[i];
                size_t purged_before = totals->purged;
                v.task = task;
                v.differences = 0;
                totals->tasks++;
                report_errors(&v, task->task_id, &task->errors);
                err = compare_task(&v, task);
                totals->broken += task->errors.count > 0;
                totals->differing += v.differences > 0;
                totals->verified += task->errors.count == 0 && v.differences == 0 && totals->purged == purged_before;
        }
        free(sorted);
        return err;
}
