/*
 * status_page.c: the HTML of the status page, and its SVG plots.
 *
 * The document is built in one growing buffer (page_t): put() appends
 * formatted text, put_text() appends a string HTML-escaped. Any allocation
 * failure marks the buffer failed and the render returns NULL; nothing is
 * left half-written for the caller.
 *
 * Sections, top to bottom: the instance (policy, readiness, input, tasks,
 * memory, commits); per domain the backlog by state, oldest READY age, lag,
 * credit, throttle, breaker and agent; four plots of the last 15 minutes
 * (READY, in flight, dispatch rate, lag), one line per domain; the dead
 * letters by reason; the tasks awaiting approval, longest first. Each plot
 * is an <svg> with a fixed viewBox, scaled by CSS; its x axis spans
 * BL_STATUS_WINDOW_MS ending at the snapshot (less while the samples cover
 * less: span_of), its y axis 0 to a round top (bl_status_page_axis_top).
 * A gap in the samples longer than three times their average distance
 * (gap_ms_of) breaks the line rather than drawing across it.
 *
 * Pure: no clock, no lock, no I/O. Any thread.
 */
#include "ops/status_page.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct page_s {
        char *text;
        size_t length, capacity;
        bool failed;
} page_t;

static bool reserve(page_t *page, size_t more) {
        if (page->failed)
                return false;
        if (page->length + more + 1 <= page->capacity)
                return true;
        size_t capacity = page->capacity ? page->capacity : 16384;
        while (capacity < page->length + more + 1)
                capacity *= 2;
        char *grown = realloc(page->text, capacity);
        if (!grown) {
                page->failed = true;
                return false;
        }
        page->text = grown;
        page->capacity = capacity;
        return true;
}

static void put(page_t *page, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(page_t *page, const char *fmt, ...) {
        va_list ap;
        if (!reserve(page, 256)) /* most pieces fit in what is free: one vsnprintf, not two */
                return;
        size_t room = page->capacity - page->length;
        va_start(ap, fmt);
        int needed = vsnprintf(page->text + page->length, room, fmt, ap);
        va_end(ap);
        if (needed < 0) {
                page->text[page->length] = '\0';
                return;
        }
        if ((size_t)needed >= room) {
                if (!reserve(page, (size_t)needed))
                        return;
                va_start(ap, fmt);
                vsnprintf(page->text + page->length, (size_t)needed + 1, fmt, ap);
                va_end(ap);
        }
        page->length += (size_t)needed;
}

/* @p text with &, <, >, " and ' escaped: safe in element content and in quoted attributes. */
static void put_text(page_t *page, const char *text) {
        for (const char *c = text; *c; c++) {
                switch (*c) {
                case '&': put(page, "&amp;"); break;
                case '<': put(page, "&lt;"); break;
                case '>': put(page, "&gt;"); break;
                case '"': put(page, "&quot;"); break;
                case '\'': put(page, "&#39;"); break;
                default:
                        if (reserve(page, 1)) {
                                page->text[page->length++] = *c;
                                page->text[page->length] = '\0';
                        }
                }
        }
}

/* ---- numbers as people read them ------------------------------------------------ */

const char *bl_status_page_duration(int64_t ms, char *out, size_t out_size) {
        int64_t s = ms / 1000;
        if (ms < 0)
                snprintf(out, out_size, "-");
        else if (s < 60)
                snprintf(out, out_size, "%" PRId64 " s", s);
        else if (s < 3600)
                snprintf(out, out_size, "%" PRId64 " min %02" PRId64 " s", s / 60, s % 60);
        else if (s < 86400)
                snprintf(out, out_size, "%" PRId64 " h %02" PRId64 " min", s / 3600, s % 3600 / 60);
        else
                snprintf(out, out_size, "%" PRId64 " d %02" PRId64 " h", s / 86400, s % 86400 / 3600);
        return out;
}

double bl_status_page_axis_top(double max) {
        if (!(max > 1)) /* also NaN */
                return 1;
        double power = pow(10, floor(log10(max)));
        const double steps[] = {1, 2, 5, 10};
        for (size_t i = 0; i < 4; i++)
                if (max <= steps[i] * power)
                        return steps[i] * power;
        return 10 * power;
}

static const char *bytes_text(uint64_t bytes, char *out, size_t out_size) {
        if (bytes >= (uint64_t)1 << 30)
                snprintf(out, out_size, "%.1f GiB", (double)bytes / (double)((uint64_t)1 << 30));
        else if (bytes >= (uint64_t)1 << 20)
                snprintf(out, out_size, "%.1f MiB", (double)bytes / (double)((uint64_t)1 << 20));
        else
                snprintf(out, out_size, "%.1f KiB", (double)bytes / 1024.0);
        return out;
}

static const char *utc_text(int64_t ms, char *out, size_t out_size) {
        time_t seconds = (time_t)(ms / 1000);
        struct tm parts;
        if (ms <= 0 || !gmtime_r(&seconds, &parts) || !strftime(out, out_size, "%Y-%m-%d %H:%M:%S UTC", &parts))
                snprintf(out, out_size, "-");
        return out;
}

/* Axis labels: whole numbers plainly, others with what precision they need. */
static void put_number(page_t *page, double value) {
        if (value == floor(value) && fabs(value) < 1e15)
                put(page, "%.0f", value);
        else
                put(page, "%.3g", value);
}

/* ---- the head and the instance ---------------------------------------------------- */

static const char *const STYLE =
        "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#1d2330;background:#fbfbfd}"
        "h1{font-size:1.5em;margin:0 0 .2em}h2{font-size:1.15em;margin:1.6em 0 .5em;border-bottom:1px solid #d5d9e2}"
        "table{border-collapse:collapse;margin:.3em 0}th,td{padding:.2em .45em;border-bottom:1px solid #e4e7ee;"
        "text-align:right;white-space:nowrap}th{background:#eef1f6;font-weight:600}"
        "td.name,th.name{text-align:left}.muted{color:#7a8190}.bad{color:#b3261e;font-weight:600}"
        ".wide{overflow-x:auto}.ok{color:#1f7a3a}.facts span{margin-right:1.4em;display:inline-block}"
        ".plots{display:flex;flex-wrap:wrap;gap:1em}figure{margin:0;background:#fff;border:1px solid #e4e7ee;"
        "padding:.5em}figcaption{font-weight:600;margin-bottom:.3em}svg{width:540px;max-width:100%;height:auto}"
        ".legend span{margin-right:1em;white-space:nowrap}.swatch{display:inline-block;width:.9em;height:.9em;"
        "vertical-align:middle;margin-right:.3em}";

static void put_head(page_t *page, const bl_status_snapshot_t *s, int refresh_s) {
        put(page, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
        put(page, "<meta http-equiv=\"refresh\" content=\"%d\">\n", refresh_s > 0 ? refresh_s : 5);
        put(page, "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>backlogd ");
        put_text(page, s->instance[0] ? s->instance : "status");
        put(page, "</title>\n<style>%s</style>\n</head>\n<body>\n", STYLE);
}

static void put_instance(page_t *page, const bl_status_snapshot_t *s, int refresh_s) {
        char at[48], since[48], uptime[32], memory[32];
        put(page, "<header>\n<h1>backlogd <span class=\"muted\">");
        put_text(page, s->instance);
        put(page, "</span></h1>\n<p class=\"facts\">");
        put(page, "<span>as of %s</span>", utc_text(s->taken_at_ms, at, sizeof(at)));
        put(page, "<span>up %s (since %s)</span>",
            bl_status_page_duration(s->taken_at_ms - s->started_at_ms, uptime, sizeof(uptime)),
            utc_text(s->started_at_ms, since, sizeof(since)));
        put(page, "<span>policy <b>");
        put_text(page, s->policy[0] ? s->policy : "none (FIFO)");
        put(page, "</b></span>");
        put(page, "<span id=\"readiness\" class=\"%s\">%s</span>", s->ready ? "ok" : "bad",
            s->ready ? "ready" : "restoring partitions");
        put(page, "<span class=\"%s\">input %s</span>", s->input_paused ? "bad" : "ok",
            s->input_paused ? "paused (backpressure)" : "flowing");
        put(page, "<span>%" PRIu64 " tasks held, %s</span>", s->tasks_held,
            bytes_text(s->memory_bytes, memory, sizeof(memory)));
        put(page, "<span>%" PRIu64 " transactions, %" PRIu64 " aborted</span>", s->transactions, s->aborts);
        put(page, "<span>cancellation notices sent: %" PRIu64 "</span>", s->cancel_notices);
        put(page, "</p>\n<p class=\"muted\">Read-only; this page reloads itself every %d s and runs no scripts. "
                  "Metrics: <a href=\"/metrics\">/metrics</a>, health: <a href=\"/healthz\">/healthz</a>, "
                  "<a href=\"/readyz\">/readyz</a>.</p>\n</header>\n",
            refresh_s);
}

/* ---- domains ---------------------------------------------------------------------- */

static void put_state_row(page_t *page, const bl_status_snapshot_t *s, const bl_status_domain_t *d) {
        put(page, "<tr data-domain=\"");
        put_text(page, d->name);
        put(page, "\"><td class=\"name\"><b>");
        put_text(page, d->name);
        put(page, "</b></td>");
        for (size_t i = 0; i < s->state_count; i++)
                put(page, d->by_state[i] ? "<td>%" PRIu64 "</td>" : "<td class=\"muted\">%" PRIu64 "</td>",
                    d->by_state[i]);
        put(page, "</tr>\n");
}

static void put_flow_row(page_t *page, const bl_status_domain_t *d) {
        char age[32];
        put(page, "<tr data-flow=\"");
        put_text(page, d->name);
        put(page, "\"><td class=\"name\"><b>");
        put_text(page, d->name);
        put(page, "</b></td>");
        put(page, "<td>%s</td>", d->oldest_ready_ms >= 0 ? bl_status_page_duration(d->oldest_ready_ms, age, sizeof(age))
                                                          : "-");
        put(page, "<td>%.1f/s</td>", d->dispatch_rate);
        put(page, "<td>%" PRId64 "</td>", d->lag);
        if (d->limited)
                put(page, "<td>%" PRId64 " of %" PRId64 "</td>", d->credit, d->lag_limit);
        else
                put(page, "<td class=\"muted\">no limit</td>");
        if (d->topic_refused)
                put(page, "<td class=\"bad\">topic refuses writes</td>");
        else
                put(page, d->throttled ? "<td class=\"bad\">throttled</td>" : "<td class=\"ok\">open</td>");
        const char *extras[] = {d->breaker, d->agent};
        for (size_t i = 0; i < 2; i++) {
                if (extras[i][0]) {
                        put(page, "<td>");
                        put_text(page, extras[i]);
                        put(page, "</td>");
                } else {
                        put(page, "<td class=\"muted\">none</td>");
                }
        }
        put(page, "</tr>\n");
}

/* Two tables of one row per domain: its tasks by state, then its flow (dispatch, backpressure, breaker, agent). */
static void put_domains(page_t *page, const bl_status_snapshot_t *s) {
        put(page, "<section id=\"domains\">\n<h2>Domains: the backlog by state</h2>\n");
        if (s->domain_count == 0) {
                put(page, "<p class=\"muted\">No domain configured.</p>\n</section>\n");
                return;
        }
        put(page, "<div class=\"wide\"><table>\n<tr><th class=\"name\">domain</th>");
        for (size_t i = 0; i < s->state_count; i++) {
                put(page, "<th>");
                put_text(page, s->state_names[i]);
                put(page, "</th>");
        }
        put(page, "</tr>\n");
        for (size_t d = 0; d < s->domain_count; d++)
                put_state_row(page, s, &s->domains[d]);
        put(page, "</table></div>\n<h2>Domains: dispatch and backpressure</h2>\n<div class=\"wide\"><table>\n"
                  "<tr><th class=\"name\">domain</th><th>oldest READY</th><th>dispatch rate</th><th>lag</th>"
                  "<th>credit</th><th>throttle</th><th>breaker</th><th>agent</th></tr>\n");
        for (size_t d = 0; d < s->domain_count; d++)
                put_flow_row(page, &s->domains[d]);
        put(page, "</table></div>\n<p class=\"muted\">Lag: this instance's dispatch records the domain's workers "
                  "have not read yet; credit: what it may still receive now, of its share of max_lag (no limit "
                  "without a worker group in the policy).</p>\n</section>\n");
}

/* ---- plots ------------------------------------------------------------------------------ */

#define PLOT_W 540
#define PLOT_H 200
#define PLOT_LEFT 52
#define PLOT_RIGHT 10
#define PLOT_TOP 10
#define PLOT_BOTTOM 24

static const char *const COLOURS[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                      "#9467bd", "#8c564b", "#e377c2", "#17becf"};
#define COLOUR_COUNT (sizeof(COLOURS) / sizeof(COLOURS[0]))

static const struct {
        const char *id, *title, *unit;
} PLOTS[BL_STATUS_PLOT__COUNT] = {
        [BL_STATUS_PLOT_READY] = {"plot-ready", "READY tasks", "tasks"},
        [BL_STATUS_PLOT_IN_FLIGHT] = {"plot-in-flight", "In flight (DISPATCHED + RUNNING)", "tasks"},
        [BL_STATUS_PLOT_DISPATCH_RATE] = {"plot-dispatch-rate", "Dispatch rate", "per second"},
        [BL_STATUS_PLOT_LAG] = {"plot-lag", "Workers' lag on dispatch.<domain>", "records"},
};

/* A domain's line style: its colour, and a dash once the colours repeat. */
static void put_stroke(page_t *page, size_t domain) {
        put(page, "stroke=\"%s\"", COLOURS[domain % COLOUR_COUNT]);
        if (domain >= COLOUR_COUNT)
                put(page, " stroke-dasharray=\"%zu 3\"", 2 + 2 * (domain / COLOUR_COUNT));
}

/*
 * The plots' span: the last 15 minutes, or less while the samples cover less (a young instance): the
 * shortest of 1, 2, 5, 10 and 15 minutes that holds them all, so that a minute of data fills the plot
 * instead of its last fifteenth. The x ticks: 4 or 5 of them, in whole seconds or minutes.
 */
static const struct {
        int64_t span_ms, tick_ms;
} SPANS[] = {{60000, 15000}, {120000, 30000}, {300000, 60000}, {600000, 120000}, {BL_STATUS_WINDOW_MS, 300000}};
#define SPAN_COUNT (sizeof(SPANS) / sizeof(SPANS[0]))

static size_t span_of(const bl_status_ring_t *ring, int64_t end_ms) {
        int64_t oldest = end_ms;
        for (size_t i = 0; ring && i < bl_status_ring_count(ring); i++) {
                int64_t at = bl_status_ring_time(ring, i);
                if (at >= end_ms - BL_STATUS_WINDOW_MS) {
                        oldest = at;
                        break;
                }
        }
        for (size_t i = 0; i < SPAN_COUNT; i++)
                if (end_ms - oldest <= SPANS[i].span_ms)
                        return i;
        return SPAN_COUNT - 1;
}

static double series_max(const bl_status_ring_t *ring, size_t series, int64_t from_ms) {
        double max = 0;
        for (size_t i = 0; i < bl_status_ring_count(ring); i++)
                if (bl_status_ring_time(ring, i) >= from_ms && bl_status_ring_value(ring, i, series) > max)
                        max = bl_status_ring_value(ring, i, series);
        return max;
}

static void put_axes(page_t *page, double top, const char *unit, size_t span) {
        const double inner_h = PLOT_H - PLOT_TOP - PLOT_BOTTOM, inner_w = PLOT_W - PLOT_LEFT - PLOT_RIGHT;
        put(page, "<rect x=\"%d\" y=\"%d\" width=\"%.0f\" height=\"%.0f\" fill=\"#fff\" stroke=\"#c9ced8\"/>\n",
            PLOT_LEFT, PLOT_TOP, inner_w, inner_h);
        for (int tick = 0; tick <= 4; tick++) {
                double y = PLOT_TOP + inner_h - inner_h * tick / 4.0;
                if (tick > 0 && tick < 4)
                        put(page, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#eceef3\"/>\n", PLOT_LEFT,
                            PLOT_W - PLOT_RIGHT, y, y);
                put(page, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\" font-size=\"11\" fill=\"#555\">",
                    PLOT_LEFT - 4, y + 4);
                put_number(page, top * tick / 4.0);
                put(page, "</text>\n");
        }
        for (int64_t before_ms = SPANS[span].span_ms; before_ms >= 0; before_ms -= SPANS[span].tick_ms) {
                double x =
                        PLOT_LEFT + inner_w * (double)(SPANS[span].span_ms - before_ms) / (double)SPANS[span].span_ms;
                put(page, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" font-size=\"11\" fill=\"#555\">", x,
                    PLOT_H - 6);
                if (before_ms == 0)
                        put(page, "now</text>\n");
                else if (before_ms % 60000)
                        put(page, "-%" PRId64 " s</text>\n", before_ms / 1000);
                else
                        put(page, "-%" PRId64 " min</text>\n", before_ms / 60000);
        }
        put(page, "<text x=\"%d\" y=\"%d\" font-size=\"10\" fill=\"#777\">", PLOT_LEFT + 4, PLOT_TOP + 11);
        put_text(page, unit);
        put(page, "</text>\n");
}

/*
 * One domain's line: polylines of the samples in the span, broken where samples are missing. Samples
 * that fall in the same POINT_PX-wide column are averaged into one point: a 15-minute line has at most
 * a point every 2 pixels, not 900, whatever the sample rate.
 */
#define POINT_PX 2

typedef struct line_s {
        page_t *page;
        bool open;       /* a polyline is being written */
        long column;     /* of the point being gathered; -1: none */
        double x_sum, y_sum;
        int n;
} line_t;

static void flush_point(line_t *line) {
        if (line->n == 0)
                return;
        put(line->page, line->open ? " %.1f,%.1f" : "<polyline points=\"%.1f,%.1f", line->x_sum / line->n,
            line->y_sum / line->n);
        line->open = true;
        line->n = 0;
        line->x_sum = line->y_sum = 0;
}

/*
 * How far apart two samples may be and still be joined: three times their average distance in the span,
 * at least three sample intervals. The pipeline samples less often while its walk over the tasks is long
 * (a million tasks: every 15 s or so); a stall of its thread still shows as a gap.
 */
static int64_t gap_ms_of(const bl_status_ring_t *ring, int64_t start_ms, int64_t end_ms) {
        int64_t first = -1, last = -1, count = 0;
        for (size_t i = 0; i < bl_status_ring_count(ring); i++) {
                int64_t at = bl_status_ring_time(ring, i);
                if (at < start_ms || at > end_ms)
                        continue;
                if (first < 0)
                        first = at;
                last = at;
                count++;
        }
        int64_t average = count > 1 ? (last - first) / (count - 1) : 0;
        return 3 * (average > BL_STATUS_SAMPLE_MS ? average : BL_STATUS_SAMPLE_MS);
}

static void put_line(page_t *page, const bl_status_ring_t *ring, size_t series, size_t domain, int64_t end_ms,
                     int64_t span_ms, int64_t gap_ms, double top, const char *name) {
        const double inner_h = PLOT_H - PLOT_TOP - PLOT_BOTTOM, inner_w = PLOT_W - PLOT_LEFT - PLOT_RIGHT;
        const int64_t start_ms = end_ms - span_ms;
        int64_t last_ms = -1;
        line_t line = {.page = page, .column = -1};
        put(page, "<g class=\"line\" data-domain=\"");
        put_text(page, name);
        put(page, "\" fill=\"none\" stroke-width=\"1.8\" ");
        put_stroke(page, domain);
        put(page, ">\n");
        for (size_t i = 0; i < bl_status_ring_count(ring); i++) {
                int64_t at = bl_status_ring_time(ring, i);
                if (at < start_ms || at > end_ms)
                        continue;
                if (last_ms >= 0 && at - last_ms > gap_ms) { /* a gap: the line stops */
                        flush_point(&line);
                        if (line.open)
                                put(page, "\"/>\n");
                        line.open = false;
                }
                double x = PLOT_LEFT + inner_w * (double)(at - start_ms) / (double)span_ms;
                double value = bl_status_ring_value(ring, i, series);
                double y = PLOT_TOP + inner_h - inner_h * (value > top ? top : value < 0 ? 0 : value) / top;
                long column = (long)(x / POINT_PX);
                if (column != line.column)
                        flush_point(&line);
                line.column = column;
                line.x_sum += x;
                line.y_sum += y;
                line.n++;
                last_ms = at;
        }
        flush_point(&line);
        if (line.open)
                put(page, "\"/>\n");
        put(page, "</g>\n");
}

static void put_plot(page_t *page, const bl_status_snapshot_t *s, const bl_status_ring_t *ring, bl_status_plot_t plot) {
        const int64_t end_ms = s->taken_at_ms;
        const size_t span = span_of(ring, end_ms);
        const int64_t start_ms = end_ms - SPANS[span].span_ms;
        bool usable = ring && bl_status_ring_series_count(ring) >= s->domain_count * BL_STATUS_PLOT__COUNT;
        double max = 0;
        for (size_t d = 0; usable && d < s->domain_count; d++) {
                double m = series_max(ring, d * BL_STATUS_PLOT__COUNT + plot, start_ms);
                max = m > max ? m : max;
        }
        double top = bl_status_page_axis_top(max);
        put(page, "<figure>\n<figcaption>");
        put_text(page, PLOTS[plot].title);
        put(page, " <span class=\"muted\">(last %" PRId64 " min)</span></figcaption>\n", SPANS[span].span_ms / 60000);
        put(page, "<svg id=\"%s\" class=\"plot\" viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"", PLOTS[plot].id,
            PLOT_W, PLOT_H);
        put_text(page, PLOTS[plot].title);
        put(page, " per domain, last minutes\" xmlns=\"http://www.w3.org/2000/svg\">\n");
        put_axes(page, top, PLOTS[plot].unit, span);
        int64_t gap_ms = usable ? gap_ms_of(ring, start_ms, end_ms) : 0;
        for (size_t d = 0; usable && d < s->domain_count; d++)
                put_line(page, ring, d * BL_STATUS_PLOT__COUNT + plot, d, end_ms, SPANS[span].span_ms, gap_ms, top,
                         s->domains[d].name);
        if (!usable || bl_status_ring_count(ring) == 0)
                put(page, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" fill=\"#999\">no samples yet</text>\n",
                    PLOT_W / 2, PLOT_H / 2);
        put(page, "</svg>\n</figure>\n");
}

static void put_plots(page_t *page, const bl_status_snapshot_t *s, const bl_status_ring_t *ring) {
        put(page, "<section id=\"plots\">\n<h2>The last 15 minutes (or since the start)</h2>\n<p class=\"legend\">");
        for (size_t d = 0; d < s->domain_count; d++) {
                put(page, "<span><svg class=\"swatch\" viewBox=\"0 0 10 10\" width=\"10\" height=\"10\" "
                          "xmlns=\"http://www.w3.org/2000/svg\"><line x1=\"0\" y1=\"5\" x2=\"10\" y2=\"5\" "
                          "stroke-width=\"4\" ");
                put_stroke(page, d);
                put(page, "/></svg>");
                put_text(page, s->domains[d].name);
                put(page, "</span>");
        }
        put(page, "</p>\n<div class=\"plots\">\n");
        for (int plot = 0; plot < BL_STATUS_PLOT__COUNT; plot++)
                put_plot(page, s, ring, (bl_status_plot_t)plot);
        put(page, "</div>\n</section>\n");
}

/* ---- dead letters and approvals ------------------------------------------------------------- */

static void put_dead_letters(page_t *page, const bl_status_snapshot_t *s) {
        uint64_t total = 0;
        put(page, "<section id=\"dlq\">\n<h2>Dead letters by reason</h2>\n");
        for (size_t r = 0; r < s->reason_count; r++)
                total += s->dead_letters[r].count;
        if (total == 0) {
                put(page, "<p class=\"muted\">None written by this instance since it started.</p>\n</section>\n");
                return;
        }
        put(page, "<table>\n<tr><th class=\"name\">reason</th><th>records</th></tr>\n");
        for (size_t r = 0; r < s->reason_count; r++) {
                if (!s->dead_letters[r].count)
                        continue;
                put(page, "<tr><td class=\"name\">");
                put_text(page, s->dead_letters[r].reason);
                put(page, "</td><td>%" PRIu64 "</td></tr>\n", s->dead_letters[r].count);
        }
        put(page, "<tr><th class=\"name\">total</th><th>%" PRIu64 "</th></tr>\n</table>\n"
                  "<p class=\"muted\">Written by this instance since it started; <code>backlogd dlq</code> reads the "
                  "topic.</p>\n</section>\n",
            total);
}

static void put_approvals(page_t *page, const bl_status_snapshot_t *s) {
        char waited[32];
        put(page, "<section id=\"approvals\">\n<h2>Awaiting approval: %" PRIu64 "</h2>\n", s->approvals_waiting);
        if (s->approvals_waiting == 0) {
                put(page, "<p class=\"muted\">No task waits for an approval.</p>\n</section>\n");
                return;
        }
        put(page, "<table>\n<tr><th class=\"name\">task</th><th class=\"name\">domain</th><th>waiting for</th></tr>\n");
        for (size_t i = 0; i < s->approval_count; i++) {
                const bl_status_waiting_t *w = &s->approvals[i];
                put(page, "<tr><td class=\"name\"><code>");
                put_text(page, w->task_id);
                put(page, "</code></td><td class=\"name\">");
                put_text(page, w->domain);
                put(page, "</td><td>%s</td></tr>\n", bl_status_page_duration(w->waiting_ms, waited, sizeof(waited)));
        }
        put(page, "</table>\n");
        if (s->approvals_waiting > s->approval_count)
                put(page, "<p class=\"muted\">The %zu longest-waiting of %" PRIu64 " shown; "
                          "<code>backlogd tasks list --waiting-for approval</code> lists them all.</p>\n",
                    s->approval_count, s->approvals_waiting);
        put(page, "<p class=\"muted\"><code>backlogd approve TASK_ID --reason TEXT</code> or <code>backlogd reject "
                  "TASK_ID --reason TEXT</code> decides.</p>\n</section>\n");
}

char *bl_status_page_render(const bl_status_snapshot_t *snapshot, const bl_status_ring_t *ring, int refresh_s,
                            size_t *length) {
        page_t page = {0};
        put_head(&page, snapshot, refresh_s);
        put_instance(&page, snapshot, refresh_s > 0 ? refresh_s : 5);
        put_domains(&page, snapshot);
        put_plots(&page, snapshot, ring);
        put_dead_letters(&page, snapshot);
        put_approvals(&page, snapshot);
        put(&page, "</body>\n</html>\n");
        if (page.failed) {
                free(page.text);
                return NULL;
        }
        *length = page.length;
        return page.text;
}
