/*
 * log.c: JSON lines on stderr.
 *
 * Every line is one JSON object with ts (UTC, milliseconds), level, module and
 * msg, so that a log shipper parses it without a grok pattern. The message is
 * formatted into a stack buffer, escaped, and written with a single fputs so
 * that lines from librdkafka's threads never interleave. Messages longer than
 * the buffer are cut and end in "...". Whatever bytes a message holds, the
 * line stays valid JSON in UTF-8: quotes, backslashes and control characters
 * get JSON's escapes, and a byte that is not part of well-formed UTF-8
 * (base/text.c) is written as the four characters \xNN (lowercase hex), so
 * an input's stray bytes stay visible without breaking the line. The level
 * is an atomic so any thread may read it while the main thread changes it.
 */
#include "base/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "base/text.h"

#define LOG_MSG_MAX 2048

static _Atomic int log_level = BL_LOG_INFO;
static FILE *_Atomic log_output;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void bl_log_set_level(bl_log_level_t level) {
        atomic_store(&log_level, (int)level);
}

bl_log_level_t bl_log_get_level(void) {
        return (bl_log_level_t)atomic_load(&log_level);
}

void bl_log_set_output(FILE *out) {
        atomic_store(&log_output, out);
}

bool bl_log_level_parse(const char *name, bl_log_level_t *level) {
        for (int i = 0; i < 4; i++) {
                if (name && !strcmp(name, level_names[i])) {
                        *level = (bl_log_level_t)i;
                        return true;
                }
        }
        return false;
}

const char *bl_log_level_name(bl_log_level_t level) {
        return (unsigned)level < 4 ? level_names[level] : "unknown";
}

bool bl_log_enabled(bl_log_level_t level) {
        return (int)level >= atomic_load(&log_level);
}

/* The JSON escape of the character of @p char_size bytes at @p p (0: a byte that is not UTF-8) into esc. */
static size_t escape_char(const unsigned char *p, size_t char_size, char esc[8]) {
        if (char_size == 0)
                return (size_t)snprintf(esc, 8, "\\\\x%02x", *p); /* the text \xNN, its backslash escaped */
        if (char_size > 1) {
                memcpy(esc, p, char_size);
                return char_size;
        }
        switch (*p) {
        case '"': return (size_t)snprintf(esc, 8, "\\\"");
        case '\\': return (size_t)snprintf(esc, 8, "\\\\");
        case '\n': return (size_t)snprintf(esc, 8, "\\n");
        case '\r': return (size_t)snprintf(esc, 8, "\\r");
        case '\t': return (size_t)snprintf(esc, 8, "\\t");
        default:
                if (*p < 0x20 || *p == 0x7F)
                        return (size_t)snprintf(esc, 8, "\\u%04x", *p);
                esc[0] = (char)*p;
                return 1;
        }
}

size_t bl_log_json_escape(char *out, size_t out_size, const char *text) {
        const unsigned char *p = (const unsigned char *)text;
        size_t used = 0, remaining = strlen(text);
        if (out_size == 0)
                return 0;
        while (remaining > 0) {
                char esc[8];
                size_t char_size = bl_text_utf8_char_size(p, remaining);
                size_t len = escape_char(p, char_size, esc);
                if (used + len >= out_size)
                        break; /* cut between characters, never inside one */
                memcpy(out + used, esc, len);
                used += len;
                p += char_size ? char_size : 1;
                remaining -= char_size ? char_size : 1;
        }
        out[used] = '\0';
        return used;
}

static void format_timestamp(char *out, size_t out_size) {
        struct timespec now;
        struct tm utc;
        clock_gettime(CLOCK_REALTIME, &now);
        gmtime_r(&now.tv_sec, &utc);
        size_t len = strftime(out, out_size, "%Y-%m-%dT%H:%M:%S", &utc);
        snprintf(out + len, out_size - len, ".%03ldZ", now.tv_nsec / 1000000L);
}

void bl_log(bl_log_level_t level, const char *module, const char *fmt, ...) {
        char msg[LOG_MSG_MAX], msg_json[LOG_MSG_MAX * 2], module_json[64], ts[40];
        char line[sizeof(msg_json) + sizeof(module_json) + 128];
        FILE *out;
        va_list ap;
        int len;

        if (!bl_log_enabled(level))
                return;
        va_start(ap, fmt);
        len = vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        if (len >= (int)sizeof(msg))
                memcpy(msg + sizeof(msg) - 4, "...", 4);

        bl_log_json_escape(msg_json, sizeof(msg_json), msg);
        bl_log_json_escape(module_json, sizeof(module_json), module ? module : "main");
        format_timestamp(ts, sizeof(ts));
        snprintf(line, sizeof(line), "{\"ts\":\"%s\",\"level\":\"%s\",\"module\":\"%s\",\"msg\":\"%s\"}\n",
                 ts, bl_log_level_name(level), module_json, msg_json);

        out = atomic_load(&log_output);
        fputs(line, out ? out : stderr);
        fflush(out ? out : stderr);
}
