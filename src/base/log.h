/*
 * log.h: one JSON object a line on stderr, with level and module.
 *
 *   {"ts":"2026-11-28T07:31:47.123Z","level":"info","module":"topics","msg":"..."}
 */
#ifndef BL_LOG_H
#define BL_LOG_H

#include <stdbool.h>
#include <stdio.h>

typedef enum {
        BL_LOG_DEBUG = 0,
        BL_LOG_INFO = 1,
        BL_LOG_WARN = 2,
        BL_LOG_ERROR = 3,
} bl_log_level_t;

/** Lines below @p level are dropped. The default is BL_LOG_INFO. */
void bl_log_set_level(bl_log_level_t level);
bl_log_level_t bl_log_get_level(void);

/** Where lines go; NULL restores stderr. The stream is not closed by the logger. */
void bl_log_set_output(FILE *out);

/** "debug", "info", "warn" or "error" to a level; false for anything else. */
bool bl_log_level_parse(const char *name, bl_log_level_t *level);
const char *bl_log_level_name(bl_log_level_t level);

/** True when a line at @p level would be written (to skip costly formatting). */
bool bl_log_enabled(bl_log_level_t level);

/**
 * Writes one line. @p module names the writer ("config", "topics", "kafka").
 * Safe from any thread: each line is written by one stdio call.
 */
void bl_log(bl_log_level_t level, const char *module, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

#define bl_log_debug(module, ...) bl_log(BL_LOG_DEBUG, module, __VA_ARGS__)
#define bl_log_info(module, ...) bl_log(BL_LOG_INFO, module, __VA_ARGS__)
#define bl_log_warn(module, ...) bl_log(BL_LOG_WARN, module, __VA_ARGS__)
#define bl_log_error(module, ...) bl_log(BL_LOG_ERROR, module, __VA_ARGS__)

/**
 * Appends @p text to @p out as the body of a JSON string (no quotes), escaping
 * what JSON requires (control characters and DEL as \uNNNN or \n, \r, \t)
 * and writing each byte that is not part of well-formed UTF-8 as the text
 * \xNN, so the result is valid JSON whatever @p text holds. Returns the bytes
 * written, never more than out_size - 1; output is cut at a character
 * boundary and always terminated.
 */
size_t bl_log_json_escape(char *out, size_t out_size, const char *text);

#endif
