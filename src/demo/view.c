/*
 * view.c: the demo's live view and its summary.
 *
 * Everything shown of the pipeline comes from its metrics registry (the one
 * /metrics renders, ops/metrics.h): tasks by state and domain, each domain's
 * outstanding dispatches (its lag) and whether it is throttled, decisions per
 * domain and policy, dead letters by reason, transactions. Series handles are
 * looked up once; reading them is an atomic load, safe while the pipeline
 * thread updates them. The pipeline refreshes its gauges once a second, so
 * the view does not need to look more often; lag and throttling are sampled
 * more often than they are drawn, to add up the time each domain spent
 * throttled and the highest lag it reached. Each domain's capacity estimate
 * (SPEC §14: its workers' results per second, runtime, drain time) comes
 * from the capacity gauges, "-" while not known.
 *
 * The decision agent of BL_SCENARIO_AGENT_DOMAIN: what it served (the demo
 * agent's own counters, in the frame) and how backlogd used it, from the
 * pilot's series split by decided_by: dispatches (the wait histogram's
 * count), first attempts and deadline misses of the agent's pilot, of the
 * pilot's fallbacks to the policy and of the control group; and the
 * pipeline's own account of it: consultations by outcome, the parts of
 * answers refused by reason, the agent's breaker (sampled, to count how
 * often it opened).
 *
 * On a terminal the view is redrawn in place (cursor up, clear to end of
 * line); otherwise each period prints one plain line, which a log or a CI
 * job keeps readable. The summary goes to stdout, as text or JSON. Main
 * thread only.
 */
#include "demo/view.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "agent/client.h"
#include "core/breaker.h"
#include "core/guardrails.h"
#include "core/item.h"

#define LINE_MAX_BYTES  512
#define FRAME_LINES_MAX 32

#define BOLD  "\033[1m"
#define RED   "\033[1;31m"
#define GREEN "\033[32m"
#define RESET "\033[0m"

typedef struct domain_view_s {
        const char *name;
        bl_metric_series_t *items[BL_STATE__COUNT];
        bl_metric_series_t *lag, *throttled, *dispatched[2];
        bl_metric_series_t *breaker_state, *breaker_opened; /* its circuit breaker (SPEC §14) */
        int breaker_now; /* 0 closed, 1 open, 2 half-open, as last sampled */
        bl_metric_series_t *capacity_known, *throughput, *runtime, *drain;
        double max_lag;
        int64_t throttled_ms;
        int throttled_times;
        bool was_throttled;
        double dispatched_at_last_draw;
        double dispatch_rate;
} domain_view_t;

/* The rows of the agent's domain, by decided_by. */
enum { PILOT_AGENT = 0, PILOT_POLICY, PILOT_CONTROL, PILOT_ROWS };
static const char *const pilot_labels[PILOT_ROWS] = {BL_DEMO_AGENT_LABEL, "policy", "control"};
static const char *const pilot_names[PILOT_ROWS] = {"the agent", "the policy (fallbacks)", "the control group"};

typedef struct pilot_view_s {
        bl_metric_series_t *wait, *first_completed, *first_failed, *misses;
} pilot_view_t;

#define CONSULTATION_OUTCOMES (BL_AGENT_RESULT__COUNT + 1) /* the client's results, and not_sent */

struct bl_view_s {
        FILE *out;
        pilot_view_t pilot[PILOT_ROWS];
        bl_metric_series_t *consultations[CONSULTATION_OUTCOMES];
        bl_metric_series_t *refusals[3][BL_REFUSAL__COUNT]; /* by part: order, hold, escalation */
        bl_metric_series_t *breaker;
        int breaker_state;    /* as last sampled: a bl_breaker_state_t */
        int breaker_openings; /* times it was seen to open */
        bool terminal;
        domain_view_t domains[BL_SCENARIO_DOMAINS];
        bl_metric_series_t *dlq[BL_REASON__COUNT];
        bl_metric_series_t *events_in, *results_in, *control_in, *input_paused, *committed, *aborted;
        int64_t last_sample_ms;
        double last_draw_elapsed_s;
        double dispatch_rate;
        int drawn_lines;
};

/* The states the view shows, in the order of the pipeline. */
static const bl_state_t shown_states[] = {BL_STATE_READY,   BL_STATE_BLOCKED,    BL_STATE_DISPATCHED,
                                          BL_STATE_RUNNING, BL_STATE_RETRY_WAIT, BL_STATE_COMPLETED,
                                          BL_STATE_DEAD,    BL_STATE_EXPIRED};
static const char *const shown_headers[] = {"ready", "blocked", "sent", "running", "retry", "done", "dead", "expired"};
#define SHOWN_STATES (sizeof(shown_states) / sizeof(shown_states[0]))

/* The outcome label of consultations: the client's results, then not_sent (refused before it left). */
static const char *outcome_name(int outcome) {
        return outcome < BL_AGENT_RESULT__COUNT ? bl_agent_result_name((bl_agent_result_t)outcome) : "not_sent";
}

bl_view_t *bl_view_new(const bl_metrics_backlogd_t *metrics, const bl_config_t *config, FILE *out, bool terminal) {
        bl_view_t *view = calloc(1, sizeof(*view));
        char *events = bl_config_topic_name(config, "tasks.events");
        char *results = bl_config_topic_name(config, "tasks.results");
        char *control = bl_config_topic_name(config, "tasks.control");
        if (!view || !events || !results || !control) {
                free(view);
                free(events);
                free(results);
                free(control);
                return NULL;
        }
        view->out = out;
        view->terminal = terminal;
        for (int d = 0; d < BL_SCENARIO_DOMAINS; d++) {
                domain_view_t *domain = &view->domains[d];
                domain->name = bl_scenario_domains[d].name;
                for (int s = 0; s < BL_STATE__COUNT; s++)
                        domain->items[s] =
                                bl_metrics_series(metrics->backlog_items, bl_state_name((bl_state_t)s), domain->name);
                domain->lag = bl_metrics_series(metrics->backpressure_lag, domain->name);
                domain->throttled = bl_metrics_series(metrics->backpressure_throttled, domain->name);
                domain->breaker_state = bl_metrics_series(metrics->domain_breaker_state, domain->name);
                domain->breaker_opened = bl_metrics_series(metrics->domain_breaker_opened, domain->name);
                domain->dispatched[0] =
                        bl_metrics_series(metrics->dispatch_decisions, domain->name, BL_SCENARIO_POLICY_LABEL);
                domain->dispatched[1] =
                        bl_metrics_series(metrics->dispatch_decisions, domain->name, BL_SCENARIO_CANARY_LABEL);
                domain->capacity_known = bl_metrics_series(metrics->capacity_known, domain->name);
                domain->throughput = bl_metrics_series(metrics->capacity_throughput, domain->name);
                domain->runtime = bl_metrics_series(metrics->capacity_runtime_seconds, domain->name);
                domain->drain = bl_metrics_series(metrics->capacity_drain_seconds, domain->name);
        }
        for (int r = 1; r < BL_REASON__COUNT; r++)
                view->dlq[r] = bl_metrics_series(metrics->dlq_records, bl_reason_name((bl_reason_t)r));
        for (int g = 0; g < PILOT_ROWS; g++) {
                pilot_view_t *row = &view->pilot[g];
                row->wait = bl_metrics_series(metrics->pilot_wait_seconds, BL_SCENARIO_AGENT_DOMAIN, pilot_labels[g]);
                row->first_completed = bl_metrics_series(metrics->pilot_first_attempts, BL_SCENARIO_AGENT_DOMAIN,
                                                         pilot_labels[g], "completed");
                row->first_failed = bl_metrics_series(metrics->pilot_first_attempts, BL_SCENARIO_AGENT_DOMAIN,
                                                      pilot_labels[g], "failed");
                row->misses = bl_metrics_series(metrics->pilot_deadline_misses, BL_SCENARIO_AGENT_DOMAIN,
                                                pilot_labels[g]);
        }
        for (int r = 0; r < CONSULTATION_OUTCOMES; r++)
                view->consultations[r] =
                        bl_metrics_series(metrics->agent_consultations, BL_SCENARIO_AGENT_DOMAIN, outcome_name(r));
        for (int part = 0; part < 3; part++)
                for (int r = 0; r < BL_REFUSAL__COUNT; r++)
                        view->refusals[part][r] = bl_metrics_series(
                                metrics->agent_refusals, BL_SCENARIO_AGENT_DOMAIN,
                                bl_agent_part_name((bl_agent_part_t)part), bl_refusal_name((bl_refusal_t)r));
        view->breaker = bl_metrics_series(metrics->agent_breaker_state, BL_SCENARIO_AGENT_DOMAIN);
        view->events_in = bl_metrics_series(metrics->ingest_events, events);
        view->results_in = bl_metrics_series(metrics->ingest_events, results);
        view->control_in = bl_metrics_series(metrics->ingest_events, control); /* the approvals the traffic sends */
        view->input_paused = bl_metrics_series(metrics->backpressure_input_paused);
        view->committed = bl_metrics_series(metrics->txn_committed);
        view->aborted = bl_metrics_series(metrics->txn_aborted);
        free(events);
        free(results);
        free(control);
        return view;
}

void bl_view_destroy(bl_view_t *view) {
        free(view);
}

/* ---- reading the series ------------------------------------------------------------ */

static uint64_t count(const bl_metric_series_t *series) {
        double value = bl_metric_value(series);
        return value > 0 ? (uint64_t)(value + 0.5) : 0;
}

static bool capacity_known(const domain_view_t *domain) {
        return bl_metric_value(domain->capacity_known) > 0.5;
}

/* "12.3/s  run 1.2 s  drains in 40 s" for @p domain, or why not yet. */
static void append_capacity(char *line, size_t size, const domain_view_t *domain) {
        size_t used = strlen(line);
        if (!capacity_known(domain))
                snprintf(line + used, size - used, "%7s %8s %9s  not known yet", "-", "-", "-");
        else
                snprintf(line + used, size - used, "%7.1f %7.2fs %8.1fs", bl_metric_value(domain->throughput),
                         bl_metric_value(domain->runtime), bl_metric_value(domain->drain));
}

static uint64_t dispatched(const domain_view_t *domain) {
        return count(domain->dispatched[0]) + count(domain->dispatched[1]);
}

static uint64_t in_state(const bl_view_t *view, bl_state_t state) {
        uint64_t total = 0;
        for (int d = 0; d < BL_SCENARIO_DOMAINS; d++)
                total += count(view->domains[d].items[state]);
        return total;
}

static uint64_t dlq_total(const bl_view_t *view) {
        uint64_t total = 0;
        for (int r = 1; r < BL_REASON__COUNT; r++)
                total += count(view->dlq[r]);
        return total;
}

void bl_view_sample(bl_view_t *view, int64_t now_ms) {
        for (int d = 0; d < BL_SCENARIO_DOMAINS; d++) {
                domain_view_t *domain = &view->domains[d];
                double lag = bl_metric_value(domain->lag);
                bool throttled = bl_metric_value(domain->throttled) > 0.5;
                if (lag > domain->max_lag)
                        domain->max_lag = lag;
                if (throttled && domain->was_throttled && view->last_sample_ms)
                        domain->throttled_ms += now_ms - view->last_sample_ms;
                if (throttled && !domain->was_throttled)
                        domain->throttled_times++;
                domain->was_throttled = throttled;
                domain->breaker_now = (int)(bl_metric_value(domain->breaker_state) + 0.5);
        }
        int breaker = (int)(bl_metric_value(view->breaker) + 0.5);
        if (breaker == BL_BREAKER_OPEN && view->breaker_state != BL_BREAKER_OPEN)
                view->breaker_openings++;
        view->breaker_state = breaker >= 0 && breaker < BL_BREAKER__COUNT ? breaker : BL_BREAKER_CLOSED;
        view->last_sample_ms = now_ms;
}

void bl_view_consumed(const bl_view_t *view, uint64_t *events, uint64_t *results) {
        *events = count(view->events_in) + count(view->control_in); /* what the traffic sent, on both topics */
        *results = count(view->results_in);
}

/* ---- the live view ---------------------------------------------------------------------- */

/* The domain's breaker now, and how often it opened: "closed", "OPEN (2x)", "half-open (1x)". */
static const char *breaker_text(const domain_view_t *domain) {
        static char text[64];
        static const char *const states[] = {GREEN "closed" RESET, RED "OPEN" RESET, "half-open"};
        uint64_t opened = count(domain->breaker_opened);
        int state = domain->breaker_now >= 0 && domain->breaker_now <= 2 ? domain->breaker_now : 0;
        if (opened)
                snprintf(text, sizeof(text), "%s (%llux)", states[state], (unsigned long long)opened);
        else
                snprintf(text, sizeof(text), "%s", states[state]);
        return text;
}


static void update_rates(bl_view_t *view, double elapsed_s) {
        double interval_s = elapsed_s - view->last_draw_elapsed_s;
        double total_rate = 0;
        if (interval_s <= 0)
                return;
        for (int d = 0; d < BL_SCENARIO_DOMAINS; d++) {
                domain_view_t *domain = &view->domains[d];
                double now = (double)dispatched(domain);
                domain->dispatch_rate = (now - domain->dispatched_at_last_draw) / interval_s;
                domain->dispatched_at_last_draw = now;
                total_rate += domain->dispatch_rate;
        }
        view->dispatch_rate = total_rate;
        view->last_draw_elapsed_s = elapsed_s;
}

static uint64_t pills_sent(const bl_traffic_stats_t *traffic) {
        uint64_t total = 0;
        for (int i = 0; i < BL_PILL__COUNT; i++)
                total += traffic->pills[i];
        return total;
}

typedef struct frame_lines_s {
        char lines[FRAME_LINES_MAX][LINE_MAX_BYTES];
        int count;
} frame_lines_t;

static char *next_line(frame_lines_t *frame) {
        char *line = frame->lines[frame->count < FRAME_LINES_MAX - 1 ? frame->count++ : FRAME_LINES_MAX - 1];
        line[0] = '\0';
        return line;
}

static void append(char *line, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void append(char *line, const char *fmt, ...) {
        size_t used = strlen(line);
        va_list ap;
        if (used >= LINE_MAX_BYTES - 1)
                return;
        va_start(ap, fmt);
        vsnprintf(line + used, LINE_MAX_BYTES - used, fmt, ap);
        va_end(ap);
}

/* The terminal's width in columns (80 when it does not say). */
static int terminal_columns(FILE *out) {
        struct winsize size;
        if (ioctl(fileno(out), TIOCGWINSZ, &size) == 0 && size.ws_col >= 40)
                return size.ws_col;
        return 80;
}

/* Cuts @p line after @p columns visible characters (escape sequences take none), so no line wraps. */
static void fit(char *line, int columns) {
        int visible = 0;
        for (char *p = line; *p; p++) {
                if (*p == '\033') {
                        while (p[1] && !((p[1] >= 'A' && p[1] <= 'Z') || (p[1] >= 'a' && p[1] <= 'z')))
                                p++;
                        if (p[1])
                                p++;
                        continue;
                }
                if (++visible > columns) {
                        snprintf(p, LINE_MAX_BYTES - (size_t)(p - line), RESET);
                        return;
                }
        }
}

/* First attempts ended, and the share that completed (-1 without any). */
static double first_attempt_rate(const pilot_view_t *row, uint64_t *ended) {
        uint64_t completed = count(row->first_completed);
        *ended = completed + count(row->first_failed);
        return *ended ? (double)completed / (double)*ended : -1;
}

/* "agent" and "pilot" lines: what the agent served, and who decided its domain's dispatches. */
static void agent_lines(const bl_view_t *view, const bl_view_frame_t *frame, char *served, char *pilot) {
        const bl_demo_agent_stats_t *a = &frame->agent;
        uint64_t ended;
        snprintf(served, LINE_MAX_BYTES,
                 "%s on %.0f %% of %s: %llu consultations, %llu answered, %llu too late, %llu failed (500), "
                 "%llu garbage; %llu holds asked, %llu parts to refuse",
                 BL_DEMO_AGENT_LABEL, 100.0 * BL_SCENARIO_PILOT_SHARE, BL_SCENARIO_AGENT_DOMAIN,
                 (unsigned long long)a->requests, (unsigned long long)a->answered, (unsigned long long)a->slow,
                 (unsigned long long)a->failed, (unsigned long long)a->garbage, (unsigned long long)a->holds,
                 (unsigned long long)a->baits);
        snprintf(pilot, LINE_MAX_BYTES, "dispatched by");
        for (int g = 0; g < PILOT_ROWS; g++) {
                double rate = first_attempt_rate(&view->pilot[g], &ended);
                append(pilot, "%s %s %llu", g ? "," : "", g == PILOT_AGENT ? BL_DEMO_AGENT_LABEL : pilot_labels[g],
                       (unsigned long long)count(view->pilot[g].wait));
                if (rate >= 0)
                        append(pilot, " (%.0f %% first try)", 100.0 * rate);
        }
}

static uint64_t refused_total(const bl_view_t *view) {
        uint64_t total = 0;
        for (int part = 0; part < 3; part++)
                for (int r = 0; r < BL_REFUSAL__COUNT; r++)
                        total += count(view->refusals[part][r]);
        return total;
}

/* "consultations" and "refused" lines: how backlogd's consultations ended, what it refused, the breaker. */
static void consultation_lines(const bl_view_t *view, char *consulted, char *refused) {
        bool any = false;
        consulted[0] = refused[0] = '\0';
        for (int r = 0; r < CONSULTATION_OUTCOMES; r++)
                if (count(view->consultations[r]) || r == BL_AGENT_ANSWERED) {
                        append(consulted, "%s%s %llu", any ? ", " : "", outcome_name(r),
                               (unsigned long long)count(view->consultations[r]));
                        any = true;
                }
        append(consulted, "; breaker %s (opened %d time%s)",
               bl_breaker_state_name((bl_breaker_state_t)view->breaker_state), view->breaker_openings,
               view->breaker_openings == 1 ? "" : "s");
        append(refused, "%llu part%s refused", (unsigned long long)refused_total(view),
               refused_total(view) == 1 ? "" : "s");
        any = false;
        for (int part = 0; part < 3; part++)
                for (int r = 0; r < BL_REFUSAL__COUNT; r++)
                        if (count(view->refusals[part][r])) {
                                append(refused, "%s%s %s %llu", any ? ", " : ": ",
                                       bl_agent_part_name((bl_agent_part_t)part), bl_refusal_name((bl_refusal_t)r),
                                       (unsigned long long)count(view->refusals[part][r]));
                                any = true;
                        }
        append(refused, "; %llu pilot dispatch%s by the policy (fallbacks)",
               (unsigned long long)count(view->pilot[PILOT_POLICY].wait),
               count(view->pilot[PILOT_POLICY].wait) == 1 ? "" : "es");
}

static void draw_terminal(bl_view_t *view, const bl_view_frame_t *frame) {
        frame_lines_t lines = {.count = 0};
        char *line = next_line(&lines);
        append(line, BOLD "backlogd demo" RESET "  %.1f s of %.0f s, seed %llu, %.0f tasks/s, mock cluster %s",
               frame->elapsed_s, frame->duration_s, (unsigned long long)frame->seed, frame->rate, frame->bootstraps);
        line = next_line(&lines);
        append(line, BOLD "%-16s" RESET " %llu records: %llu tasks, %llu approvals, %llu poison pills", "producers",
               (unsigned long long)frame->traffic.produced, (unsigned long long)frame->traffic.submitted,
               (unsigned long long)frame->traffic.approvals, (unsigned long long)pills_sent(&frame->traffic));
        line = next_line(&lines);
        append(line, BOLD "%-16s" RESET " %llu events and %llu results consumed, input %s", "pipeline",
               (unsigned long long)count(view->events_in), (unsigned long long)count(view->results_in),
               bl_metric_value(view->input_paused) > 0.5 ? RED "paused" RESET : "flowing");
        line = next_line(&lines);
        append(line, "%-16s %.0f dispatches/s by %s (canary %s)", "", view->dispatch_rate, BL_SCENARIO_POLICY_LABEL,
               BL_SCENARIO_CANARY_LABEL);
        line = next_line(&lines);
        append(line, "%-16s %llu transactions committed, %llu aborted", "", (unsigned long long)count(view->committed),
               (unsigned long long)count(view->aborted));

        next_line(&lines);
        line = next_line(&lines);
        append(line, BOLD "%-16s", "backlog");
        for (size_t s = 0; s < SHOWN_STATES; s++)
                append(line, " %7s", shown_headers[s]);
        append(line, RESET);
        for (int d = 0; d < BL_SCENARIO_DOMAINS; d++) {
                line = next_line(&lines);
                append(line, "%-16s", view->domains[d].name);
                for (size_t s = 0; s < SHOWN_STATES; s++)
                        append(line, " %7llu", (unsigned long long)count(view->domains[d].items[shown_states[s]]));
        }

        next_line(&lines);
        line = next_line(&lines);
        append(line, BOLD "%-16s %10s %5s %6s %7s  %-9s  %-14s  %s" RESET, "dispatch", "dispatched", "/s", "lag",
               "max lag", "now", "throttled", "breaker");
        for (int d = 0; d < BL_SCENARIO_DOMAINS; d++) {
                domain_view_t *domain = &view->domains[d];
                line = next_line(&lines);
                append(line, "%-16s %10llu %5.0f %6llu %7.0f  ", domain->name, (unsigned long long)dispatched(domain),
                       domain->dispatch_rate, (unsigned long long)count(domain->lag), domain->max_lag);
                append(line, "%s", domain->was_throttled ? RED "THROTTLED" RESET : GREEN "open     " RESET);
                char throttled[32] = "never";
                if (domain->throttled_times)
                        snprintf(throttled, sizeof(throttled), "%.1f s, %dx", (double)domain->throttled_ms / 1000.0,
                                 domain->throttled_times);
                append(line, "  %-14s  %s", throttled, breaker_text(domain));
        }

        next_line(&lines);
        line = next_line(&lines);
        append(line, BOLD "%-16s %7s %8s %9s" RESET, "capacity", "done/s", "runtime", "drains in");
        for (int d = 0; d < BL_SCENARIO_DOMAINS; d++) {
                line = next_line(&lines);
                append(line, "%-16s ", view->domains[d].name);
                append_capacity(line, LINE_MAX_BYTES, &view->domains[d]);
        }

        next_line(&lines);
        line = next_line(&lines);
        append(line, BOLD "%-16s" RESET, "dead letters");
        if (!dlq_total(view))
                append(line, " none yet");
        for (int r = 1, on_line = 0; r < BL_REASON__COUNT; r++) {
                if (!count(view->dlq[r]))
                        continue;
                if (on_line == 2) { /* two reasons a line */
                        line = next_line(&lines);
                        append(line, "%-16s", "");
                        on_line = 0;
                }
                append(line, "%s%-22s %5llu", on_line ? "   " : " ", bl_reason_name((bl_reason_t)r),
                       (unsigned long long)count(view->dlq[r]));
                on_line++;
        }

        char served[LINE_MAX_BYTES], pilot[LINE_MAX_BYTES];
        agent_lines(view, frame, served, pilot);
        next_line(&lines);
        line = next_line(&lines);
        append(line, BOLD "%-16s" RESET " %s", "agent", served);
        line = next_line(&lines);
        append(line, BOLD "%-16s" RESET " %s", "pilot", pilot);
        char consulted[LINE_MAX_BYTES], refused[LINE_MAX_BYTES];
        consultation_lines(view, consulted, refused);
        line = next_line(&lines);
        append(line, BOLD "%-16s" RESET " %s", "consultations", consulted);
        line = next_line(&lines);
        append(line, BOLD "%-16s" RESET " %s", "guardrails", refused);

        if (view->drawn_lines)
                fprintf(view->out, "\033[%dF", view->drawn_lines); /* back to the first line of the last frame */
        for (int i = 0; i < lines.count; i++) {
                fit(lines.lines[i], terminal_columns(view->out));
                fprintf(view->out, "\033[K%s\n", lines.lines[i]); /* clear first: a full line leaves no room */
        }
        fprintf(view->out, "\033[J");
        fflush(view->out);
        view->drawn_lines = lines.count;
}

static void draw_plain(bl_view_t *view, const bl_view_frame_t *frame) {
        char line[LINE_MAX_BYTES] = "";
        append(line,
               "demo %5.1fs: produced %llu, dispatched %.0f/s, ready %llu, running %llu, completed %llu, dlq %llu;",
               frame->elapsed_s, (unsigned long long)frame->traffic.produced, view->dispatch_rate,
               (unsigned long long)in_state(view, BL_STATE_READY), (unsigned long long)in_state(view, BL_STATE_RUNNING),
               (unsigned long long)in_state(view, BL_STATE_COMPLETED), (unsigned long long)dlq_total(view));
        for (int d = 0; d < BL_SCENARIO_DOMAINS; d++)
                append(line, " %s lag %llu%s%s%s", view->domains[d].name,
                       (unsigned long long)count(view->domains[d].lag),
                       view->domains[d].was_throttled ? " THROTTLED" : "",
                       view->domains[d].breaker_now == 1   ? " BREAKER OPEN"
                       : view->domains[d].breaker_now == 2 ? " BREAKER HALF-OPEN"
                                                           : "",
                       d + 1 < BL_SCENARIO_DOMAINS ? "," : "");
        append(line, "; agent %llu answered, %llu failed, %llu late, breaker %s; %s by %s %llu, policy %llu, control %llu",
               (unsigned long long)frame->agent.answered,
               (unsigned long long)(frame->agent.failed + frame->agent.garbage), (unsigned long long)frame->agent.slow,
               bl_breaker_state_name((bl_breaker_state_t)view->breaker_state), BL_SCENARIO_AGENT_DOMAIN, BL_DEMO_AGENT_LABEL, (unsigned long long)count(view->pilot[PILOT_AGENT].wait),
               (unsigned long long)count(view->pilot[PILOT_POLICY].wait),
               (unsigned long long)count(view->pilot[PILOT_CONTROL].wait));
        fprintf(view->out, "%s\n", line);
        fflush(view->out);
}

void bl_view_draw(bl_view_t *view, const bl_view_frame_t *frame) {
        update_rates(view, frame->elapsed_s);
        if (view->terminal)
                draw_terminal(view, frame);
        else
                draw_plain(view, frame);
}

/* ---- the summary ------------------------------------------------------------------------- */

static const char *const mock_note =
        "The mock cluster accepts transactions and ignores them: no markers are written and offsets sent in a "
        "transaction are not committed, so the demo shows the pipeline at work, not exactly-once; make test "
        "proves that against a real broker.";

static uint64_t dlq_count(const bl_view_t *view, const bl_view_outcome_t *outcome, bl_reason_t reason) {
        return outcome->dlq_read_back ? outcome->dlq[reason] : count(view->dlq[reason]);
}

static uint64_t pills_for(const bl_traffic_stats_t *traffic, bl_reason_t reason) {
        uint64_t total = 0;
        for (int i = 0; i < BL_PILL__COUNT; i++)
                if (!strcmp(bl_pill_reason((bl_pill_t)i), bl_reason_name(reason)))
                        total += traffic->pills[i];
        return total;
}

/* The agent's part of the summary: what it served, and each group of its domain. */
static json_t *agent_json(const bl_view_t *view, const bl_view_frame_t *frame) {
        const bl_demo_agent_stats_t *a = &frame->agent;
        json_t *groups = json_object();
        for (int g = 0; groups && g < PILOT_ROWS; g++) {
                uint64_t ended;
                double rate = first_attempt_rate(&view->pilot[g], &ended);
                json_object_set_new(groups, pilot_labels[g],
                                    json_pack("{s:I, s:I, s:I, s:o, s:I}", "dispatched",
                                              (json_int_t)count(view->pilot[g].wait), "first_attempts",
                                              (json_int_t)ended, "first_attempts_completed",
                                              (json_int_t)count(view->pilot[g].first_completed),
                                              "first_attempt_success_rate", rate >= 0 ? json_real(rate) : json_null(),
                                              "deadline_misses", (json_int_t)count(view->pilot[g].misses)));
        }
        json_t *consultations = json_object(), *refusals = json_object();
        for (int r = 0; consultations && r < CONSULTATION_OUTCOMES; r++)
                json_object_set_new(consultations, outcome_name(r),
                                    json_integer((json_int_t)count(view->consultations[r])));
        for (int part = 0; refusals && part < 3; part++)
                for (int r = 0; r < BL_REFUSAL__COUNT; r++)
                        if (count(view->refusals[part][r])) {
                                char name[64];
                                snprintf(name, sizeof(name), "%s.%s", bl_agent_part_name((bl_agent_part_t)part),
                                         bl_refusal_name((bl_refusal_t)r));
                                json_object_set_new(refusals, name,
                                                    json_integer((json_int_t)count(view->refusals[part][r])));
                        }
        return json_pack("{s:s, s:s, s:f, s:i, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}, s:o, s:o, s:o, s:s, "
                         "s:i}",
                         "domain",
                         BL_SCENARIO_AGENT_DOMAIN, "decided_by", BL_DEMO_AGENT_LABEL, "pilot_share",
                         BL_SCENARIO_PILOT_SHARE, "timeout_ms", BL_SCENARIO_AGENT_TIMEOUT_MS, "served", "requests",
                         (json_int_t)a->requests, "answered", (json_int_t)a->answered, "too_late", (json_int_t)a->slow,
                         "failed", (json_int_t)a->failed, "garbage", (json_int_t)a->garbage, "ordered",
                         (json_int_t)a->ordered, "holds", (json_int_t)a->holds, "parts_to_refuse",
                         (json_int_t)a->baits, "groups", groups, "consultations", consultations, "refusals", refusals,
                         "breaker", bl_breaker_state_name((bl_breaker_state_t)view->breaker_state),
                         "breaker_openings", view->breaker_openings);
}

static void agent_text(const bl_view_t *view, const bl_view_frame_t *frame, FILE *out) {
        char served[LINE_MAX_BYTES], pilot[LINE_MAX_BYTES];
        agent_lines(view, frame, served, pilot);
        char consulted[LINE_MAX_BYTES], refused[LINE_MAX_BYTES];
        consultation_lines(view, consulted, refused);
        fprintf(out, "\nthe decision agent  %s\n", served);
        fprintf(out, "%-20s%s\n%-20s%s\n", "consultations", consulted, "guardrails", refused);
        fprintf(out, "%-17s %10s %16s %15s\n", BL_SCENARIO_AGENT_DOMAIN, "dispatched", "first try ok", "deadline misses");
        for (int g = 0; g < PILOT_ROWS; g++) {
                uint64_t ended;
                double rate = first_attempt_rate(&view->pilot[g], &ended);
                char first[48] = "-";
                if (rate >= 0)
                        snprintf(first, sizeof(first), "%llu/%llu %3.0f %%",
                                 (unsigned long long)count(view->pilot[g].first_completed), (unsigned long long)ended,
                                 100.0 * rate);
                fprintf(out, "  %-22s %7llu %16s %15llu\n", pilot_names[g],
                        (unsigned long long)count(view->pilot[g].wait), first,
                        (unsigned long long)count(view->pilot[g].misses));
        }
}

static json_t *summary_json(const bl_view_t *view, const bl_view_frame_t *frame, const bl_view_outcome_t *outcome) {
        const bl_traffic_stats_t *traffic = &frame->traffic;
        json_t *root = json_object(), *domains = json_object(), *backlog = json_object(), *dlq = json_object(),
               *pills = json_object();
        uint64_t total_dispatched = 0, completed = 0, failed_retryable = 0, failed_permanent = 0, retried = 0;
        for (int i = 0; i < BL_PILL__COUNT; i++)
                json_object_set_new(pills, bl_pill_reason((bl_pill_t)i), json_integer((json_int_t)traffic->pills[i]));
        json_object_set_new(root, "duration_s", json_real(frame->elapsed_s));
        json_object_set_new(root, "seed", json_integer((json_int_t)frame->seed));
        json_object_set_new(root, "rate", json_real(frame->rate));
        json_object_set_new(root, "partitions", json_integer(frame->partitions));
        json_object_set_new(root, "interrupted", json_boolean(outcome->interrupted));
        json_object_set_new(root, "pipeline_status", json_integer(outcome->pipeline_status));
        json_object_set_new(
                root, "events",
                json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:I, s:I}", "produced", (json_int_t)traffic->produced,
                          "submitted", (json_int_t)traffic->submitted, "approvals", (json_int_t)traffic->approvals,
                          "with_deadline", (json_int_t)traffic->with_deadline, "short_deadline",
                          (json_int_t)traffic->short_deadline, "with_dependencies", (json_int_t)traffic->with_deps,
                          "poison_pills", pills, "delivered", (json_int_t)traffic->delivered, "delivery_failed",
                          (json_int_t)traffic->delivery_failed));
        for (int d = 0; d < BL_SCENARIO_DOMAINS; d++) {
                const domain_view_t *domain = &view->domains[d];
                const bl_workers_stats_t *workers = &frame->workers[d];
                json_t *states = json_object();
                for (int s = 0; s < BL_STATE__COUNT; s++)
                        json_object_set_new(states, bl_state_name((bl_state_t)s),
                                            json_integer((json_int_t)count(domain->items[s])));
                json_t *capacity = json_pack("{s:b, s:f, s:f, s:f}", "known", capacity_known(domain),
                                             "throughput_per_s", bl_metric_value(domain->throughput), "runtime_s",
                                             bl_metric_value(domain->runtime), "drain_s",
                                             bl_metric_value(domain->drain));
                json_object_set_new(domains, domain->name,
                                    json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:i, s:b, s:f, s:f, s:i, s:I, s:s, s:o, s:o}",
                                              "dispatched", (json_int_t)dispatched(domain), "started",
                                              (json_int_t)workers->taken, "retried", (json_int_t)workers->retries_taken,
                                              "completed", (json_int_t)workers->completed, "failed_retryable",
                                              (json_int_t)workers->failed_retryable, "failed_permanent",
                                              (json_int_t)workers->failed_permanent, "worker_slots", workers->slots,
                                              "slow", bl_scenario_domains[d].slow, "max_lag", domain->max_lag,
                                              "throttled_s", (double)domain->throttled_ms / 1000.0, "throttled_times",
                                              domain->throttled_times, "breaker_opened",
                                              (json_int_t)count(domain->breaker_opened), "breaker",
                                              bl_breaker_state_name((bl_breaker_state_t)domain->breaker_now),
                                              "backlog", states, "capacity", capacity));
                total_dispatched += dispatched(domain);
                completed += workers->completed;
                failed_retryable += workers->failed_retryable;
                failed_permanent += workers->failed_permanent;
                retried += workers->retries_taken;
        }
        for (int s = 0; s < BL_STATE__COUNT; s++)
                json_object_set_new(backlog, bl_state_name((bl_state_t)s),
                                    json_integer((json_int_t)in_state(view, (bl_state_t)s)));
        for (int r = 1; r < BL_REASON__COUNT; r++)
                json_object_set_new(dlq, bl_reason_name((bl_reason_t)r),
                                    json_integer((json_int_t)dlq_count(view, outcome, (bl_reason_t)r)));
        json_object_set_new(root, "dispatched", json_integer((json_int_t)total_dispatched));
        json_object_set_new(root, "completed", json_integer((json_int_t)completed));
        json_object_set_new(root, "failed",
                            json_pack("{s:I, s:I}", "retryable", (json_int_t)failed_retryable, "permanent",
                                      (json_int_t)failed_permanent));
        json_object_set_new(root, "retried", json_integer((json_int_t)retried));
        json_object_set_new(root, "expired", json_integer((json_int_t)in_state(view, BL_STATE_EXPIRED)));
        for (int d = 0; d < BL_SCENARIO_DOMAINS; d++)
                if (bl_scenario_domains[d].slow)
                        json_object_set_new(root, "slow_domain",
                                            json_pack("{s:s, s:i}", "name", bl_scenario_domains[d].name, "max_lag",
                                                      frame->slow_max_lag));
        json_object_set_new(root, "domains", domains);
        json_object_set_new(root, "backlog", backlog);
        json_object_set_new(root, "dlq", dlq);
        json_object_set_new(root, "dlq_source", json_string(outcome->dlq_read_back ? "backlog.dlq" : "metrics"));
        json_object_set_new(root, "transactions",
                            json_pack("{s:I, s:I}", "committed", (json_int_t)count(view->committed), "aborted",
                                      (json_int_t)count(view->aborted)));
        json_object_set_new(
                root, "policy",
                json_pack("{s:s, s:s}", "main", BL_SCENARIO_POLICY_LABEL, "canary", BL_SCENARIO_CANARY_LABEL));
        json_object_set_new(root, "agent", agent_json(view, frame));
        json_object_set_new(root, "note", json_string(mock_note));
        return root;
}

static void summary_text(const bl_view_t *view, const bl_view_frame_t *frame, const bl_view_outcome_t *outcome,
                         FILE *out) {
        const bl_traffic_stats_t *traffic = &frame->traffic;
        uint64_t total_dispatched = 0, started = 0, completed = 0, failed_retryable = 0, failed_permanent = 0,
                 retried = 0;
        bool any_state = false;
        for (int d = 0; d < BL_SCENARIO_DOMAINS; d++) {
                total_dispatched += dispatched(&view->domains[d]);
                started += frame->workers[d].taken;
                completed += frame->workers[d].completed;
                failed_retryable += frame->workers[d].failed_retryable;
                failed_permanent += frame->workers[d].failed_permanent;
                retried += frame->workers[d].retries_taken;
        }
        fprintf(out,
                "backlogd demo: %.1f s on librdkafka's mock cluster (1 broker, %d partitions a topic), seed %llu, "
                "%.0f tasks/s%s\n\n",
                frame->elapsed_s, frame->partitions, (unsigned long long)frame->seed, frame->rate,
                outcome->interrupted ? ", stopped early" : "");
        fprintf(out,
                "%-20s %llu: %llu tasks (%llu with a deadline, %llu with dependencies), %llu approvals, "
                "%llu poison pill%s; %llu delivered\n",
                "events produced", (unsigned long long)traffic->produced, (unsigned long long)traffic->submitted,
                (unsigned long long)traffic->with_deadline, (unsigned long long)traffic->with_deps,
                (unsigned long long)traffic->approvals, (unsigned long long)pills_sent(traffic),
                pills_sent(traffic) == 1 ? "" : "s", (unsigned long long)traffic->delivered);
        fprintf(out, "%-20s %llu by %s (canary %s on 10%% of the tasks)\n", "dispatched",
                (unsigned long long)total_dispatched, BL_SCENARIO_POLICY_LABEL, BL_SCENARIO_CANARY_LABEL);
        fprintf(out,
                "%-20s %llu attempts started (%llu of them retries): %llu completed, %llu failed and may be "
                "retried, %llu failed for good\n",
                "workers", (unsigned long long)started, (unsigned long long)retried, (unsigned long long)completed,
                (unsigned long long)failed_retryable, (unsigned long long)failed_permanent);
        fprintf(out, "%-20s %llu tasks missed their deadline\n", "expired",
                (unsigned long long)in_state(view, BL_STATE_EXPIRED));
        fprintf(out, "%-20s", "backlog at the end");
        for (int s = 0; s < BL_STATE__COUNT; s++) {
                uint64_t held = in_state(view, (bl_state_t)s);
                if (held) {
                        fprintf(out, "%s %s %llu", any_state ? "," : "", bl_state_name((bl_state_t)s),
                                (unsigned long long)held);
                        any_state = true;
                }
        }
        fprintf(out, "%s\n\n", any_state ? "" : " empty");

        fprintf(out, "%-17s %10s %9s %7s %7s %7s %8s %8s  %s\n", "domain", "dispatched", "completed", "failed",
                "retried", "expired", "max lag", "breaker", "throttled");
        for (int d = 0; d < BL_SCENARIO_DOMAINS; d++) {
                const domain_view_t *domain = &view->domains[d];
                const bl_workers_stats_t *workers = &frame->workers[d];
                fprintf(out, "%-17s %10llu %9llu %7llu %7llu %7llu %8.0f %7llux  ", domain->name,
                        (unsigned long long)dispatched(domain), (unsigned long long)workers->completed,
                        (unsigned long long)(workers->failed_retryable + workers->failed_permanent),
                        (unsigned long long)workers->retries_taken,
                        (unsigned long long)count(domain->items[BL_STATE_EXPIRED]), domain->max_lag,
                        (unsigned long long)count(domain->breaker_opened));
                if (domain->throttled_times)
                        fprintf(out, "%.1f s (%d time%s)", (double)domain->throttled_ms / 1000.0,
                                domain->throttled_times, domain->throttled_times == 1 ? "" : "s");
                else
                        fprintf(out, "never");
                if (bl_scenario_domains[d].slow)
                        fprintf(out, "   <- the slow domain, max_lag %d", frame->slow_max_lag);
                if (!strcmp(domain->name, BL_SCENARIO_OUTAGE_DOMAIN))
                        fprintf(out, "   <- its workers' outage, %.0f s to %.0f s: the breaker holds its tasks",
                                BL_SCENARIO_OUTAGE_FROM_MS / 1000.0, BL_SCENARIO_OUTAGE_UNTIL_MS / 1000.0);
                fprintf(out, "\n");
        }

        fprintf(out, "\n%-17s %7s %8s %9s   (each domain's capacity estimate at the end)\n", "capacity", "done/s",
                "runtime", "drains in");
        for (int d = 0; d < BL_SCENARIO_DOMAINS; d++) {
                char line[LINE_MAX_BYTES] = "";
                append_capacity(line, sizeof(line), &view->domains[d]);
                fprintf(out, "%-17s %s\n", view->domains[d].name, line);
        }

        fprintf(out, "\ndead letters%s\n", outcome->dlq_read_back ? " (read back from backlog.dlq)" : "");
        for (int r = 1; r < BL_REASON__COUNT; r++) {
                uint64_t letters = dlq_count(view, outcome, (bl_reason_t)r), pills = pills_for(traffic, (bl_reason_t)r);
                if (!letters && !pills)
                        continue;
                fprintf(out, "  %-22s %6llu", bl_reason_name((bl_reason_t)r), (unsigned long long)letters);
                if (pills)
                        fprintf(out, "   (%llu poison pill%s sent)", (unsigned long long)pills, pills == 1 ? "" : "s");
                fprintf(out, "\n");
        }
        agent_text(view, frame, out);
        fprintf(out, "\ntransactions: %llu committed, %llu aborted. %s\n", (unsigned long long)count(view->committed),
                (unsigned long long)count(view->aborted), mock_note);
}

void bl_view_summary(bl_view_t *view, const bl_view_frame_t *frame, const bl_view_outcome_t *outcome, FILE *out,
                     bool as_json) {
        if (as_json) {
                json_t *root = summary_json(view, frame, outcome);
                json_dumpf(root, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
                fputc('\n', out);
                json_decref(root);
        } else {
                summary_text(view, frame, outcome, out);
        }
        fflush(out);
}
