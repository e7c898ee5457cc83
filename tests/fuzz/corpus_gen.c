/*
 * corpus_gen.c: writes the seed corpus of fuzz_decode
 * (tests/fuzz/corpus/decode/), so the seeds are reproducible rather than
 * opaque binaries.
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
 * Usage: corpus_gen <output dir>   (fixtures from BACKLOGD_FIXTURES or the
 * source tree). Run once by hand when the seeds must change; single-threaded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contract/catalog.h"
#include "contract/encode.h"
#include "contract/schemas.h"

#ifndef BL_FUZZ_FIXTURES_DIR
#define BL_FUZZ_FIXTURES_DIR "tests/fixtures"
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

int main(int argc, char **argv) {
        char errstr[512], fixtures_dir[1024];
        const char *fixtures = getenv("BACKLOGD_FIXTURES");
        bl_catalog_t *catalog;
        bl_schemas_t *schemas;
        int failures = 0;
        if (argc != 2) {
                fprintf(stderr, "usage: corpus_gen <output dir>\n");
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
        bl_schemas_destroy(schemas);
        bl_catalog_destroy(catalog);
        return failures ? 1 : 0;
}
