/*
 * item_codec.c: an item as a compact run of bytes and back, for the spill
 * store.
 *
 * The format, in order: a version byte; task_id; the kind's four texts;
 * partition, seq, attempt, max_attempts; business_value and risk as their 8
 * raw bytes (bit for bit, NaN included); submitted_at_ms, then every other
 * time relative to it (or whole, when far from it); state; one byte of flags; the payload; the recent
 * event ids; the cold part when the item has one. Integers are LEB128
 * varints, signed ones zigzagged, so that a time 0 to 63 ms from the
 * submission takes one byte and an unset one (BL_NO_TIME) one too. A text is
 * its size + 1 (0: absent) and its bytes with their NUL, so that the decoder
 * hands the bytes' own pointers to bl_kind_intern and
 * bl_item_set_cold_packed, which copy them. A DISPATCHED task with a UUID
 * task_id, two event ids and no payload encodes in 185 bytes, 136 of them
 * its texts (test_item_codec.c).
 *
 * The decoder checks every length against the end of the bytes: bytes cut
 * short or changed are an error, never a read past the end. Pure C; any
 * thread (the kinds' table it interns into is locked).
 */
#include "core/item_codec.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CODEC_VERSION 1

enum {
        FLAG_APPROVAL_REQUIRED = 1 << 0,
        FLAG_APPROVED = 1 << 1,
        FLAG_HAS_PAYLOAD = 1 << 2,
        FLAG_PLACEHOLDER = 1 << 3,
        FLAG_OVERDUE = 1 << 4,
        FLAG_PAYLOAD_HELD = 1 << 5, /* payload != NULL */
        FLAG_COLD = 1 << 6,
};

enum { COLD_LAST_ERROR = 1 << 0, COLD_RETRYABLE = 1 << 1 };

/* ---- writing ---------------------------------------------------------------- */

void bl_item_bytes_free(bl_item_bytes_t *buffer) {
        free(buffer->bytes);
        *buffer = (bl_item_bytes_t){0};
}

/* A writer that stops at the first failed growth; ok says whether every byte went in. */
typedef struct writer_s {
        bl_item_bytes_t *out;
        bool ok;
} writer_t;

static void put_bytes(writer_t *writer, const void *bytes, size_t size) {
        bl_item_bytes_t *out = writer->out;
        if (!writer->ok || size == 0)
                return;
        if (size > out->capacity - out->size) {
                size_t capacity = out->capacity ? out->capacity : 256;
                while (capacity - out->size < size)
                        capacity *= 2;
                unsigned char *grown = realloc(out->bytes, capacity);
                if (!grown) {
                        writer->ok = false;
                        return;
                }
                out->bytes = grown;
                out->capacity = capacity;
        }
        memcpy(out->bytes + out->size, bytes, size);
        out->size += size;
}

static void put_varint(writer_t *writer, uint64_t value) {
        unsigned char bytes[10];
        size_t size = 0;
        do {
                bytes[size] = (unsigned char)(value & 0x7f);
                value >>= 7;
                bytes[size++] |= value ? 0x80 : 0;
        } while (value);
        put_bytes(writer, bytes, size);
}

static void put_signed(writer_t *writer, int64_t value) {
        put_varint(writer, ((uint64_t)value << 1) ^ (uint64_t)(value >> 63));
}

/*
 * A time other than submitted_at_ms: 0 when unset; its distance from @p base_ms zigzagged, plus 2, when
 * that is below 2^62 either way (every time a task sets); else 1 and the time itself.
 */
static void put_time(writer_t *writer, int64_t time_ms, int64_t base_ms) {
        if (time_ms == BL_NO_TIME) {
                put_varint(writer, 0);
                return;
        }
        int64_t distance = (int64_t)((uint64_t)time_ms - (uint64_t)base_ms);
        bool near = distance < ((int64_t)1 << 62) && distance > -((int64_t)1 << 62) &&
                    (distance >= 0) == (time_ms >= base_ms); /* no wrap past either end */
        if (!near) {
                put_varint(writer, 1);
                put_signed(writer, time_ms);
                return;
        }
        put_varint(writer, (((uint64_t)distance << 1) ^ (uint64_t)(distance >> 63)) + 2);
}

static void put_text(writer_t *writer, const char *text) {
        if (!text) {
                put_varint(writer, 0);
                return;
        }
        size_t size = strlen(text) + 1;
        put_varint(writer, size);
        put_bytes(writer, text, size);
}

static void put_double(writer_t *writer, double value) {
        put_bytes(writer, &value, sizeof(value));
}

static void put_strvec(writer_t *writer, const bl_strvec_t *vec) {
        put_varint(writer, vec->count);
        for (size_t i = 0; i < vec->count; i++)
                put_text(writer, vec->items[i]);
}

static bool cold_is_set(const bl_item_cold_t *cold) {
        return cold && (cold->depends_on.count || cold->pending_deps.count || cold->dependents.count ||
                        cold->labels.count || cold->traceparent || cold->has_last_error || cold->error_code ||
                        cold->error_message);
}

static void put_cold(writer_t *writer, const bl_item_cold_t *cold) {
        put_strvec(writer, &cold->depends_on);
        put_strvec(writer, &cold->pending_deps);
        put_strvec(writer, &cold->dependents);
        put_varint(writer, cold->labels.count);
        put_varint(writer, cold->labels.size);
        put_bytes(writer, cold->labels.pairs, cold->labels.size);
        put_text(writer, cold->traceparent);
        put_varint(writer, (cold->has_last_error ? COLD_LAST_ERROR : 0) | (cold->error_retryable ? COLD_RETRYABLE : 0));
        put_text(writer, cold->error_code);
        put_text(writer, cold->error_message);
}

static size_t event_ids_size(const bl_item_t *item) {
        size_t size = 0;
        for (const char *id = bl_item_event_next(item, NULL); id; id = bl_item_event_next(item, id))
                size += strlen(id) + 1;
        return size;
}

static unsigned item_flags(const bl_item_t *item) {
        return (item->approval_required ? FLAG_APPROVAL_REQUIRED : 0) | (item->approved ? FLAG_APPROVED : 0) |
               (item->has_payload ? FLAG_HAS_PAYLOAD : 0) | (item->placeholder ? FLAG_PLACEHOLDER : 0) |
               (item->overdue ? FLAG_OVERDUE : 0) | (item->payload ? FLAG_PAYLOAD_HELD : 0) |
               (cold_is_set(item->cold) ? FLAG_COLD : 0);
}

bool bl_item_encode(const bl_item_t *item, bl_item_bytes_t *out) {
        writer_t writer = {.out = out, .ok = true};
        out->size = 0;
        int64_t base_ms = item->submitted_at_ms;
        unsigned flags = item_flags(item);
        put_varint(&writer, CODEC_VERSION);
        put_text(&writer, item->task_id);
        put_text(&writer, item->kind->task_type);
        put_text(&writer, item->kind->domain);
        put_text(&writer, item->kind->tenant);
        put_text(&writer, item->kind->sla_class);
        put_signed(&writer, item->partition);
        put_signed(&writer, item->seq);
        put_signed(&writer, item->attempt);
        put_signed(&writer, item->max_attempts);
        put_double(&writer, item->business_value);
        put_double(&writer, item->risk);
        put_signed(&writer, base_ms);
        const int64_t times[] = {item->deadline_ms,         item->not_before_ms,  item->data_ready_at_ms,
                                 item->state_since_ms,      item->ready_since_ms, item->lease_expires_at_ms,
                                 item->retry_at_ms,         item->terminal_at_ms, item->timer_due_ms};
        for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++)
                put_time(&writer, times[i], base_ms);
        put_varint(&writer, (uint64_t)item->state);
        put_varint(&writer, flags);
        if (flags & FLAG_PAYLOAD_HELD) {
                put_varint(&writer, item->payload_size);
                put_bytes(&writer, item->payload, item->payload_size);
        }
        put_varint(&writer, item->recent_event_count);
        size_t ids_size = item->recent_event_count ? event_ids_size(item) : 0;
        put_varint(&writer, ids_size);
        put_bytes(&writer, item->recent_event_ids, ids_size);
        if (flags & FLAG_COLD)
                put_cold(&writer, item->cold);
        if (!writer.ok)
                out->size = 0;
        return writer.ok;
}

/* ---- reading ---------------------------------------------------------------- */

/* A reader that stops at the first fault; what names it, for the error. */
typedef struct reader_s {
        const unsigned char *at;
        const unsigned char *end;
        const char *fault; /* NULL while every read fit */
} reader_t;

static uint64_t get_varint(reader_t *reader) {
        uint64_t value = 0;
        for (unsigned shift = 0; !reader->fault; shift += 7) {
                if (reader->at == reader->end || shift > 63) {
                        reader->fault = "a number cut short or too long";
                        return 0;
                }
                unsigned char byte = *reader->at++;
                value |= (uint64_t)(byte & 0x7f) << shift;
                if (!(byte & 0x80))
                        return value;
        }
        return 0;
}

static int64_t get_signed(reader_t *reader) {
        uint64_t value = get_varint(reader);
        return (int64_t)(value >> 1) ^ -(int64_t)(value & 1);
}

static int64_t get_int32(reader_t *reader) {
        int64_t value = get_signed(reader);
        if (value < INT32_MIN || value > INT32_MAX) {
                reader->fault = reader->fault ? reader->fault : "a 32-bit number out of range";
                return 0;
        }
        return value;
}

static int64_t get_time(reader_t *reader, int64_t base_ms) {
        uint64_t value = get_varint(reader);
        if (value == 0)
                return BL_NO_TIME;
        if (value == 1)
                return get_signed(reader);
        value -= 2;
        int64_t distance = (int64_t)(value >> 1) ^ -(int64_t)(value & 1);
        return (int64_t)((uint64_t)base_ms + (uint64_t)distance);
}

/* The next @p size bytes, or NULL (and a fault) when fewer are left. */
static const unsigned char *get_bytes(reader_t *reader, uint64_t size) {
        if (reader->fault)
                return NULL;
        if (size > (uint64_t)(reader->end - reader->at)) {
                reader->fault = "a length past the end";
                return NULL;
        }
        const unsigned char *bytes = reader->at;
        reader->at += size;
        return bytes;
}

/* A text in place (NULL when absent), checked to end with its NUL and hold no other. */
static const char *get_text(reader_t *reader) {
        uint64_t size = get_varint(reader);
        if (size == 0)
                return NULL;
        const char *text = (const char *)get_bytes(reader, size);
        if (text && memchr(text, '\0', size) != text + size - 1) {
                reader->fault = "a text without its end";
                return NULL;
        }
        return text;
}

static double get_double(reader_t *reader) {
        double value = 0;
        const unsigned char *bytes = get_bytes(reader, sizeof(value));
        if (bytes)
                memcpy(&value, bytes, sizeof(value));
        return value;
}

/* A vector of texts in place: its array in *@p items (the caller frees it). */
static void get_strvec(reader_t *reader, bl_strvec_t *vec) {
        uint64_t count = get_varint(reader);
        if (reader->fault || count == 0)
                return;
        if (count > (uint64_t)(reader->end - reader->at)) { /* each text takes at least one byte */
                reader->fault = "a count past the end";
                return;
        }
        vec->items = malloc(count * sizeof(*vec->items));
        if (!vec->items) {
                reader->fault = "out of memory";
                return;
        }
        for (size_t i = 0; i < count && !reader->fault; i++) {
                vec->items[i] = (char *)get_text(reader);
                if (!vec->items[i] && !reader->fault)
                        reader->fault = "an absent text in a list";
        }
        vec->count = vec->capacity = (size_t)count;
}

static void get_labels(reader_t *reader, bl_labels_t *labels) {
        uint64_t count = get_varint(reader), size = get_varint(reader);
        const char *pairs = (const char *)get_bytes(reader, size);
        if (reader->fault)
                return;
        size_t texts = 0;
        for (size_t i = 0; i < size; i++)
                texts += pairs[i] == '\0';
        if (count > UINT32_MAX || size > UINT32_MAX || texts != 2 * count || (size && pairs[size - 1])) {
                reader->fault = "labels that are not their pairs";
                return;
        }
        *labels = (bl_labels_t){.pairs = (char *)pairs, .count = (uint32_t)count, .size = (uint32_t)size};
}

static void get_cold(reader_t *reader, bl_item_cold_t *cold) {
        get_strvec(reader, &cold->depends_on);
        get_strvec(reader, &cold->pending_deps);
        get_strvec(reader, &cold->dependents);
        get_labels(reader, &cold->labels);
        cold->traceparent = (char *)get_text(reader);
        uint64_t error_flags = get_varint(reader);
        cold->has_last_error = error_flags & COLD_LAST_ERROR;
        cold->error_retryable = error_flags & COLD_RETRYABLE;
        cold->error_code = (char *)get_text(reader);
        cold->error_message = (char *)get_text(reader);
}

/* Frees the arrays get_cold made; its texts are the bytes' own. */
static void free_cold_arrays(bl_item_cold_t *cold) {
        free(cold->depends_on.items);
        free(cold->pending_deps.items);
        free(cold->dependents.items);
}

/* The task_id and kind that start the bytes, as a new item. */
static bl_item_t *get_identity(reader_t *reader) {
        if (get_varint(reader) != CODEC_VERSION && !reader->fault)
                reader->fault = "an unknown version";
        const char *task_id = get_text(reader);
        const char *task_type = get_text(reader), *domain = get_text(reader), *tenant = get_text(reader);
        const char *sla_class = get_text(reader);
        int64_t partition = get_int32(reader);
        if (!reader->fault && !task_id)
                reader->fault = "no task_id";
        if (reader->fault)
                return NULL;
        const bl_kind_t *kind = bl_kind_intern(task_type, domain, tenant, sla_class);
        bl_item_t *item = kind ? bl_item_new_with_kind(task_id, strlen(task_id), (int32_t)partition, kind) : NULL;
        if (!item)
                reader->fault = "out of memory";
        return item;
}

static void get_times(reader_t *reader, bl_item_t *item) {
        int64_t base_ms = item->submitted_at_ms = get_signed(reader);
        int64_t *times[] = {&item->deadline_ms,    &item->not_before_ms,       &item->data_ready_at_ms,
                            &item->state_since_ms, &item->ready_since_ms,      &item->lease_expires_at_ms,
                            &item->retry_at_ms,    &item->terminal_at_ms,      &item->timer_due_ms};
        for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++)
                *times[i] = get_time(reader, base_ms);
}

static void get_payload(reader_t *reader, bl_item_t *item) {
        uint64_t size = get_varint(reader);
        const unsigned char *bytes = get_bytes(reader, size);
        if (!bytes || size > UINT32_MAX) {
                reader->fault = reader->fault ? reader->fault : "a payload over 4 GiB";
                return;
        }
        item->payload = malloc(size ? size : 1);
        if (!item->payload) {
                reader->fault = "out of memory";
                return;
        }
        memcpy(item->payload, bytes, size);
        item->payload_size = (uint32_t)size;
}

static void get_event_ids(reader_t *reader, bl_item_t *item) {
        uint64_t count = get_varint(reader), size = get_varint(reader);
        const char *ids = (const char *)get_bytes(reader, size);
        if (reader->fault || count == 0) {
                if (!reader->fault && size)
                        reader->fault = "event ids without a count";
                return;
        }
        size_t texts = 0;
        for (size_t i = 0; i < size; i++)
                texts += ids[i] == '\0';
        if (count > UINT16_MAX || texts != count || ids[size - 1]) {
                reader->fault = "event ids that are not their count";
                return;
        }
        item->recent_event_ids = malloc(size);
        if (!item->recent_event_ids) {
                reader->fault = "out of memory";
                return;
        }
        memcpy(item->recent_event_ids, ids, size);
        item->recent_event_count = (uint16_t)count;
}

static void get_state_and_flags(reader_t *reader, bl_item_t *item, uint64_t *flags) {
        uint64_t state = get_varint(reader);
        *flags = get_varint(reader);
        if (!reader->fault && state >= BL_STATE__COUNT)
                reader->fault = "an unknown state";
        item->state = (bl_state_t)state;
        item->approval_required = *flags & FLAG_APPROVAL_REQUIRED;
        item->approved = *flags & FLAG_APPROVED;
        item->has_payload = *flags & FLAG_HAS_PAYLOAD;
        item->placeholder = *flags & FLAG_PLACEHOLDER;
        item->overdue = *flags & FLAG_OVERDUE;
}

static void get_body(reader_t *reader, bl_item_t *item) {
        item->seq = get_signed(reader);
        item->attempt = (int32_t)get_int32(reader);
        item->max_attempts = (int32_t)get_int32(reader);
        item->business_value = get_double(reader);
        item->risk = get_double(reader);
        get_times(reader, item);
        uint64_t flags = 0;
        get_state_and_flags(reader, item, &flags);
        if (flags & FLAG_PAYLOAD_HELD)
                get_payload(reader, item);
        get_event_ids(reader, item);
        if (!(flags & FLAG_COLD) || reader->fault)
                return;
        bl_item_cold_t cold = {0};
        get_cold(reader, &cold);
        if (!reader->fault && !bl_item_set_cold_packed(item, &cold))
                reader->fault = "out of memory";
        free_cold_arrays(&cold);
}

bl_err_t bl_item_decode(const void *bytes, size_t size, bl_item_t **out, char *errstr, size_t errstr_size) {
        *out = NULL;
        reader_t reader = {.at = bytes, .end = (const unsigned char *)bytes + size};
        bl_item_t *item = get_identity(&reader);
        if (item)
                get_body(&reader, item);
        if (!reader.fault && reader.at != reader.end)
                reader.fault = "bytes left over";
        if (reader.fault) {
                bl_item_destroy(item);
                bl_err_t err = strcmp(reader.fault, "out of memory") ? BL_ERR_MISMATCH : BL_ERR_NOMEM;
                return bl_err_set(errstr, errstr_size, err, "item codec: %s at byte %zu of %zu", reader.fault,
                                  (size_t)(reader.at - (const unsigned char *)bytes), size);
        }
        *out = item;
        return BL_OK;
}
