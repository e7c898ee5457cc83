/*
 * test_log.c: log lines are single JSON objects with level and module,
 * levels filter, and escaping keeps the line valid JSON whatever the message.
 */
#include <jansson.h>
#include <stdlib.h>

#include "check.h"
#include "base/log.h"

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

/* Regression (issue 12): a message quoting input bytes that are not UTF-8 made a line no JSON parser reads. */
static void test_any_bytes_give_a_json_line(void) {
        json_t *line = log_and_parse(BL_LOG_WARN, "dlq", "task_id t\xff\xc3(x \xed\xa0\x80 \x7f end\xe2\x82");
        CHECK(line != NULL);
        CHECK_STR(json_string_value(json_object_get(line, "msg")), "task_id t\\xff\\xc3(x \\xed\\xa0\\x80 \x7f end\\xe2\\x82");
        json_decref(line);
        /* every byte value, alone and in a row */
        char all[256];
        for (int i = 1; i < 256; i++)
                all[i - 1] = (char)i;
        all[255] = '\0';
        line = log_and_parse(BL_LOG_INFO, "x", all);
        CHECK(line != NULL);
        json_decref(line);
        for (int i = 1; i < 256; i++) {
                char one[2] = {(char)i, '\0'};
                line = log_and_parse(BL_LOG_INFO, "x", one);
                CHECK(line != NULL);
                json_decref(line);
        }
}

/* A message cut at the buffer's end inside a character still gives a JSON line. */
static void test_cut_inside_a_character_is_valid(void) {
        char message[4000];
        memset(message, 'a', sizeof(message));
        for (size_t i = 2040; i + 3 < sizeof(message); i += 3)
                memcpy(message + i, "\xe2\x82\xac", 3);
        message[sizeof(message) - 1] = '\0';
        json_t *line = log_and_parse(BL_LOG_INFO, "x", message);
        CHECK(line != NULL);
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
        RUN(test_any_bytes_give_a_json_line);
        RUN(test_cut_inside_a_character_is_valid);
        return check_exit_status();
}
