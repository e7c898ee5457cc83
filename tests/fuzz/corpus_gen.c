/*
 * corpus_gen.c: writes the seed corpora of fuzz_decode
 * (tests/fuzz/corpus/decode/) and fuzz_pipeline (tests/fuzz/corpus/pipeline/),
 * so the seeds are reproducible rather than opaque binaries.
 *
 * Valid records are JSON documents encoded with the same encoder as
 * `backlogd produce` (contract/encode.c) against the fixture catalog:
 * TaskEvent v1 and v2 (a SUBMITTED with depends_on, labels and payload, a
 * FAILED result with its error, and the other event types), and the foreign
 * writer with id 98. Poison records are spelled out byte by byte: too short,
 * wrong magic, unknown id 999, truncated, a length claiming more than the
 * data, id 99 (incompatible). Each file is in fuzz_decode's input format:
 * one byte choosing the key (0xFF: none; else its length), the key, then the
 * value.
 *
 * A pipeline seed is a sequence of steps in fuzz_pipeline's input format
 * (see fuzz_pipeline.c): the steps joined by its four-byte separator, each a
 * clock byte, a control byte, then a record as above. The sequences tell
 * stories: a full lifecycle ending in a purge and a refused late retry,
 * retries to exhaustion, a dependency chain that completes and one that
 * fails, poison among valid events, a task id that is not UTF-8, duplicates,
 * a deadline passed while a task waits for approval, an approval, a task
 * given up, notices held back, restarts in the middle of it all, a record
 * the DLQ takes only as record.too_large. A '~' in a step marked not_utf8
 * becomes the byte 0xFF after encoding (JSON cannot carry it).
 *
 * A records seed (fuzz_records, tests/fuzz/corpus/records/) is a whole
 * BacklogItem value as bl_records_item encodes it with the contracts in
 * schemas/: a full item, a placeholder, a terminal one with its last error,
 * one with more labels than the direct read takes (the generic way), and a
 * full one cut in half.
 *
 * Usage: corpus_gen <decode dir> [<pipeline dir> [<records dir>]]   (fixtures
 * from BACKLOGD_FIXTURES or the source tree, contracts from BACKLOGD_SCHEMAS or
 * the source tree's schemas/). Run once by hand when the seeds
 * must change; single-threaded. Files named regress-* are inputs that found
 * bugs, kept byte for byte: this program neither writes nor removes them.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contract/catalog.h"
#include "contract/encode.h"
#include "contract/records.h"
#include "contract/schemas.h"

#ifndef BL_FUZZ_FIXTURES_DIR
#define BL_FUZZ_FIXTURES_DIR "tests/fixtures"
#endif
#ifndef BL_FUZZ_SCHEMAS_DIR
#define BL_FUZZ_SCHEMAS_DIR "schemas"
#endif

#define KEY_ABSENT 0xFF

typedef struct valid_seed_s {
        const char *name;
        int32_t schema_id;
        const char *key; /* NULL: the record has no key */
        const char *json;
} valid_seed_t;

static const valid_seed_t valid_seeds[] = {
        {"v2-submitted-full", 2, "t-1",
         "{\"event_id\": \"e-1\", \"task_id\": \"t-1\", \"event_type\": \"SUBMITTED\","
         " \"occurred_at\": \"2026-11-28T07:00:00.250Z\", \"producer\": \"svc\", \"tenant\": \"acme\","
         " \"sla_class\": \"premium\", \"task_type\": \"infer\", \"domain\": \"evaluation\","
         " \"business_value\": 0.75, \"risk\": 0.25, \"deadline\": 1795900000000, \"not_before\": 1795850000000,"
         " \"data_ready_at\": 1795849000000, \"depends_on\": [\"t-0\", \"t-9\"], \"max_attempts\": 3,"
         " \"labels\": {\"team\": \"ml\", \"tier\": \"gold\"}, \"payload\": {\"base64\": \"AAEC/w==\"}}"},
        {"v1-submitted", 1, "t-1",
         "{\"event_id\": \"e-2\", \"task_id\": \"t-1\", \"event_type\": \"SUBMITTED\", \"occurred_at\": 1000,"
         " \"producer\": \"svc\", \"task_type\": \"prep\", \"domain\": \"data_preparation\","
         " \"business_value\": 0.5, \"risk\": 0, \"depends_on\": [\"t-0\"], \"labels\": {\"k\": \"v\"},"
         " \"payload\": \"abc\"}"},
        {"v2-failed-error", 2, "t-1",
         "{\"event_id\": \"e-3\", \"task_id\": \"t-1\", \"event_type\": \"FAILED\", \"occurred_at\": 2000,"
         " \"producer\": \"worker-1\", \"attempt\": 2, \"dispatch_id\": \"d-7\","
         " \"error\": {\"code\": \"OOM\", \"message\": \"out of memory\", \"retryable\": true}}"},
        {"v1-failed-error", 1, "t-1",
         "{\"event_id\": \"e-4\", \"task_id\": \"t-1\", \"event_type\": \"FAILED\", \"occurred_at\": 2000,"
         " \"producer\": \"worker-1\", \"attempt\": 1, \"dispatch_id\": \"d-1\","
         " \"error\": {\"code\": \"BAD_INPUT\", \"message\": \"\", \"retryable\": false}}"},
        {"v2-completed", 2, "t-1",
         "{\"event_id\": \"e-5\", \"task_id\": \"t-1\", \"event_type\": \"COMPLETED\", \"occurred_at\": 3000,"
         " \"producer\": \"worker-1\", \"attempt\": 1, \"dispatch_id\": \"d-1\"}"},
        {"v2-heartbeat", 2, "t-1",
         "{\"event_id\": \"e-6\", \"task_id\": \"t-1\", \"event_type\": \"HEARTBEAT\", \"occurred_at\": 2500,"
         " \"producer\": \"worker-1\", \"attempt\": 1, \"dispatch_id\": \"d-1\"}"},
        {"v2-updated", 2, "t-1",
         "{\"event_id\": \"e-7\", \"task_id\": \"t-1\", \"event_type\": \"UPDATED\", \"occurred_at\": 1500,"
         " \"producer\": \"svc\", \"risk\": 0.9, \"deadline\": 9000, \"labels\": {\"a\": \"b\"}}"},
        {"v2-cancelled", 2, "t-1",
         "{\"event_id\": \"e-8\", \"task_id\": \"t-1\", \"event_type\": \"CANCELLED\", \"occurred_at\": 4000,"
         " \"producer\": \"svc\"}"},
        {"writer98-promoted", 98, "t-1",
         "{\"task_id\": \"t-1\", \"event_id\": \"e-9\", \"extra\": \"ignored\", \"producer\": \"a-team\","
         " \"event_type\": \"SUBMITTED\", \"occurred_at\": 5, \"task_type\": \"x\", \"domain\": \"model_inference\","
         " \"business_value\": 0.5, \"risk\": 1}"},
        {"writer96-shuffled", 96, "t-1",
         "{\"trace\": {\"span\": 0.125, \"tags\": [{\"a\": 1}], \"sampled\": true},"
         " \"domain\": \"evaluation\", \"task_id\": \"t-1\", \"labels\": {\"team\": \"ml\", \"tier\": \"gold\"},"
         " \"event_type\": \"SUBMITTED\", \"any\": [1.5], \"event_id\": \"e-11\", \"occurred_at\": 5,"
         " \"producer\": \"p\", \"depends_on\": [\"t-0\"], \"task_type\": \"x\", \"business_value\": 0.5,"
         " \"risk\": 1, \"weight\": 2.5, \"deadline\": 9, \"max_attempts\": null, \"payload\": \"hi\","
         " \"error\": {\"retryable\": true, \"detail\": null, \"message\": \"m\", \"code\": \"c\"},"
         " \"attempt\": 1, \"state\": \"BUSY\"}"},
        {"v2-no-key", 2, NULL,
         "{\"event_id\": \"e-10\", \"task_id\": \"t-1\", \"event_type\": \"APPROVED\", \"occurred_at\": 1,"
         " \"producer\": \"svc\"}"},
        {"v2-key-mismatch", 2, "t-2",
         "{\"event_id\": \"e-11\", \"task_id\": \"t-1\", \"event_type\": \"APPROVED\", \"occurred_at\": 1,"
         " \"producer\": \"svc\"}"},
        {"v2-too-many-depends-on", 2, "t-1",
         "{\"event_id\": \"e-12\", \"task_id\": \"t-1\", \"event_type\": \"SUBMITTED\", \"occurred_at\": 1,"
         " \"producer\": \"svc\", \"task_type\": \"x\", \"domain\": \"evaluation\", \"business_value\": 0,"
         " \"risk\": 0, \"depends_on\": [\"a\", \"b\", \"c\", \"d\"]}"},
        {"v2-payload-over-limit", 2, "t-1",
         "{\"event_id\": \"e-13\", \"task_id\": \"t-1\", \"event_type\": \"UPDATED\", \"occurred_at\": 1,"
         " \"producer\": \"svc\", \"payload\": \"0123456789012345678901234567890123456789012345678901234567890123+\"}"},
};

typedef struct poison_seed_s {
        const char *name;
        unsigned char bytes[24];
        size_t size;
} poison_seed_t;

/* Byte 0 = 3: the key "t-1"; the value starts at byte 4. */
static const poison_seed_t poison_seeds[] = {
        {"poison-short", {3, 't', '-', '1', 0, 0, 0}, 7},
        {"poison-wrong-magic", {3, 't', '-', '1', 1, 0, 0, 0, 2, 0}, 10},
        {"poison-unknown-id-999", {3, 't', '-', '1', 0, 0, 0, 3, 0xE7, 2, 'x'}, 11},
        /* event_id "e", then task_id claims 2^40 bytes. */
        {"poison-huge-length", {3, 't', '-', '1', 0, 0, 0, 0, 2, 2, 'e', 0x80, 0x80, 0x80, 0x80, 0x80, 0x40, 't'}, 18},
        /* id 99: task_id is an int, which no reader can make a string of. */
        {"poison-id-99-incompatible", {3, 't', '-', '1', 0, 0, 0, 0, 99, 2, 'e', 2, 0, 0, 2, 'p'}, 16},
        /* id 98, cut inside its third string. */
        {"poison-id-98-truncated", {3, 't', '-', '1', 0, 0, 0, 0, 98, 6, 't', '-', '1', 2, 'e', 20, 'x'}, 17},
};

static int write_seed(const char *dir, const char *name, const unsigned char *bytes, size_t size) {
        char path[1024];
        FILE *file;
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        file = fopen(path, "wb");
        if (!file || fwrite(bytes, 1, size, file) != size || fclose(file)) {
                perror(path);
                return -1;
        }
        return 0;
}

static int write_valid_seed(bl_schemas_t *schemas, const char *dir, const valid_seed_t *seed) {
        char errstr[512];
        unsigned char *value = NULL, *record;
        size_t value_size = 0, key_size = seed->key ? strlen(seed->key) : 0;
        bl_schema_t *schema;
        json_error_t json_error;
        json_t *document = json_loads(seed->json, 0, &json_error);
        int rc = -1;
        if (!document) {
                fprintf(stderr, "%s: %s\n", seed->name, json_error.text);
                return -1;
        }
        if (bl_schemas_get(schemas, seed->schema_id, &schema, errstr, sizeof(errstr)) ||
            bl_encode_json(schema, seed->schema_id, document, &value, &value_size, errstr, sizeof(errstr))) {
                fprintf(stderr, "%s: %s\n", seed->name, errstr);
                goto done;
        }
        record = malloc(1 + key_size + value_size);
        if (!record)
                goto done;
        record[0] = seed->key ? (unsigned char)key_size : KEY_ABSENT;
        memcpy(record + 1, seed->key ? seed->key : "", key_size);
        memcpy(record + 1 + key_size, value, value_size);
        rc = write_seed(dir, seed->name, record, 1 + key_size + value_size);
        free(record);
done:
        free(value);
        json_decref(document);
        return rc;
}

/* ---- fuzz_pipeline's seeds: sequences of steps ----------------------------------- */

#define PIPELINE_SEPARATOR "\xFE\xFF\xB1\x0C"
#define PIPELINE_SEPARATOR_SIZE 4
#define PIPELINE_STEPS_MAX 12

/* Control bits of fuzz_pipeline.c: the low three bits are how many tasks per domain are dispatched. */
#define RESULTS 0x08
#define GIVE_UP 0x10
#define TRACEPARENT 0x20
#define HOLD_NOTICES 0x40
#define RESTART 0x80

/* Clock bytes: (b & 63) << 5 * (b >> 6) ms. */
#define NOW 0x00
#define MS_32 0x41
#define MS_2048 0x82
#define MS_65536 0xC2 /* past the 60 s retention */

typedef struct pipeline_step_s {
        unsigned char clock;
        unsigned char control;
        const char *key;  /* NULL: no key; with neither json nor raw nor key, a step without a record */
        const char *json; /* a TaskEvent v2 document */
        const unsigned char *raw;
        size_t raw_size;
        bool not_utf8;    /* every '~' of key and value becomes 0xFF */
        size_t long_producer; /* > 0: the producer is a string of this many bytes */
} pipeline_step_t;

typedef struct pipeline_seed_s {
        const char *name;
        pipeline_step_t steps[PIPELINE_STEPS_MAX];
} pipeline_seed_t;

/* The seeds' times sit at fuzz_pipeline's CLOCK_START_MS, 1795900000000. */
#define SUBMIT(id, event, more)                                                                                        \
        "{\"event_id\": \"" event "\", \"task_id\": \"" id "\", \"event_type\": \"SUBMITTED\","                         \
        " \"occurred_at\": 1795900000000, \"producer\": \"svc\", \"task_type\": \"infer\","                              \
        " \"domain\": \"model_inference\", \"business_value\": 0.5, \"risk\": 0.1" more "}"
#define RESULT(type, id, event, attempt, more)                                                                         \
        "{\"event_id\": \"" event "\", \"task_id\": \"" id "\", \"event_type\": \"" type "\","                          \
        " \"occurred_at\": 1795900001000, \"producer\": \"worker-1\", \"attempt\": " attempt ","                        \
        " \"dispatch_id\": \"" id "/" attempt "\"" more "}"
#define PRODUCER_EVENT(type, id, event, more)                                                                          \
        "{\"event_id\": \"" event "\", \"task_id\": \"" id "\", \"event_type\": \"" type "\","                          \
        " \"occurred_at\": 1795900000500, \"producer\": \"svc\"" more "}"
#define RETRYABLE ", \"error\": {\"code\": \"OOM\", \"message\": \"out of memory\", \"retryable\": true}"
#define FATAL ", \"error\": {\"code\": \"BAD_INPUT\", \"message\": \"bad input\", \"retryable\": false}"

static const unsigned char wrong_magic[] = {1, 0, 0, 0, 2, 0};
static const unsigned char unknown_id[] = {0, 0, 0, 3, 0xE7, 2, 'x'};

static const pipeline_seed_t pipeline_seeds[] = {
        {"lifecycle-purge-late-retry",
         {{NOW, 1 | TRACEPARENT, "t-1", SUBMIT("t-1", "e-1", ", \"labels\": {\"team\": \"ml\"},"
                                                              " \"payload\": {\"base64\": \"AAEC/w==\"}")},
          {MS_32, RESULTS, "t-1", RESULT("STARTED", "t-1", "e-2", "1", "")},
          {MS_32, RESULTS, "t-1", RESULT("HEARTBEAT", "t-1", "e-3", "1", "")},
          {MS_32, RESULTS, "t-1", RESULT("COMPLETED", "t-1", "e-4", "1", "")},
          {MS_65536, 0},
          {MS_32, 1, "t-1", SUBMIT("t-1", "e-1", "")}}},
        {"retries-exhausted",
         {{NOW, 1, "t-2", SUBMIT("t-2", "e-1", ", \"max_attempts\": 2")},
          {MS_32, RESULTS, "t-2", RESULT("FAILED", "t-2", "e-2", "1", RETRYABLE)},
          {MS_2048, 1},
          {MS_32, RESULTS, "t-2", RESULT("STARTED", "t-2", "e-3", "2", "")},
          {MS_2048, 1}}},
        {"dependency-chain",
         {{NOW, 0, "t-b", SUBMIT("t-b", "e-1", ", \"depends_on\": [\"t-a\"]")},
          {MS_32, 0, "t-c", SUBMIT("t-c", "e-2", ", \"depends_on\": [\"t-b\"], \"domain\": \"evaluation\"")},
          {MS_32, 1, "t-a", SUBMIT("t-a", "e-3", "")},
          {MS_32, RESULTS | 1, "t-a", RESULT("COMPLETED", "t-a", "e-4", "1", "")},
          {MS_32, RESULTS | 1, "t-b", RESULT("FAILED", "t-b", "e-5", "1", FATAL)},
          {MS_65536, 1}}},
        {"poison-mixed",
         {{NOW, 1, "t-1", SUBMIT("t-1", "e-1", "")},
          {MS_32, 0, "t-1", NULL, wrong_magic, sizeof(wrong_magic)},
          {MS_32, RESULTS, "t-1", NULL, unknown_id, sizeof(unknown_id)},
          {MS_32, 0, "t-1", PRODUCER_EVENT("UPDATED", "t-1", "e-2", ", \"risk\": 0.95, \"labels\": {\"a\": \"b\"}")},
          {MS_32, 1, "t-2", SUBMIT("t-2", "e-3", ", \"risk\": 0.95")},
          {MS_32, 1, "t-2", PRODUCER_EVENT("APPROVED", "t-2", "e-4", "")},
          {MS_32, 0, "t-1", PRODUCER_EVENT("CANCELLED", "t-1", "e-5", "")},
          {MS_32, RESULTS, "t-9", RESULT("STARTED", "t-9", "e-6", "1", "")}}},
        {"task-id-not-utf8",
         {{NOW, 1, "t-~", SUBMIT("t-~", "e-1", ""), NULL, 0, true},
          {MS_32, 1, "t-1", SUBMIT("t-~", "e-2", ""), NULL, 0, true},
          {MS_32, 1, "t-3", SUBMIT("t-3", "e-3", ", \"labels\": {\"k~\": \"v\"}"), NULL, 0, true},
          {MS_32, 1, "t-4", SUBMIT("t-4", "e-4", ", \"depends_on\": [\"t-~\"]"), NULL, 0, true},
          {MS_32, 1, "t-5", SUBMIT("t-5", "e-~", ""), NULL, 0, true}}},
        {"duplicates",
         {{NOW, 1, "t-1", SUBMIT("t-1", "e-1", "")},
          {MS_32, 1, "t-1", SUBMIT("t-1", "e-1", "")},
          {MS_32, 1, "t-1", SUBMIT("t-1", "e-9", "")},
          {MS_32, RESULTS, "t-1", RESULT("STARTED", "t-1", "e-2", "1", "")},
          {MS_32, RESULTS, "t-1", RESULT("STARTED", "t-1", "e-2", "1", "")},
          {MS_32, RESULTS, "t-1", RESULT("COMPLETED", "t-1", "e-3", "2", "")},
          {MS_32, RESULTS, "t-1", RESULT("COMPLETED", "t-1", "e-4", "1", "")},
          {MS_32, RESULTS, "t-1", RESULT("COMPLETED", "t-1", "e-4", "1", "")}}},
        {"deadline-expired",
         {{NOW, 1, "t-5", SUBMIT("t-5", "e-1", ", \"risk\": 0.95, \"deadline\": 1795900001500")},
          {MS_2048, 1}}},
        {"given-up",
         {{NOW, 1, "t-6", SUBMIT("t-6", "e-1", "")},
          {MS_32, GIVE_UP, "t-6"},
          {MS_32, GIVE_UP, "t-6"},
          {MS_32, 1, "t-6", SUBMIT("t-6", "e-1", "")}}},
        {"notices-held",
         {{NOW, HOLD_NOTICES, "t-b", SUBMIT("t-b", "e-1", ", \"depends_on\": [\"t-a\", \"t-z\"]")},
          {MS_32, HOLD_NOTICES, "t-a", SUBMIT("t-a", "e-2", "")},
          {MS_32, HOLD_NOTICES, "t-a", PRODUCER_EVENT("CANCELLED", "t-a", "e-3", "")},
          {MS_32, 1}}},
        {"restarts",
         {{NOW, 1, "t-b", SUBMIT("t-b", "e-1", ", \"depends_on\": [\"t-a\"]")},
          {MS_32, 1, "t-a", SUBMIT("t-a", "e-2", "")},
          {MS_32, RESTART | RESULTS, "t-a", RESULT("STARTED", "t-a", "e-3", "1", "")},
          {MS_32, RESTART | RESULTS | 1, "t-a", RESULT("COMPLETED", "t-a", "e-4", "1", "")},
          {MS_2048, RESTART | 1},
          {MS_65536, RESTART | 1},
          {MS_32, RESTART | 1, "t-a", SUBMIT("t-a", "e-2", "")}}},
        {"letter-too-large",
         {{NOW, 1, "t-7", SUBMIT("t-7", "e-1", ""), NULL, 0, false, 3100}}},
};

/* Appends @p size bytes to the growing @p buffer; false when out of memory. */
static bool append(unsigned char **buffer, size_t *size, const void *bytes, size_t count) {
        unsigned char *grown = realloc(*buffer, *size + count + 1);
        if (!grown)
                return false;
        memcpy(grown + *size, bytes, count);
        *buffer = grown;
        *size += count;
        return true;
}

/* The step's record value: its JSON encoded as TaskEvent v2, or its raw bytes. */
static int step_value(bl_schemas_t *schemas, const pipeline_step_t *step, unsigned char **value, size_t *value_size) {
        char errstr[512];
        bl_schema_t *schema;
        json_error_t json_error;
        json_t *document;
        int rc = -1;
        if (!step->json) {
                *value = malloc(step->raw_size + 1);
                memcpy(*value, step->raw ? (const void *)step->raw : "", step->raw_size);
                *value_size = step->raw_size;
                return *value ? 0 : -1;
        }
        if (!(document = json_loads(step->json, 0, &json_error))) {
                fprintf(stderr, "%s: %s\n", step->json, json_error.text);
                return -1;
        }
        if (step->long_producer) {
                char *producer = malloc(step->long_producer + 1);
                memset(producer, 'p', step->long_producer);
                producer[step->long_producer] = '\0';
                json_object_set_new(document, "producer", json_string(producer));
                free(producer);
        }
        if (bl_schemas_get(schemas, 2, &schema, errstr, sizeof(errstr)) ||
            bl_encode_json(schema, 2, document, value, value_size, errstr, sizeof(errstr)))
                fprintf(stderr, "%s: %s\n", step->json, errstr);
        else
                rc = 0;
        json_decref(document);
        return rc;
}

static int append_step(bl_schemas_t *schemas, const pipeline_step_t *step, unsigned char **seed, size_t *size) {
        unsigned char head[3] = {step->clock, step->control, step->key ? (unsigned char)strlen(step->key) : KEY_ABSENT};
        unsigned char *value = NULL;
        size_t value_size = 0, record_at;
        bool record = step->key || step->json || step->raw;
        if (!append(seed, size, head, record ? 3 : 2))
                return -1;
        record_at = *size;
        if (record && ((step->json || step->raw) && step_value(schemas, step, &value, &value_size)))
                return -1;
        bool ok = !record || (append(seed, size, step->key ? step->key : "", step->key ? strlen(step->key) : 0) &&
                              append(seed, size, value ? value : (unsigned char *)"", value_size));
        free(value);
        for (size_t i = record_at; ok && step->not_utf8 && i < *size; i++)
                if ((*seed)[i] == '~')
                        (*seed)[i] = 0xFF;
        return ok ? 0 : -1;
}

static int write_pipeline_seed(bl_schemas_t *schemas, const char *dir, const pipeline_seed_t *seed) {
        unsigned char *bytes = NULL;
        size_t size = 0;
        int rc = 0;
        for (size_t i = 0; rc == 0 && i < PIPELINE_STEPS_MAX && (seed->steps[i].clock || seed->steps[i].control ||
                                                                  seed->steps[i].key || i == 0); i++) {
                if (i > 0 && !append(&bytes, &size, PIPELINE_SEPARATOR, PIPELINE_SEPARATOR_SIZE))
                        rc = -1;
                if (rc == 0)
                        rc = append_step(schemas, &seed->steps[i], &bytes, &size);
        }
        if (rc == 0)
                rc = write_seed(dir, seed->name, bytes, size);
        else
                fprintf(stderr, "%s: cannot build the seed\n", seed->name);
        free(bytes);
        return rc;
}

/* ---- fuzz_records seeds ------------------------------------------------------------ */

/* A snapshot with a bit of everything, or with @p label_count labels besides. */
static bl_item_t *seed_item(const char *task_id, bl_state_t state, size_t label_count) {
        static const char *const keys[] = {"team", "env"}, *const values[] = {"ml", "prod"};
        bl_item_t *item = bl_item_new_of_kind(task_id, 3, "train", "model_inference", "acme", "gold");
        bl_item_cold_t cold = {0};
        char many_keys[24][16], many_values[24][16];
        const char *many_key_texts[24], *many_value_texts[24];
        bool ok = item != NULL;
        if (!ok)
                return NULL;
        item->state = state;
        item->seq = 7;
        item->attempt = 2;
        item->business_value = 0.75;
        item->risk = 0.1;
        item->submitted_at_ms = 1767225600000;
        item->state_since_ms = 1767225660000;
        item->deadline_ms = 1767229200000;
        item->payload = malloc(50);
        if ((ok = item->payload != NULL)) {
                memset(item->payload, 'p', 50);
                item->payload_size = 50;
                item->has_payload = true;
        }
        ok = ok && bl_strvec_push(&cold.depends_on, "t-before") && bl_strvec_push(&cold.dependents, "t-after") &&
             bl_item_replace_text(&cold.traceparent, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        for (size_t i = 0; i < label_count && i < 24; i++) {
                snprintf(many_keys[i], sizeof(many_keys[i]), "key-%zu", i);
                snprintf(many_values[i], sizeof(many_values[i]), "value-%zu", i);
                many_key_texts[i] = many_keys[i];
                many_value_texts[i] = many_values[i];
        }
        ok = ok && (label_count ? bl_labels_set(&cold.labels, many_key_texts, many_value_texts, label_count)
                                : bl_labels_set(&cold.labels, keys, values, 2));
        if (ok && bl_state_is_terminal(state)) {
                cold.has_last_error = true;
                ok = bl_item_replace_text(&cold.error_code, "worker.oom") &&
                     bl_item_replace_text(&cold.error_message, "killed");
        }
        ok = ok && bl_item_adopt_cold(item, &cold) &&
             bl_item_remember_event(item, "8d0f6a4e-0d8b-4c36-9a57-1f7c62e8a001", 32) &&
             bl_item_remember_event(item, "8d0f6a4e-0d8b-4c36-9a57-1f7c62e8a002", 32);
        bl_item_cold_clear(&cold);
        if (!ok) {
                bl_item_destroy(item);
                return NULL;
        }
        return item;
}

static int write_item_seed(bl_records_t *records, const char *dir, const char *name, bl_item_t *item, bool cut) {
        const void *value;
        size_t size;
        int failed = !item || bl_records_item(records, item, true, &value, &size) != BL_OK;
        if (!failed)
                failed = write_seed(dir, name, value, cut ? size / 2 : size);
        bl_item_destroy(item);
        return failed;
}

static int write_records_seeds(const char *dir) {
        char errstr[512];
        const char *schemas_dir = getenv("BACKLOGD_SCHEMAS");
        bl_catalog_t *catalog = bl_catalog_load(schemas_dir && *schemas_dir ? schemas_dir : BL_FUZZ_SCHEMAS_DIR,
                                                errstr, sizeof(errstr));
        bl_schemas_t *schemas = catalog ? bl_schemas_new(catalog, NULL, errstr, sizeof(errstr)) : NULL;
        bl_records_t *records = schemas ? bl_records_new(schemas, NULL, "corpus_gen", errstr, sizeof(errstr)) : NULL;
        int failures = 0;
        bl_item_t *placeholder = bl_item_new("t-placeholder", 0);
        if (!records) {
                fprintf(stderr, "records: %s\n", errstr);
                failures = 1;
        } else {
                if (placeholder)
                        placeholder->placeholder = true;
                failures += write_item_seed(records, dir, "item-full", seed_item("t-full", BL_STATE_READY, 0), false);
                failures += write_item_seed(records, dir, "item-placeholder", placeholder, false);
                placeholder = NULL;
                failures += write_item_seed(records, dir, "item-dead-with-error", seed_item("t-dead", BL_STATE_DEAD, 0),
                                            false);
                failures += write_item_seed(records, dir, "item-24-labels", seed_item("t-labels", BL_STATE_BLOCKED, 24),
                                            false);
                failures += write_item_seed(records, dir, "poison-item-cut-in-half",
                                            seed_item("t-cut", BL_STATE_RUNNING, 0), true);
        }
        bl_item_destroy(placeholder);
        bl_records_destroy(records);
        bl_schemas_destroy(schemas);
        bl_catalog_destroy(catalog);
        return failures;
}

int main(int argc, char **argv) {
        char errstr[512], fixtures_dir[1024];
        const char *fixtures = getenv("BACKLOGD_FIXTURES");
        bl_catalog_t *catalog;
        bl_schemas_t *schemas;
        int failures = 0;
        if (argc < 2 || argc > 4) {
                fprintf(stderr, "usage: corpus_gen <decode dir> [<pipeline dir> [<records dir>]]\n");
                return 2;
        }
        snprintf(fixtures_dir, sizeof(fixtures_dir), "%s/schemas",
                 fixtures && *fixtures ? fixtures : BL_FUZZ_FIXTURES_DIR);
        catalog = bl_catalog_load(fixtures_dir, errstr, sizeof(errstr));
        if (!catalog) {
                fprintf(stderr, "catalog: %s\n", errstr);
                return 1;
        }
        schemas = bl_schemas_new(catalog, NULL, errstr, sizeof(errstr));
        if (!schemas) {
                fprintf(stderr, "schemas: %s\n", errstr);
                bl_catalog_destroy(catalog);
                return 1;
        }
        for (size_t i = 0; i < sizeof(valid_seeds) / sizeof(valid_seeds[0]); i++)
                failures += write_valid_seed(schemas, argv[1], &valid_seeds[i]) != 0;
        for (size_t i = 0; i < sizeof(poison_seeds) / sizeof(poison_seeds[0]); i++)
                failures += write_seed(argv[1], poison_seeds[i].name, poison_seeds[i].bytes,
                                       poison_seeds[i].size) != 0;
        for (size_t i = 0; argc >= 3 && i < sizeof(pipeline_seeds) / sizeof(pipeline_seeds[0]); i++)
                failures += write_pipeline_seed(schemas, argv[2], &pipeline_seeds[i]) != 0;
        if (argc == 4)
                failures += write_records_seeds(argv[3]);
        bl_schemas_destroy(schemas);
        bl_catalog_destroy(catalog);
        return failures ? 1 : 0;
}
