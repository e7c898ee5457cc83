/*
 * fuzz_decode.c: a libFuzzer target for the ingest path of one record:
 * wire format, schema lookup, compatibility, bounds walk, Avro decode,
 * projection onto the newest TaskEvent, key check and semantic rules, all
 * behind bl_decoder_decode.
 *
 * The decoder is the one ingest builds, over the file registry of the test
 * fixtures (tests/fixtures/schemas: TaskEvent v1 and v2, foreign writers in
 * other shapes with ids 96 to 98, an incompatible one with id 99), with
 * small limits so the fuzzer reaches them. It is built once, on the first
 * input, and reused like a real ingest thread reuses it, so the schema
 * cache and the cached compatibility verdicts are exercised too.
 *
 * An input is a record: byte 0 chooses the key (0xFF: no key; otherwise its
 * length is byte 0 mod 32, capped by what follows), then come the key's
 * bytes, then the value. The key is copied into a buffer of its exact size
 * so that ASan sees a read past it, as it does past the value, which is the
 * end of libFuzzer's buffer.
 *
 * Each record is decoded twice: as ingest does (the direct read of the bytes
 * where the writer schema allows it) and on the generic path alone; the two
 * must accept and refuse the same records and decode the same events.
 *
 * Invariants, checked with abort() so libFuzzer reports a crash: a decoded
 * event keeps its contract (required ids present, every string, count and
 * payload within its limit whatever the event type, key == task_id, a
 * payload it has is not NULL) and every pointer in it can be read to its
 * end; a rejected record carries one of the decoder's DLQ reasons, a
 * non-empty NUL-terminated detail and the record's schema id, and is never
 * transient (there is no registry to be unavailable). Single-threaded, as
 * libFuzzer runs it.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contract/catalog.h"
#include "contract/decoder.h"
#include "contract/schemas.h"

#ifndef BL_FUZZ_FIXTURES_DIR
#define BL_FUZZ_FIXTURES_DIR "tests/fixtures"
#endif

#define KEY_ABSENT 0xFF
#define MESSAGE_MAX_BYTES 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *__lsan_default_options(void);

/*
 * avro-c puts a 4-byte reference count in front of every generic value, so
 * the pointers inside the values the schema cache keeps (a map's hash table,
 * an array's items) sit at addresses that are not 8-byte aligned. By default
 * LeakSanitizer scans only aligned words, misses them and reports the cache
 * as leaked; scanning unaligned words makes its verdict about real leaks.
 */
const char *__lsan_default_options(void) {
        return "use_unaligned=1";
}

static const char *const domains[] = {"model_inference", "evaluation", "data_preparation"};

static const bl_contract_rules_t rules = {
        .id_max_bytes = 64,
        .text_max_bytes = 256,
        .depends_on_max = 3,
        .labels_max = 4,
        .label_max_bytes = 32,
        .payload_max_bytes = 64,
        .domains = domains,
        .domain_count = 3,
};

static bl_catalog_t *catalog;
static bl_schemas_t *schemas;
static bl_decoder_t *decoder;
static bl_decoder_t *generic; /* the same, on the generic path alone: the two must agree */
static bl_schemas_t *generic_schemas;

/* A sink that keeps the compiler from dropping the reads below. */
static volatile size_t bytes_touched;

static void violated(const char *invariant, const bl_record_error_t *error) {
        fprintf(stderr, "fuzz_decode: invariant violated: %s (transient %d, reason %d, schema_id %d)\n", invariant,
                error ? (int)error->transient : -1, error ? (int)error->reason : -1,
                error ? (int)error->schema_id : -1);
        abort();
}

/* At exit, so that whatever LeakSanitizer still finds was lost by the decoder. */
static void destroy_decoder(void) {
        bl_decoder_destroy(decoder);
        bl_decoder_destroy(generic);
        bl_schemas_destroy(generic_schemas);
        bl_schemas_destroy(schemas);
        bl_catalog_destroy(catalog);
        decoder = NULL;
        schemas = NULL;
        catalog = NULL;
}

static void build_decoder(void) {
        char errstr[512], dir[1024];
        const char *fixtures = getenv("BACKLOGD_FIXTURES");
        atexit(destroy_decoder);
        snprintf(dir, sizeof(dir), "%s/schemas", fixtures && *fixtures ? fixtures : BL_FUZZ_FIXTURES_DIR);
        catalog = bl_catalog_load(dir, errstr, sizeof(errstr));
        if (!catalog) {
                fprintf(stderr, "fuzz_decode: catalog %s: %s\n", dir, errstr);
                exit(2);
        }
        schemas = bl_schemas_new(catalog, NULL, errstr, sizeof(errstr));
        decoder = schemas ? bl_decoder_new(schemas, &rules, MESSAGE_MAX_BYTES, errstr, sizeof(errstr)) : NULL;
        /* a cache of its own: a decode on the generic path fills the cache's value of the writer schema */
        generic_schemas = decoder ? bl_schemas_new(catalog, NULL, errstr, sizeof(errstr)) : NULL;
        generic = generic_schemas ? bl_decoder_new(generic_schemas, &rules, MESSAGE_MAX_BYTES, errstr, sizeof(errstr))
                                  : NULL;
        if (generic)
                bl_decoder_set_generic_only(generic, true);
        if (!decoder || !generic) {
                fprintf(stderr, "fuzz_decode: decoder: %s\n", errstr);
                exit(2);
        }
}

/*
 * Reads @p text to its end (ASan stops at a bad pointer) and checks it
 * against its bound: every size a record controls is bounded, whatever the
 * event type (SPEC §12).
 */
static void touch_text(const char *text, bool required, size_t max_bytes, const char *field) {
        size_t len;
        if (!text) {
                if (required)
                        violated(field, NULL);
                return;
        }
        len = strlen(text);
        if (len > max_bytes)
                violated(field, NULL);
        bytes_touched += len;
}

static void touch_event(const bl_task_event_t *event, const void *key, size_t key_size) {
        const size_t id_max = rules.id_max_bytes;
        if ((unsigned)event->event_type >= BL_EVENT__COUNT)
                violated("decoded event_type out of range", NULL);
        touch_text(event->event_id, true, id_max, "decoded event_id missing or too long");
        touch_text(event->task_id, true, id_max, "decoded task_id missing or too long");
        touch_text(event->producer, true, id_max, "decoded producer missing or too long");
        touch_text(event->tenant, false, id_max, "decoded tenant too long");
        touch_text(event->sla_class, false, id_max, "decoded sla_class too long");
        touch_text(event->task_type, false, id_max, "decoded task_type too long");
        touch_text(event->domain, false, id_max, "decoded domain too long");
        touch_text(event->dispatch_id, false, id_max, "decoded dispatch_id too long");
        touch_text(event->error_code, false, id_max, "decoded error.code too long");
        touch_text(event->error_message, false, rules.text_max_bytes, "decoded error.message too long");
        if (!key || key_size != strlen(event->task_id) || memcmp(key, event->task_id, key_size))
                violated("decoded event whose key is not its task_id", NULL);
        if (event->depends_on_count > rules.depends_on_max || event->label_count > rules.labels_max)
                violated("decoded event with more items than the limits", NULL);
        for (size_t i = 0; i < event->depends_on_count; i++)
                touch_text(event->depends_on[i], true, id_max, "decoded depends_on entry NULL or too long");
        for (size_t i = 0; i < event->label_count; i++) {
                touch_text(event->label_keys[i], true, rules.label_max_bytes, "decoded label key NULL or too long");
                touch_text(event->label_values[i], false, rules.label_max_bytes, "decoded label value too long");
        }
        if (event->has_payload) {
                const unsigned char *payload = event->payload;
                size_t sum = 0;
                /* avro-c hands even an empty bytes value a buffer: NULL means the payload was lost. */
                if (event->payload_size > rules.payload_max_bytes || !payload)
                        violated("decoded payload too long or without bytes", NULL);
                for (size_t i = 0; i < event->payload_size; i++)
                        sum += payload[i];
                bytes_touched += sum;
        }
}

/* The reasons a decoder may give; the others belong to the state machine. */
static int decoder_reason(bl_reason_t reason) {
        switch (reason) {
        case BL_REASON_DECODE_WIRE_FORMAT:
        case BL_REASON_DECODE_SCHEMA_UNKNOWN:
        case BL_REASON_DECODE_AVRO:
        case BL_REASON_CONTRACT_INCOMPATIBLE:
        case BL_REASON_CONTRACT_VIOLATION: return 1;
        default: return 0;
        }
}

static void check_error(const bl_record_error_t *error, const uint8_t *value, size_t value_size) {
        if (error->transient)
                violated("transient error with the file registry", error);
        if (!decoder_reason(error->reason) || !strcmp(bl_reason_name(error->reason), "unknown"))
                violated("error without a decoder DLQ reason", error);
        if (!memchr(error->detail, '\0', sizeof(error->detail)))
                violated("error detail not NUL-terminated", error);
        if (!error->detail[0])
                violated("error detail empty", error);
        /* The DLQ headers carry the writer's id once the header was read, -1 before. */
        if (error->reason == BL_REASON_DECODE_WIRE_FORMAT || value_size > MESSAGE_MAX_BYTES) {
                if (error->schema_id != -1)
                        violated("error names a schema_id before the header was read", error);
        } else {
                int32_t id = (int32_t)((uint32_t)value[1] << 24 | (uint32_t)value[2] << 16 |
                                       (uint32_t)value[3] << 8 | (uint32_t)value[4]);
                if (error->schema_id != id)
                        violated("error schema_id is not the record's", error);
        }
}

/*
 * The generic path (avro-c's values and the projection) accepts exactly what
 * the direct read accepted, into the same event: the counts, flags and
 * scalars compared here, the strings by content.
 */
static bool same_text(const char *a, const char *b) {
        return a == b || (a && b && !strcmp(a, b));
}

static void check_same_as_generic(const bl_task_event_t *direct, const bl_record_error_t *direct_error,
                                  const unsigned char *key, size_t key_size, const uint8_t *value, size_t value_size) {
        bl_task_event_t event;
        bl_record_error_t error;
        bool accepted = bl_decoder_decode(generic, key, key_size, value, value_size, &event, &error);
        if (accepted != (direct != NULL)) {
                fprintf(stderr, "fuzz_decode: the direct read %s the record (%s), the generic path %s it (%s)\n",
                        direct ? "accepted" : "refused", direct ? "" : direct_error->detail,
                        accepted ? "accepted" : "refused", accepted ? "" : error.detail);
                abort();
        }
        if (!direct)
                return;
        if (!same_text(direct->task_id, event.task_id) || !same_text(direct->event_id, event.event_id) ||
            direct->event_type != event.event_type || direct->occurred_at_ms != event.occurred_at_ms ||
            !same_text(direct->domain, event.domain) || !same_text(direct->task_type, event.task_type) ||
            direct->depends_on_count != event.depends_on_count || direct->label_count != event.label_count ||
            direct->has_payload != event.has_payload || direct->payload_size != event.payload_size ||
            direct->has_error != event.has_error || direct->has_attempt != event.has_attempt ||
            direct->attempt != event.attempt || direct->has_deadline != event.has_deadline ||
            direct->deadline_ms != event.deadline_ms) {
                fprintf(stderr, "fuzz_decode: the direct read and the generic path decoded different events\n");
                abort();
        }
        for (size_t i = 0; i < event.label_count; i++)
                if (!same_text(direct->label_keys[i], event.label_keys[i]) ||
                    !same_text(direct->label_values[i], event.label_values[i])) {
                        fprintf(stderr, "fuzz_decode: label %zu differs between the two paths\n", i);
                        abort();
                }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const uint8_t *value = NULL;
        size_t key_size = 0, value_size = 0;
        unsigned char *key = NULL;
        bl_task_event_t event;
        bl_record_error_t error;
        if (!decoder)
                build_decoder();
        if (size > 0) {
                if (data[0] != KEY_ABSENT) {
                        key_size = data[0] % 32;
                        if (key_size > size - 1)
                                key_size = size - 1;
                        key = malloc(key_size ? key_size : 1);
                        if (!key)
                                return 0;
                        memcpy(key, data + 1, key_size);
                }
                value = data + 1 + key_size;
                value_size = size - 1 - key_size;
                if (value_size == 0)
                        value = NULL;
        }
        memset(&error, 0xA5, sizeof(error)); /* the decoder must set all of it */
        bool accepted = bl_decoder_decode(decoder, key, key_size, value, value_size, &event, &error);
        if (accepted)
                touch_event(&event, key, key_size);
        else
                check_error(&error, value, value_size);
        check_same_as_generic(accepted ? &event : NULL, &error, key, key_size, value, value_size);
        free(key);
        return 0;
}
