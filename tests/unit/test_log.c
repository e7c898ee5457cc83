/*
 * test_log.c: log lines are single JSON objects with level and module,
 * levels filter, and escaping keeps the line valid JSON whatever the message.
 */
#include <jansson.h>
#include <stdlib.h>

#include "check.h"
#include "ops/log.h"

/* Logs one line into a memory stream and parses it back. */
static json_t *log_and_parse(bl_log_level_t level, const char *module, const char *message) {
        char *buffer = NULL;
        size_t size = 0;
        FILE *memory = open_memstream(&buffer, &size);
        json_t *line;
        bl_log_set_output(memory);
        bl_log(level, module, "%s", message);
        bl_log_set_output(NULL);
        fclose(memory);
        line = size ? json_loads(buffer, 0, NULL) : NULL;
        CHECK(size == 0 || buffer[size - 1] == '\n');
        CHECK(size == 0 || strchr(buffer, '\n') == buffer + size - 1);
        free(buffer);
        return line;
}

static void test_line_is_json_with_fields(void) {
        json_t *line = log_and_parse(BL_LOG_WARN, "topics", "partition \"3\"\n\tnext\x01 é");
        CHECK(line != NULL);
        CHECK_STR(json_string_value(json_object_get(line, "level")), "warn");
        CHECK_STR(json_string_value(json_object_get(line, "module")), "topics");
        CHECK_STR(json_string_value(json_object_get(line, "msg")), "partition \"3\"\n\tnext\x01 é");
        CHECK(json_string_length(json_object_get(line, "ts")) == strlen("2026-11-28T07:31:47.123Z"));
        json_decref(line);
}

static void test_level_filters(void) {
        bl_log_set_level(BL_LOG_WARN);
        CHECK(log_and_parse(BL_LOG_INFO, "x", "dropped") == NULL);
        json_t *line = log_and_parse(BL_LOG_ERROR, "x", "kept");
        CHECK(line != NULL);
        json_decref(line);
        bl_log_set_level(BL_LOG_INFO);
}

static void test_level_names(void) {
        bl_log_level_t level;
        CHECK(bl_log_level_parse("debug", &level) && level == BL_LOG_DEBUG);
        CHECK(bl_log_level_parse("error", &level) && level == BL_LOG_ERROR);
        CHECK(!bl_log_level_parse("verbose", &level));
        CHECK(!bl_log_level_parse(NULL, &level));
}

static void test_long_message_is_cut_and_valid(void) {
        char message[5000];
        memset(message, 'a', sizeof(message) - 1);
        message[sizeof(message) - 1] = '\0';
        json_t *line = log_and_parse(BL_LOG_INFO, "x", message);
        CHECK(line != NULL);
        CHECK(json_string_length(json_object_get(line, "msg")) < sizeof(message));
        json_decref(line);
}

static void test_escape_never_splits_utf8(void) {
        char out[6];
        /* "ab" then a 3-byte character that does not fit: it must go whole. */
        CHECK_INT(bl_log_json_escape(out, sizeof(out), "ab\xe2\x82\xac"), 2 + 3);
        char tiny[5];
        CHECK_INT(bl_log_json_escape(tiny, sizeof(tiny), "ab\xe2\x82\xac"), 2);
        CHECK_STR(tiny, "ab");
        char quote[3];
        CHECK_INT(bl_log_json_escape(quote, sizeof(quote), "\"x"), 2);
        CHECK_STR(quote, "\\\"");
}

int main(void) {
        RUN(test_line_is_json_with_fields);
        RUN(test_level_filters);
        RUN(test_level_names);
        RUN(test_long_message_is_cut_and_valid);
        RUN(test_escape_never_splits_utf8);
        return check_exit_status();
}
