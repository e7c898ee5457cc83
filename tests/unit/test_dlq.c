/*
 * test_dlq.c: a dead letter keeps the original key, value and headers byte
 * for byte, and its dlq.detail header is valid UTF-8 without control
 * characters whatever input the detail quotes.
 */
#include <jansson.h>
#include <stdlib.h>

#include "check.h"
#include "base/text.h"
#include "pipeline/dlq.h"

typedef struct captured_s {
        char *key;
        size_t key_size;
        rd_kafka_headers_t *headers;
} captured_t;

static rd_kafka_resp_err_t capture(void *opaque, const char *topic, const void *key, size_t key_size,
                                   const void *value, size_t value_size, rd_kafka_headers_t *headers) {
        captured_t *captured = opaque;
        (void)topic, (void)value, (void)value_size;
        captured->key = malloc(key_size ? key_size : 1);
        memcpy(captured->key, key, key_size);
        captured->key_size = key_size;
        captured->headers = headers;
        return RD_KAFKA_RESP_ERR_NO_ERROR;
}

/* The value of header @p name as a C string, copied into out. */
static const char *header(const rd_kafka_headers_t *headers, const char *name, char *out, size_t out_size) {
        const void *value;
        size_t size;
        if (rd_kafka_header_get_last(headers, name, &value, &size) || size >= out_size)
                return NULL;
        memcpy(out, value, size);
        out[size] = '\0';
        return out;
}

/* Regression (issue 12): a detail quoting input bytes went into dlq.detail raw. */
static void test_detail_is_utf8_without_control_characters(void) {
        captured_t captured = {0};
        bl_dlq_t *dlq = bl_dlq_new(capture, &captured, "backlog.dlq", "backlogd test");
        bl_dlq_original_t original = {"tasks.events", 2, 41, 1000, "t\xff", 2, "v", 1, NULL};
        bl_record_error_t failure;
        char errstr[128], detail[1024];
        json_t *as_json;
        bl_record_error_clear(&failure);
        bl_record_error_set(&failure, BL_REASON_CONTRACT_VIOLATION, "labels.te\nam\xc3: not valid UTF-8 at byte %d", 3);
        CHECK(bl_dlq_send(dlq, &original, "ingest", &failure, 1, errstr, sizeof(errstr)) == BL_OK);
        CHECK(captured.headers != NULL);
        if (captured.headers) {
                CHECK_STR(header(captured.headers, "dlq.detail", detail, sizeof(detail)),
                          "labels.te\\x0aam\\xc3: not valid UTF-8 at byte 3");
                CHECK(bl_text_utf8_valid(detail, strlen(detail), NULL));
                as_json = json_string(detail); /* jansson refuses a string that is not UTF-8 */
                CHECK(as_json != NULL);
                json_decref(as_json);
                CHECK_STR(header(captured.headers, "dlq.reason", detail, sizeof(detail)), "contract.violation");
                rd_kafka_headers_destroy(captured.headers);
        }
        CHECK(captured.key_size == 2 && !memcmp(captured.key, "t\xff", 2)); /* the key stays byte for byte */
        CHECK_INT(bl_dlq_count(dlq, BL_REASON_CONTRACT_VIOLATION), 1);
        free(captured.key);
        bl_dlq_destroy(dlq);
}

int main(void) {
        RUN(test_detail_is_utf8_without_control_characters);
        return check_exit_status();
}
