/*
 * scrape.c: one metric of a /metrics page (scrape.h). The page is fetched
 * whole with libcurl (the transport options every client of backlogd sets,
 * ops/http_client.h), then read line by line: a sample line is the metric's
 * name, its labels in braces, a space and the value; comments and other
 * metrics are skipped. Only what ops/metrics.c writes needs reading: label
 * values with \", \\ and \n escapes, no timestamps. Any thread; no state.
 */
#include "ops/scrape.h"

#include <curl/curl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "ops/http_client.h"

#define PAGE_MAX_BYTES ((curl_off_t)16 << 20)

typedef struct page_s {
        char *text;
        size_t size;
        bool too_large;
} page_t;

static size_t collect(char *data, size_t size, size_t count, void *opaque) {
        page_t *page = opaque;
        size_t bytes = size * count;
        if ((curl_off_t)(page->size + bytes) > PAGE_MAX_BYTES) {
                page->too_large = true;
                return 0;
        }
        char *grown = realloc(page->text, page->size + bytes + 1);
        if (!grown)
                return 0;
        memcpy(grown + page->size, data, bytes);
        page->size += bytes;
        grown[page->size] = '\0';
        page->text = grown;
        return bytes;
}

/* The value of @p label in the braces of [@p at, @p end), unescaped into @p out; "" when absent. */
static void label_value(const char *at, const char *end, const char *label, char *out, size_t out_size) {
        size_t label_size = strlen(label), used = 0;
        out[0] = '\0';
        while (at < end) {
                const char *equals = memchr(at, '=', (size_t)(end - at));
                if (!equals || equals + 1 >= end || equals[1] != '"')
                        return;
                bool wanted = (size_t)(equals - at) == label_size && !memcmp(at, label, label_size);
                const char *p = equals + 2;
                for (; p < end && *p != '"'; p++) {
                        char c = *p;
                        if (c == '\\' && p + 1 < end)
                                c = *++p == 'n' ? '\n' : *p;
                        if (wanted && used + 1 < out_size)
                                out[used++] = c;
                }
                if (wanted) {
                        out[used] = '\0';
                        return;
                }
                at = p + 1; /* past the closing quote, then the comma */
                if (at < end && *at == ',')
                        at++;
        }
}

/* One line: a sample of @p metric hands its label's value and its value to @p fn. */
static void parse_line(const char *line, const char *end, const char *metric, const char *label,
                       bl_scrape_sample_fn *fn, void *opaque) {
        size_t metric_size = strlen(metric);
        char value_of_label[256], number[64];
        if ((size_t)(end - line) <= metric_size || memcmp(line, metric, metric_size) ||
            (line[metric_size] != '{' && line[metric_size] != ' '))
                return;
        const char *rest = line + metric_size;
        value_of_label[0] = '\0';
        if (*rest == '{') {
                const char *close = rest + 1;
                for (bool quoted = false; close < end && (quoted || *close != '}'); close++) {
                        if (*close == '\\' && quoted)
                                close++;
                        else if (*close == '"')
                                quoted = !quoted;
                }
                if (close >= end)
                        return;
                label_value(rest + 1, close, label, value_of_label, sizeof(value_of_label));
                rest = close + 1;
        }
        while (rest < end && *rest == ' ')
                rest++;
        size_t digits = (size_t)(end - rest) < sizeof(number) - 1 ? (size_t)(end - rest) : sizeof(number) - 1;
        memcpy(number, rest, digits);
        number[digits] = '\0';
        char *after;
        double value = strtod(number, &after);
        if (after != number)
                fn(opaque, value_of_label, value);
}

void bl_scrape_parse(const char *text, size_t size, const char *metric, const char *label, bl_scrape_sample_fn *fn,
                     void *opaque) {
        const char *end = text + size;
        for (const char *line = text; line < end;) {
                const char *newline = memchr(line, '\n', (size_t)(end - line));
                const char *line_end = newline ? newline : end;
                if (*line != '#')
                        parse_line(line, line_end, metric, label, fn, opaque);
                line = line_end + 1;
        }
}

bl_err_t bl_scrape_metric(const char *url, const char *metric, const char *label, long timeout_ms,
                          bl_scrape_sample_fn *fn, void *opaque, char *errstr, size_t errstr_size) {
        char error_buffer[CURL_ERROR_SIZE] = "";
        page_t page = {0};
        long status = 0;
        bl_err_t err = BL_OK;
        CURL *curl = curl_easy_init();
        if (!curl)
                return bl_err_set(errstr, errstr_size, BL_ERR_NOMEM, "out of memory");
        CURLcode rc = bl_http_client_transport(curl, timeout_ms, PAGE_MAX_BYTES, error_buffer);
        if (!rc)
                rc = curl_easy_setopt(curl, CURLOPT_URL, url);
        if (!rc)
                rc = curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
        if (!rc)
                rc = curl_easy_setopt(curl, CURLOPT_WRITEDATA, &page);
        if (!rc)
                rc = curl_easy_perform(curl);
        if (!rc)
                curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
        if (rc)
                err = bl_err_set(errstr, errstr_size, BL_ERR_UNAVAILABLE, "%s: %s", url,
                                 page.too_large ? "the page is larger than 16 MiB"
                                 : *error_buffer ? error_buffer
                                                 : curl_easy_strerror(rc));
        else if (status != 200)
                err = bl_err_set(errstr, errstr_size, BL_ERR_UNAVAILABLE, "%s answered HTTP %ld", url, status);
        else if (page.text)
                bl_scrape_parse(page.text, page.size, metric, label, fn, opaque);
        free(page.text);
        curl_easy_cleanup(curl);
        return err;
}
