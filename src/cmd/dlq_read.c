/*
 * dlq_read.c: read the dead letters, and find the redrives already made.
 *
 * A dead letter is the original record (key, value, headers byte for byte)
 * with the dlq.* headers that pipeline/dlq.c appends after the original
 * ones; so each dlq.* field is read as the *last* header of its name, and a
 * letter whose original already carried dlq.* headers (a redriven record
 * that failed again carries dlq.redriven.*) still reads right. A letter's
 * dlq.* fields are copied out first and handed to the caller's select
 * callback, which decides whether the letter is kept and whether its value
 * and original headers are copied too: `dlq list` keeps no payloads, and
 * `dlq redrive` keeps only those of the letters it is about to republish.
 *
 * A redrive is found where it went: on the input topic the letter came
 * from, as a record whose dlq.redriven.from names the letter. The redrive
 * produced it keyed by the letter's key with the murmur2 partitioner, so it
 * lies in the partition murmur2 gives that key (the co-partitioning that
 * SPEC §1 fixes: the input topics never change their partition count), and
 * only those partitions are read; a keyless letter was republished to a
 * random partition, so then every partition is. Topic names cannot hold
 * ':', which is what makes "<topic>:<partition>:<offset>" parse back.
 *
 * Both reads see only committed records, up to the partition's last stable
 * offset: a transaction still open is not waited for. So `dlq list` and
 * `dlq redrive --dry-run` may not show a redrive that is at work that very
 * moment; `dlq redrive` itself fences every other redrive before it reads
 * (dlq.c), so then none of theirs is open or half-committed. Main thread.
 */
#include "cmd/dlq_read.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contract/encode.h"

#define INPUT_ROLE_COUNT 2
static const char *const input_roles[INPUT_ROLE_COUNT] = {"tasks.events", "tasks.results"};

/* ---- reading the letters ------------------------------------------------------ */

typedef struct letter_reader_s {
        bl_dlq_read_select_cb *select;
        void *opaque;
        bl_dlq_letters_t *letters;
        bool out_of_memory;
} letter_reader_t;

static void letter_free(bl_dlq_letter_t *letter) {
        free(letter->key);
        free(letter->reason);
        free(letter->detail);
        free(letter->stage);
        free(letter->original_topic);
        free(letter->failed_at);
        free(letter->processor);
        free(letter->value);
        if (letter->headers)
                rd_kafka_headers_destroy(letter->headers);
        memset(letter, 0, sizeof(*letter));
}

/* A copy of the last header @p name as a string; NULL when absent or null (or out of memory: *oom). */
static char *header_text(const rd_kafka_headers_t *headers, const char *name, bool *oom) {
        const void *value;
        size_t size;
        char *text;
        if (!headers || rd_kafka_header_get_last(headers, name, &value, &size) || !value)
                return NULL;
        if (!(text = strndup(value, size)))
                *oom = true;
        return text;
}

static int64_t header_number(const rd_kafka_headers_t *headers, const char *name, bool *oom) {
        char *text = header_text(headers, name, oom), *end;
        long long number;
        if (!text)
                return BL_DLQ_ABSENT;
        errno = 0;
        number = strtoll(text, &end, 10);
        if (errno || end == text || *end)
                number = BL_DLQ_ABSENT;
        free(text);
        return number;
}

/* Every header of @p headers whose name does not start with "dlq."; NULL when none is left. */
static rd_kafka_headers_t *original_headers(const rd_kafka_headers_t *headers) {
        rd_kafka_headers_t *kept = NULL;
        const char *name;
        const void *value;
        size_t size;
        for (size_t i = 0; headers && !rd_kafka_header_get_all(headers, i, &name, &value, &size); i++) {
                if (!strncmp(name, BL_DLQ_HEADER_PREFIX, strlen(BL_DLQ_HEADER_PREFIX)))
                        continue;
                if (!kept)
                        kept = rd_kafka_headers_new(8);
                rd_kafka_header_add(kept, name, -1, value, value ? (ssize_t)size : 0);
        }
        return kept;
}

static bool append_letter(bl_dlq_letters_t *letters, bl_dlq_letter_t *letter) {
        if (letters->count == letters->capacity) {
                size_t capacity = letters->capacity ? letters->capacity * 2 : 64;
                bl_dlq_letter_t *items = realloc(letters->items, capacity * sizeof(*items));
                if (!items)
                        return false;
                letters->items = items;
                letters->capacity = capacity;
        }
        letters->items[letters->count++] = *letter;
        return true;
}

static bool read_letter(const rd_kafka_message_t *message, void *opaque) {
        letter_reader_t *reader = opaque;
        rd_kafka_headers_t *headers = NULL;
        bl_dlq_letter_t letter = {0};
        bl_dlq_read_choice_t choice;
        bool oom = false;
        if (rd_kafka_message_headers(message, &headers))
                headers = NULL;
        letter.partition = message->partition;
        letter.offset = message->offset;
        if (message->key) {
                letter.key_size = message->key_len;
                if ((letter.key = malloc(letter.key_size ? letter.key_size : 1)))
                        memcpy(letter.key, message->key, letter.key_size);
                else
                        oom = true;
        }
        letter.reason = header_text(headers, "dlq.reason", &oom);
        letter.detail = header_text(headers, "dlq.detail", &oom);
        letter.stage = header_text(headers, "dlq.stage", &oom);
        letter.original_topic = header_text(headers, "dlq.original.topic", &oom);
        letter.failed_at = header_text(headers, "dlq.failed_at", &oom);
        letter.processor = header_text(headers, "dlq.processor", &oom);
        letter.original_partition = header_number(headers, "dlq.original.partition", &oom);
        letter.original_offset = header_number(headers, "dlq.original.offset", &oom);
        letter.original_timestamp_ms = header_number(headers, "dlq.original.timestamp", &oom);
        letter.schema_id = header_number(headers, "dlq.schema.id", &oom);
        letter.attempts = header_number(headers, "dlq.attempts", &oom);
        if (!letter.failed_at || !bl_encode_parse_rfc3339(letter.failed_at, &letter.failed_at_ms))
                letter.failed_at_ms = BL_DLQ_ABSENT;
        if (oom)
                goto out_of_memory;

        choice = reader->select ? reader->select(&letter, reader->opaque) : BL_DLQ_READ_KEEP;
        if (choice == BL_DLQ_READ_SKIP) {
                letter_free(&letter);
                return true;
        }
        if (choice == BL_DLQ_READ_PAYLOAD) {
                letter.has_value = message->payload != NULL;
                letter.value_size = message->len;
                if (letter.has_value && !(letter.value = malloc(message->len ? message->len : 1)))
                        goto out_of_memory;
                if (letter.has_value)
                        memcpy(letter.value, message->payload, message->len);
                letter.headers = original_headers(headers);
        }
        if (!append_letter(reader->letters, &letter))
                goto out_of_memory;
        return true;

out_of_memory:
        letter_free(&letter);
        reader->out_of_memory = true;
        return false;
}

bool bl_dlq_read_letters(bl_cmd_scan_t *scan, const char *dlq_topic, bl_dlq_read_select_cb *select, void *opaque,
                         bl_dlq_letters_t *letters) {
        letter_reader_t reader = {select, opaque, letters, false};
        if (!bl_cmd_scan_topic(scan, dlq_topic, NULL, 0, read_letter, &reader))
                return false;
        if (reader.out_of_memory) {
                fprintf(stderr, "backlogd %s: out of memory reading %s\n", scan->command, dlq_topic);
                return false;
        }
        return true;
}

void bl_dlq_read_letters_clear(bl_dlq_letters_t *letters) {
        for (size_t i = 0; i < letters->count; i++)
                letter_free(&letters->items[i]);
        free(letters->items);
        memset(letters, 0, sizeof(*letters));
}

/* ---- finding the redrives --------------------------------------------------------- */

const char *bl_dlq_read_input_role(const bl_config_t *config, const char *topic) {
        size_t prefix_len = strlen(config->topics_prefix);
        if (!topic || strncmp(topic, config->topics_prefix, prefix_len))
                return NULL;
        for (int i = 0; i < INPUT_ROLE_COUNT; i++)
                if (!strcmp(topic + prefix_len, input_roles[i]))
                        return input_roles[i];
        return NULL;
}

typedef struct redrive_reader_s {
        const char *dlq_topic;
        bl_dlq_redrives_t *redrives;
        bool out_of_memory;
} redrive_reader_t;

/* Parses "<topic>:<partition>:<offset>"; true when it names a letter of @p dlq_topic. */
static bool parse_from(const char *from, size_t size, const char *dlq_topic, int32_t *partition, int64_t *offset) {
        char text[512], *first, *second, *end;
        long long p, o;
        if (size >= sizeof(text))
                return false;
        memcpy(text, from, size);
        text[size] = '\0';
        if (!(second = strrchr(text, ':')))
                return false;
        *second++ = '\0';
        if (!(first = strrchr(text, ':')))
                return false;
        *first++ = '\0';
        if (strcmp(text, dlq_topic))
                return false;
        errno = 0;
        p = strtoll(first, &end, 10);
        if (errno || end == first || *end || p < 0 || p > INT32_MAX)
                return false;
        o = strtoll(second, &end, 10);
        if (errno || end == second || *end || o < 0)
                return false;
        *partition = (int32_t)p;
        *offset = o;
        return true;
}

static bool read_redrive(const rd_kafka_message_t *message, void *opaque) {
        redrive_reader_t *reader = opaque;
        bl_dlq_redrives_t *redrives = reader->redrives;
        rd_kafka_headers_t *headers = NULL;
        bl_dlq_redrive_t redrive = {0};
        const void *from;
        size_t from_size;
        bool oom = false;
        if (rd_kafka_message_headers(message, &headers) ||
            rd_kafka_header_get_last(headers, BL_DLQ_REDRIVEN_FROM, &from, &from_size) || !from ||
            !parse_from(from, from_size, reader->dlq_topic, &redrive.dlq_partition, &redrive.dlq_offset))
                return true;
        redrive.partition = message->partition;
        redrive.offset = message->offset;
        redrive.topic = strdup(rd_kafka_topic_name(message->rkt));
        redrive.at = header_text(headers, BL_DLQ_REDRIVEN_AT, &oom);
        redrive.by = header_text(headers, BL_DLQ_REDRIVEN_BY, &oom);
        if (redrives->count == redrives->capacity && !oom && redrive.topic) {
                size_t capacity = redrives->capacity ? redrives->capacity * 2 : 64;
                bl_dlq_redrive_t *items = realloc(redrives->items, capacity * sizeof(*items));
                if (items) {
                        redrives->items = items;
                        redrives->capacity = capacity;
                }
        }
        if (oom || !redrive.topic || redrives->count == redrives->capacity) {
                free(redrive.topic);
                free(redrive.at);
                free(redrive.by);
                reader->out_of_memory = true;
                return false;
        }
        redrives->items[redrives->count++] = redrive;
        return true;
}

/* The partitions of @p topic (of @p partition_count) that hold the redrives of @p letters from it; *all when any. */
static int32_t *partitions_of(const char *topic, const bl_dlq_letters_t *letters, int32_t partition_count,
                              size_t *count, bool *all) {
        bool *wanted = calloc((size_t)partition_count, sizeof(*wanted));
        int32_t *partitions = malloc((size_t)partition_count * sizeof(*partitions));
        *count = 0;
        *all = false;
        if (!wanted || !partitions) {
                free(wanted);
                free(partitions);
                return NULL;
        }
        for (size_t i = 0; i < letters->count && !*all; i++) {
                const bl_dlq_letter_t *letter = &letters->items[i];
                if (!letter->original_topic || strcmp(letter->original_topic, topic))
                        continue;
                if (!letter->key)
                        *all = true;
                else
                        wanted[rd_kafka_msg_partitioner_murmur2(NULL, letter->key, letter->key_size, partition_count,
                                                                NULL, NULL)] = true;
        }
        for (int32_t p = 0; p < partition_count; p++)
                if (wanted[p])
                        partitions[(*count)++] = p;
        free(wanted);
        return partitions;
}

static int compare_redrives(const void *a, const void *b) {
        const bl_dlq_redrive_t *x = a, *y = b;
        int order;
        if (x->dlq_partition != y->dlq_partition)
                return x->dlq_partition < y->dlq_partition ? -1 : 1;
        if (x->dlq_offset != y->dlq_offset)
                return x->dlq_offset < y->dlq_offset ? -1 : 1;
        if ((order = strcmp(x->topic, y->topic)))
                return order;
        if (x->partition != y->partition)
                return x->partition < y->partition ? -1 : 1;
        return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Reads the redrives in one input topic, if any letter came from it. */
static bool read_target(bl_cmd_scan_t *scan, const char *dlq_topic, const char *target, const bl_dlq_letters_t *letters,
                        bl_dlq_redrives_t *redrives) {
        redrive_reader_t reader = {dlq_topic, redrives, false};
        int32_t partition_count, *partitions;
        size_t count = 0;
        bool all = false, from_here = false, ok;
        for (size_t i = 0; i < letters->count && !from_here; i++)
                from_here = letters->items[i].original_topic && !strcmp(letters->items[i].original_topic, target);
        if (!from_here)
                return true;
        if ((partition_count = bl_cmd_scan_partition_count(scan, target)) < 0)
                return false;
        if (!(partitions = partitions_of(target, letters, partition_count, &count, &all))) {
                fprintf(stderr, "backlogd %s: out of memory\n", scan->command);
                return false;
        }
        if (!all && !count) { /* cannot be (a letter came from here), but count 0 would mean every partition */
                free(partitions);
                return true;
        }
        ok = bl_cmd_scan_topic(scan, target, all ? NULL : partitions, all ? 0 : count, read_redrive, &reader);
        free(partitions);
        if (ok && reader.out_of_memory) {
                fprintf(stderr, "backlogd %s: out of memory reading %s\n", scan->command, target);
                ok = false;
        }
        return ok;
}

bool bl_dlq_read_redrives(bl_cmd_scan_t *scan, const char *dlq_topic, const bl_dlq_letters_t *letters,
                          bl_dlq_redrives_t *redrives) {
        for (int i = 0; i < INPUT_ROLE_COUNT; i++) {
                char *target = bl_config_topic_name(scan->config, input_roles[i]);
                bool ok = target && read_target(scan, dlq_topic, target, letters, redrives);
                if (!target)
                        fprintf(stderr, "backlogd %s: out of memory\n", scan->command);
                free(target);
                if (!ok)
                        return false;
        }
        if (redrives->count)
                qsort(redrives->items, redrives->count, sizeof(*redrives->items), compare_redrives);
        return true;
}

const bl_dlq_redrive_t *bl_dlq_read_redrive_of(const bl_dlq_redrives_t *redrives, int32_t partition, int64_t offset) {
        size_t low = 0, high = redrives->count;
        while (low < high) { /* the first item not before (partition, offset) */
                size_t middle = low + (high - low) / 2;
                const bl_dlq_redrive_t *item = &redrives->items[middle];
                if (item->dlq_partition < partition || (item->dlq_partition == partition && item->dlq_offset < offset))
                        low = middle + 1;
                else
                        high = middle;
        }
        if (low < redrives->count && redrives->items[low].dlq_partition == partition &&
            redrives->items[low].dlq_offset == offset)
                return &redrives->items[low];
        return NULL;
}

void bl_dlq_read_redrives_clear(bl_dlq_redrives_t *redrives) {
        for (size_t i = 0; i < redrives->count; i++) {
                free(redrives->items[i].topic);
                free(redrives->items[i].at);
                free(redrives->items[i].by);
        }
        free(redrives->items);
        memset(redrives, 0, sizeof(*redrives));
}
