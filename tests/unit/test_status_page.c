/*
 * test_status_page.c: the status page drawn from plain data (SPEC §15):
 * every domain has its row and a line in each of the four plots; the page
 * refreshes itself, loads nothing and runs nothing; text from the data is
 * escaped; lines break where samples are missing; the dead letters and the
 * approvals (longest first, bounded, all counted) are listed; the board
 * serves what was published last and starts the plots again when the
 * domains change; numbers read as people read them.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ops/status.h"
#include "ops/status_page.h"
#include "ops/status_ring.h"

#define NOW ((int64_t)1800000000000)

static size_t occurrences(const char *text, const char *needle) {
        size_t count = 0;
        for (const char *at = text; (at = strstr(at, needle)); at += strlen(needle))
                count++;
        return count;
}

static void fill(bl_status_snapshot_t *s) {
        memset(s, 0, sizeof(*s));
        s->taken_at_ms = NOW;
        s->started_at_ms = NOW - 3723000;
        bl_status_copy_text(s->instance, sizeof(s->instance), "node-1");
        bl_status_copy_text(s->policy, sizeof(s->policy), "ops@3");
        s->ready = true;
        s->tasks_held = 42;
        s->memory_bytes = 3 << 20;
        s->cancel_notices = 2;
        s->state_count = 3;
        bl_status_copy_text(s->state_names[0], BL_STATUS_NAME_MAX, "READY");
        bl_status_copy_text(s->state_names[1], BL_STATUS_NAME_MAX, "RUNNING");
        bl_status_copy_text(s->state_names[2], BL_STATUS_NAME_MAX, "BLOCKED");
        const char *names[] = {"evaluation", "model_inference", "x<script>alert(1)</script>"};
        s->domain_count = 3;
        for (size_t d = 0; d < 3; d++) {
                bl_status_domain_t *domain = &s->domains[d];
                bl_status_copy_text(domain->name, sizeof(domain->name), names[d]);
                domain->by_state[0] = 10 + d;
                domain->ready = 10 + d;
                domain->in_flight = d;
                domain->oldest_ready_ms = d == 1 ? -1 : 65000;
                domain->lag = (int64_t)d * 7;
        }
        s->domains[0].limited = true;
        s->domains[0].lag_limit = 100;
        s->domains[0].credit = 93;
        s->domains[1].throttled = true;
        bl_status_copy_text(s->domains[2].breaker, BL_STATUS_NAME_MAX, "open");
        s->reason_count = 2;
        bl_status_copy_text(s->dead_letters[0].reason, BL_STATUS_NAME_MAX, "contract.violation");
        s->dead_letters[0].count = 3;
        bl_status_copy_text(s->dead_letters[1].reason, BL_STATUS_NAME_MAX, "deadline.expired");
}

static bl_status_ring_t *ring_for(size_t domains, size_t samples, int64_t step_ms) {
        bl_status_ring_t *ring = bl_status_ring_new(domains * BL_STATUS_PLOT__COUNT, 900);
        double values[3 * BL_STATUS_PLOT__COUNT];
        for (size_t i = 0; i < samples; i++) {
                for (size_t v = 0; v < domains * BL_STATUS_PLOT__COUNT; v++)
                        values[v] = (double)(i % 7 + v);
                bl_status_ring_push(ring, NOW - (int64_t)(samples - 1 - i) * step_ms, values);
        }
        return ring;
}

static void test_every_domain_and_plot(void) {
        bl_status_snapshot_t *s = malloc(sizeof(*s));
        fill(s);
        bl_status_ring_t *ring = ring_for(3, 120, 1000);
        size_t length = 0;
        char *page = bl_status_page_render(s, ring, 5, &length);
        CHECK(page != NULL);
        CHECK_INT(strlen(page), length);
        CHECK(!strncmp(page, "<!DOCTYPE html>", 15));
        CHECK_CONTAINS(page, "<meta http-equiv=\"refresh\" content=\"5\">");
        CHECK_CONTAINS(page, "<title>backlogd node-1</title>");
        CHECK_CONTAINS(page, "policy <b>ops@3</b>");
        CHECK_CONTAINS(page, "up 1 h 02 min");
        CHECK_CONTAINS(page, "42 tasks held, 3.0 MiB");
        CHECK_CONTAINS(page, "<span>cancellation notices sent: 2</span>");
        const char *plots[] = {"id=\"plot-ready\"", "id=\"plot-in-flight\"", "id=\"plot-dispatch-rate\"",
                               "id=\"plot-lag\""};
        for (size_t p = 0; p < 4; p++)
                CHECK_INT(occurrences(page, plots[p]), 1);
        CHECK_INT(occurrences(page, "<g class=\"line\" data-domain=\"evaluation\""), 4);
        CHECK_INT(occurrences(page, "<g class=\"line\" data-domain=\"model_inference\""), 4);
        CHECK_INT(occurrences(page, "<polyline points="), 12); /* 3 domains, 4 plots, no gap */
        CHECK_CONTAINS(page, "<tr data-domain=\"evaluation\"><td class=\"name\"><b>evaluation</b></td><td>10</td>");
        CHECK_INT(occurrences(page, "<tr data-domain="), 3);
        CHECK_INT(occurrences(page, "<tr data-flow="), 3);
        CHECK_CONTAINS(page,
                       "<tr data-flow=\"evaluation\"><td class=\"name\"><b>evaluation</b></td><td>1 min 05 s</td>");
        CHECK_CONTAINS(page, "<td>93 of 100</td>");
        CHECK_CONTAINS(page, "<td class=\"bad\">throttled</td>");
        CHECK_CONTAINS(page, "<td>1 min 05 s</td>");
        CHECK_CONTAINS(page, "<td>open</td>"); /* domain 2's breaker */
        CHECK_CONTAINS(page, "<td class=\"muted\">none</td>"); /* no agent */
        /* nothing runs, nothing loads */
        CHECK(!strstr(page, "<script"));
        CHECK(!strstr(page, "src="));
        CHECK(!strstr(page, "https://"));
        CHECK_CONTAINS(page, "x&lt;script&gt;alert(1)&lt;/script&gt;");
        /* dead letters: the reasons with a count, and the total */
        CHECK_CONTAINS(page, "<td class=\"name\">contract.violation</td><td>3</td>");
        CHECK(!strstr(page, "deadline.expired"));
        CHECK_CONTAINS(page, "<th class=\"name\">total</th><th>3</th>");
        CHECK_CONTAINS(page, "No task waits for an approval.");
        /* 2 minutes of samples: the plots span 2 minutes, ticked every 30 s */
        CHECK_INT(occurrences(page, "(last 2 min)"), 4);
        CHECK_INT(occurrences(page, ">-2 min</text>"), 4);
        CHECK_INT(occurrences(page, ">-90 s</text>"), 4);
        CHECK_INT(occurrences(page, ">now</text>"), 4);
        free(page);
        bl_status_ring_destroy(ring);
        free(s);
}

/* However long the instance runs, the plots show the last 15 minutes at most. */
static void test_span_grows_to_fifteen_minutes(void) {
        bl_status_snapshot_t *s = malloc(sizeof(*s));
        fill(s);
        const struct {
                size_t samples;
                const char *caption, *first_tick;
        } cases[] = {{1, "(last 1 min)", ">-1 min</text>"},       {61, "(last 1 min)", ">-45 s</text>"},
                     {62, "(last 2 min)", ">-2 min</text>"},     {299, "(last 5 min)", ">-4 min</text>"},
                     {700, "(last 15 min)", ">-10 min</text>"}, {900, "(last 15 min)", ">-15 min</text>"}};
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                bl_status_ring_t *ring = ring_for(3, cases[i].samples, 1000);
                size_t length;
                char *page = bl_status_page_render(s, ring, 5, &length);
                CHECK_INT(occurrences(page, cases[i].caption), 4);
                CHECK_INT(occurrences(page, cases[i].first_tick), 4);
                CHECK_INT(occurrences(page, "<polyline points="), 12);
                /* one point per sample while they are far apart; at most one per 2 px of the 478 px plot */
                const char *points = strstr(page, "<polyline points=\"") + 18;
                size_t count = 1;
                for (const char *c = points; *c != '"'; c++)
                        count += *c == ' ';
                CHECK(count <= 240);
                if (cases[i].samples <= 121) /* a span of 2 minutes at most: 4 px a sample or more */
                        CHECK_INT(count, cases[i].samples);
                free(page);
                bl_status_ring_destroy(ring);
        }
        free(s);
}

static void test_lines_break_at_gaps_and_window(void) {
        bl_status_snapshot_t *s = malloc(sizeof(*s));
        fill(s);
        s->domain_count = 1;
        bl_status_ring_t *ring = bl_status_ring_new(BL_STATUS_PLOT__COUNT, 900);
        double values[BL_STATUS_PLOT__COUNT] = {1, 2, 3, 4};
        bl_status_ring_push(ring, NOW - BL_STATUS_WINDOW_MS - 5000, values); /* before the window: left out */
        for (int64_t t = NOW - 60000; t <= NOW - 50000; t += 1000)
                bl_status_ring_push(ring, t, values);
        for (int64_t t = NOW - 10000; t <= NOW; t += 1000) /* 40 s without samples before these */
                bl_status_ring_push(ring, t, values);
        size_t length;
        char *page = bl_status_page_render(s, ring, 5, &length);
        CHECK_INT(occurrences(page, "<polyline points="), 2 * 4);
        CHECK(!strstr(page, "no samples yet"));
        /* the last point of a plot sits at the right edge: x = 540 - 10 */
        CHECK_CONTAINS(page, " 530.0,");
        free(page);
        bl_status_ring_destroy(ring);
        page = bl_status_page_render(s, NULL, 5, &length);
        CHECK_INT(occurrences(page, "no samples yet"), 4);
        free(page);
        free(s);
}

/* A pipeline that samples every 15 s (a long walk over many tasks) still gets lines, not dots. */
static void test_sparse_samples_still_join(void) {
        bl_status_snapshot_t *s = malloc(sizeof(*s));
        fill(s);
        bl_status_ring_t *ring = ring_for(3, 60, 15000); /* 15 minutes at one sample per 15 s */
        size_t length;
        char *page = bl_status_page_render(s, ring, 5, &length);
        CHECK_INT(occurrences(page, "<polyline points="), 12);
        CHECK_INT(occurrences(page, "(last 15 min)"), 4);
        free(page);
        bl_status_ring_destroy(ring);
        free(s);
}

static void test_approvals_longest_first_bounded(void) {
        bl_status_snapshot_t *s = malloc(sizeof(*s));
        fill(s);
        for (int i = 0; i < 40; i++) {
                char id[32];
                snprintf(id, sizeof(id), "task-%02d", i);
                bl_status_note_approval(s, id, "evaluation", (int64_t)((i * 17) % 40) * 1000);
        }
        CHECK_INT(s->approvals_waiting, 40);
        CHECK_INT(s->approval_count, BL_STATUS_APPROVALS_MAX);
        for (size_t i = 1; i < s->approval_count; i++)
                CHECK(s->approvals[i - 1].waiting_ms >= s->approvals[i].waiting_ms);
        CHECK_INT(s->approvals[0].waiting_ms, 39000);
        CHECK_INT(s->approvals[BL_STATUS_APPROVALS_MAX - 1].waiting_ms, (40 - BL_STATUS_APPROVALS_MAX) * 1000);
        size_t length;
        char *page = bl_status_page_render(s, NULL, 5, &length);
        CHECK_CONTAINS(page, "Awaiting approval: 40");
        CHECK_CONTAINS(page, "The 25 longest-waiting of 40 shown");
        CHECK_CONTAINS(page, "<td>39 s</td>");
        free(page);
        free(s);
}

static void test_board(void) {
        bl_status_board_t *board = bl_status_board_new();
        bl_status_snapshot_t *s = malloc(sizeof(*s));
        size_t length;
        char *page = bl_status_board_render(board, 5, &length);
        CHECK_CONTAINS(page, "has not published its status yet");
        free(page);
        fill(s);
        for (int i = 0; i < 5; i++) {
                s->taken_at_ms = NOW + i * 1000;
                bl_status_board_publish(board, s);
        }
        page = bl_status_board_render(board, 7, &length);
        CHECK_CONTAINS(page, "content=\"7\"");
        CHECK_INT(occurrences(page, "<polyline points="), 12);
        free(page);
        /* other domains: the plots start again with this sample alone */
        s->domain_count = 2;
        s->taken_at_ms = NOW + 6000;
        bl_status_board_publish(board, s);
        page = bl_status_board_render(board, 5, &length);
        CHECK_INT(occurrences(page, "<g class=\"line\""), 8);
        CHECK(!strstr(page, "x&lt;script"));
        const char *first = strstr(page, "<polyline points=\"");
        CHECK(first && strchr(first + 18, '"') < strchr(first + 18, ' ')); /* one point: no space inside */
        free(page);
        bl_status_board_destroy(board);
        bl_status_board_destroy(NULL);
        free(s);
}

static void test_numbers(void) {
        char text[32];
        CHECK_STR(bl_status_page_duration(-1, text, sizeof(text)), "-");
        CHECK_STR(bl_status_page_duration(999, text, sizeof(text)), "0 s");
        CHECK_STR(bl_status_page_duration(59000, text, sizeof(text)), "59 s");
        CHECK_STR(bl_status_page_duration(65000, text, sizeof(text)), "1 min 05 s");
        CHECK_STR(bl_status_page_duration(7260000, text, sizeof(text)), "2 h 01 min");
        CHECK_STR(bl_status_page_duration(90000000, text, sizeof(text)), "1 d 01 h");
        CHECK(bl_status_page_axis_top(0) == 1);
        CHECK(bl_status_page_axis_top(0.3) == 1);
        CHECK(bl_status_page_axis_top(3) == 5);
        CHECK(bl_status_page_axis_top(10) == 10);
        CHECK(bl_status_page_axis_top(11) == 20);
        CHECK(bl_status_page_axis_top(4999) == 5000);
        CHECK(bl_status_page_axis_top(5001) == 10000);
        char cut[8];
        bl_status_copy_text(cut, sizeof(cut), "abcd\xc3\xa9\xc3\xa9"); /* 8 bytes: the second é does not fit */
        CHECK_STR(cut, "abcd\xc3\xa9");
        bl_status_copy_text(cut, sizeof(cut), NULL);
        CHECK_STR(cut, "");
}

int main(void) {
        RUN(test_every_domain_and_plot);
        RUN(test_span_grows_to_fifteen_minutes);
        RUN(test_lines_break_at_gaps_and_window);
        RUN(test_sparse_samples_still_join);
        RUN(test_approvals_longest_first_bounded);
        RUN(test_board);
        RUN(test_numbers);
        return check_exit_status();
}
