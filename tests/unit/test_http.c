/*
 * test_http.c: the HTTP endpoint on 127.0.0.1 with a port the kernel picks,
 * asked with libcurl: /metrics is the registry's rendering with the format's
 * content type; /healthz turns 503 once the heartbeat is older than its
 * limit and 200 again with the next one; /readyz is 503 with the reason
 * until ready; other paths 404, other methods 405; HEAD is GET without the
 * body; a port in use is a clear error naming the address and port. The
 * health rules: work that waits too long for a commit, or too many aborts in
 * a row, fail /healthz; an idle instance stays healthy. A connection is cut
 * after its total time even while it keeps sending. The status page / is
 * served from a board once one is set, read-only, with a policy that loads
 * nothing. The config keys http.*
 * and health.* feed the options.
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "ops/config.h"
#include "ops/http.h"
#include "base/log.h"
#include "ops/metrics.h"
#include "ops/status.h"

typedef struct reply_s {
        long status;
        char content_type[128];
        char allow[64];
        char csp[256];
        char body[65536];
        size_t body_length;
} reply_t;

static size_t collect_body(char *data, size_t size, size_t count, void *opaque) {
        reply_t *reply = opaque;
        size_t length = size * count;
        size_t room = sizeof(reply->body) - 1 - reply->body_length;
        size_t kept = length < room ? length : room;
        memcpy(reply->body + reply->body_length, data, kept);
        reply->body_length += kept;
        reply->body[reply->body_length] = '\0';
        return length;
}

static size_t collect_header(char *data, size_t size, size_t count, void *opaque) {
        reply_t *reply = opaque;
        size_t length = size * count;
        if (length > 24 && !strncasecmp(data, "Content-Security-Policy:", 24)) {
                snprintf(reply->csp, sizeof(reply->csp), "%.*s", (int)(length - 24), data + 24);
                reply->csp[strcspn(reply->csp, "\r\n")] = '\0';
        }
        if (length > 6 && !strncasecmp(data, "Allow:", 6)) {
                snprintf(reply->allow, sizeof(reply->allow), "%.*s", (int)(length - 6), data + 6);
                reply->allow[strcspn(reply->allow, "\r\n")] = '\0';
        }
        return length;
}

/* Asks @p method @p path of the server on @p port; status 0 when the request failed. */
static reply_t *request(int port, const char *method, const char *path, const char *post_body) {
        static reply_t reply;
        memset(&reply, 0, sizeof(reply));
        char url[256];
        snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
        CURL *curl = curl_easy_init();
        curl_easy_setopt(curl, CURLOPT_URL, url);
        curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
        curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 5000L);
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect_body);
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, &reply);
        curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, collect_header);
        curl_easy_setopt(curl, CURLOPT_HEADERDATA, &reply);
        if (post_body)
                curl_easy_setopt(curl, CURLOPT_POSTFIELDS, post_body);
        if (!strcmp(method, "HEAD"))
                curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
        else if (strcmp(method, "GET") && strcmp(method, "POST"))
                curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
        CURLcode result = curl_easy_perform(curl);
        if (result == CURLE_OK) {
                char *content_type = NULL;
                curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply.status);
                curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &content_type);
                snprintf(reply.content_type, sizeof(reply.content_type), "%s", content_type ? content_type : "");
        } else {
                fprintf(stderr, "curl %s %s: %s\n", method, url, curl_easy_strerror(result));
        }
        curl_easy_cleanup(curl);
        return &reply;
}

static bl_http_t *start(bl_metrics_t *registry, int64_t stale_ms) {
        char errstr[256] = "";
        bl_http_options_t options = {"127.0.0.1", 0, stale_ms};
        bl_http_t *http = bl_http_start(&options, registry, errstr, sizeof(errstr));
        if (!http)
                fprintf(stderr, "bl_http_start: %s\n", errstr);
        return http;
}

static void sleep_ms(long ms) {
        struct timespec pause = {ms / 1000, (ms % 1000) * 1000000L};
        nanosleep(&pause, NULL);
}

static void test_metrics_endpoint(void) {
        bl_metrics_t *registry = bl_metrics_new();
        bl_metrics_backlogd_t metrics;
        char errstr[256];
        CHECK_INT(bl_metrics_register_backlogd(registry, &metrics, errstr, sizeof(errstr)), BL_OK);
        bl_metric_inc(bl_metrics_series(metrics.ingest_events, "tasks.events"), 12);
        bl_http_t *http = start(registry, 30000);
        CHECK(http != NULL);
        if (!http) {
                bl_metrics_destroy(registry);
                return;
        }
        CHECK(bl_http_port(http) > 0);

        reply_t *reply = request(bl_http_port(http), "GET", "/metrics", NULL);
        CHECK_INT(reply->status, 200);
        CHECK(!strncmp(reply->content_type, "text/plain; version=0.0.4", 25));
        char *expected = bl_metrics_render_string(registry, NULL);
        CHECK_STR(reply->body, expected);
        CHECK_CONTAINS(reply->body, "backlogd_ingest_events_total{topic=\"tasks.events\"} 12\n");
        free(expected);

        /* A query string does not change the path. */
        CHECK_INT(request(bl_http_port(http), "GET", "/metrics?name=x", NULL)->status, 200);

        bl_http_stop(http);
        bl_metrics_destroy(registry);
}

static void test_healthz_goes_stale(void) {
        bl_http_t *http = start(NULL, 200);
        CHECK(http != NULL);
        if (!http)
                return;
        int port = bl_http_port(http);
        reply_t *reply = request(port, "GET", "/healthz", NULL);
        CHECK_INT(reply->status, 200);
        CHECK_STR(reply->body, "ok\n");
        CHECK(!strncmp(reply->content_type, "text/plain", 10));

        sleep_ms(400); /* no heartbeat for longer than 200 ms */
        reply = request(port, "GET", "/healthz", NULL);
        CHECK_INT(reply->status, 503);
        CHECK_CONTAINS(reply->body, "stale: no heartbeat");
        CHECK_CONTAINS(reply->body, "(limit 200 ms)");

        bl_http_heartbeat(http);
        CHECK_INT(request(port, "GET", "/healthz", NULL)->status, 200);
        bl_http_stop(http);
}

static void test_readyz(void) {
        bl_http_t *http = start(NULL, 30000);
        CHECK(http != NULL);
        if (!http)
                return;
        int port = bl_http_port(http);
        reply_t *reply = request(port, "GET", "/readyz", NULL);
        CHECK_INT(reply->status, 503);
        CHECK_STR(reply->body, "not ready: starting\n");

        bl_http_set_ready(http, false, "restoring 3 partitions");
        reply = request(port, "GET", "/readyz", NULL);
        CHECK_INT(reply->status, 503);
        CHECK_STR(reply->body, "not ready: restoring 3 partitions\n");

        bl_http_set_ready(http, true, NULL);
        reply = request(port, "GET", "/readyz", NULL);
        CHECK_INT(reply->status, 200);
        CHECK_STR(reply->body, "ok\n");

        bl_http_set_ready(http, false, NULL);
        CHECK_STR(request(port, "GET", "/readyz", NULL)->body, "not ready: not ready\n");
        char long_reason[400];
        memset(long_reason, 'r', sizeof(long_reason) - 1);
        long_reason[sizeof(long_reason) - 1] = '\0';
        bl_http_set_ready(http, false, long_reason);
        reply = request(port, "GET", "/readyz", NULL);
        CHECK_INT(reply->status, 503);
        CHECK_INT(reply->body_length, strlen("not ready: \n") + 200);

        /* NULL handles are no-ops, for a pipeline run with http.port 0. */
        bl_http_set_ready(NULL, true, "x");
        bl_http_heartbeat(NULL);
        bl_http_stop(NULL);
        CHECK_INT(bl_http_port(NULL), 0);
        bl_http_stop(http);
}

static void test_not_found_and_methods(void) {
        bl_http_t *http = start(NULL, 30000);
        CHECK(http != NULL);
        if (!http)
                return;
        int port = bl_http_port(http);
        CHECK_INT(request(port, "GET", "/", NULL)->status, 404);
        CHECK_INT(request(port, "GET", "/metrics/", NULL)->status, 404);
        CHECK_INT(request(port, "GET", "/config", NULL)->status, 404);

        reply_t *reply = request(port, "POST", "/metrics", "a=1");
        CHECK_INT(reply->status, 405);
        CHECK_STR(reply->allow, " GET, HEAD");
        CHECK_INT(request(port, "DELETE", "/readyz", NULL)->status, 405);
        CHECK_INT(request(port, "PUT", "/nowhere", NULL)->status, 405);
        CHECK_STR(request(port, "PATCH", "/healthz", NULL)->allow, " GET, HEAD");
        /* Still serving after all that. */
        CHECK_INT(request(port, "GET", "/healthz", NULL)->status, 200);
        bl_http_stop(http);
}

static void test_head(void) {
        bl_metrics_t *registry = bl_metrics_new();
        bl_http_t *http = start(registry, 30000);
        CHECK(http != NULL);
        if (!http) {
                bl_metrics_destroy(registry);
                return;
        }
        int port = bl_http_port(http);
        reply_t *reply = request(port, "HEAD", "/healthz", NULL);
        CHECK_INT(reply->status, 200);
        CHECK_INT(reply->body_length, 0);
        CHECK(!strncmp(reply->content_type, "text/plain", 10));
        CHECK_INT(request(port, "HEAD", "/readyz", NULL)->status, 503);
        CHECK_INT(request(port, "HEAD", "/metrics", NULL)->status, 200);
        CHECK_INT(request(port, "HEAD", "/nothing", NULL)->status, 404);
        bl_http_stop(http);
        bl_metrics_destroy(registry);
}

/* The status page: 404 without a board; with one, the page as last published, read-only, nothing loaded. */
static void test_status_page(void) {
        bl_http_t *http = start(NULL, 30000);
        bl_status_board_t *board = bl_status_board_new();
        bl_status_snapshot_t *snapshot = calloc(1, sizeof(*snapshot));
        CHECK(http && board && snapshot);
        if (!http || !board || !snapshot) {
                bl_http_stop(http);
                bl_status_board_destroy(board);
                free(snapshot);
                return;
        }
        int port = bl_http_port(http);
        CHECK_INT(request(port, "GET", "/", NULL)->status, 404);
        bl_http_set_status_board(http, board);
        reply_t *reply = request(port, "GET", "/", NULL);
        CHECK_INT(reply->status, 200);
        CHECK_CONTAINS(reply->body, "has not published its status yet");
        snapshot->taken_at_ms = 1800000000000;
        snapshot->domain_count = 1;
        bl_status_copy_text(snapshot->domains[0].name, BL_STATUS_NAME_MAX, "evaluation");
        bl_status_copy_text(snapshot->instance, BL_STATUS_ID_MAX, "node-7");
        bl_status_board_publish(board, snapshot);
        reply = request(port, "GET", "/", NULL);
        CHECK_INT(reply->status, 200);
        CHECK_STR(reply->content_type, "text/html; charset=utf-8");
        CHECK_CONTAINS(reply->csp, "default-src 'none'");
        CHECK_CONTAINS(reply->body, "<title>backlogd node-7</title>");
        CHECK_CONTAINS(reply->body, "<svg id=\"plot-lag\"");
        reply = request(port, "HEAD", "/", NULL);
        CHECK_INT(reply->status, 200);
        CHECK_INT(reply->body_length, 0);
        reply = request(port, "POST", "/", "approve=t1");
        CHECK_INT(reply->status, 405);
        CHECK_STR(reply->allow, " GET, HEAD");
        CHECK_INT(request(port, "GET", "/index.html", NULL)->status, 404);
        bl_http_set_status_board(http, NULL);
        CHECK_INT(request(port, "GET", "/", NULL)->status, 404);
        bl_http_set_status_board(NULL, board);
        bl_http_stop(http);
        bl_status_board_destroy(board);
        free(snapshot);
}

static int64_t monotonic_now_ms(void) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* The rules alone, at chosen times. */
static void test_health_rules(void) {
        char reason[256] = "";
        bl_http_health_t idle = {.last_commit_ms = 1000};
        /* Idle for a day: nothing waits, nothing fails. */
        CHECK(!bl_http_health_failing(&idle, 60000, 20, 1000 + 86400000, reason, sizeof(reason)));
        CHECK_INT(bl_http_health_stalled_ms(&idle, 1000 + 86400000), 0);

        /* Work since t=50000 after a commit at 1000: it waits from 50000, not from the commit. */
        bl_http_health_t waiting = {.last_commit_ms = 1000, .work_pending = true, .work_since_ms = 50000};
        CHECK_INT(bl_http_health_stalled_ms(&waiting, 60000), 10000);
        CHECK(!bl_http_health_failing(&waiting, 60000, 20, 110000, reason, sizeof(reason)));
        CHECK(bl_http_health_failing(&waiting, 60000, 20, 110001, reason, sizeof(reason)));
        CHECK_STR(reason, "stalled: work has waited 60001 ms without a transaction committed (limit 60000 ms)");

        /* A commit after the work began: it waits from the commit. */
        waiting.last_commit_ms = 100000;
        CHECK_INT(bl_http_health_stalled_ms(&waiting, 110001), 10001);
        CHECK(!bl_http_health_failing(&waiting, 60000, 20, 110001, reason, sizeof(reason)));

        /* Aborts in a row fail at the limit, however recent the commit. */
        bl_http_health_t aborting = {.last_commit_ms = 5000, .work_pending = true, .work_since_ms = 5000,
                                     .aborts_in_row = 19};
        CHECK(!bl_http_health_failing(&aborting, 60000, 20, 6000, reason, sizeof(reason)));
        aborting.aborts_in_row = 20;
        CHECK(bl_http_health_failing(&aborting, 60000, 20, 6000, reason, sizeof(reason)));
        CHECK_STR(reason, "aborting: 20 batches aborted in a row without a commit (limit 20)");
}

/* The rules through /healthz, as the pipeline feeds them. */
static void test_healthz_judges_progress(void) {
        char errstr[256] = "";
        bl_http_options_t options = {.address = "127.0.0.1",
                                     .healthz_stale_ms = 30000,
                                     .max_commit_age_ms = 300,
                                     .max_aborts_in_row = 3};
        bl_http_t *http = bl_http_start(&options, NULL, errstr, sizeof(errstr));
        CHECK(http != NULL);
        if (!http)
                return;
        int port = bl_http_port(http);
        int64_t now = monotonic_now_ms();

        /* Idle long after the last commit: healthy. */
        bl_http_health_t health = {.last_commit_ms = now - 3600000};
        bl_http_set_health(http, &health);
        CHECK_INT(request(port, "GET", "/healthz", NULL)->status, 200);

        /* Work arrives: healthy until it has waited 300 ms without a commit. */
        health.work_pending = true;
        health.work_since_ms = now;
        bl_http_set_health(http, &health);
        CHECK_INT(request(port, "GET", "/healthz", NULL)->status, 200);
        sleep_ms(450);
        reply_t *reply = request(port, "GET", "/healthz", NULL);
        CHECK_INT(reply->status, 503);
        CHECK_CONTAINS(reply->body, "stalled: work has waited ");
        CHECK_CONTAINS(reply->body, "without a transaction committed (limit 300 ms)\n");

        /* The same stall behind an output the broker refuses: a restart cannot fix it, so 200, saying so. */
        snprintf(health.waiting_on, sizeof(health.waiting_on), "topic backlog.dlq refuses writes since 40 s");
        bl_http_set_health(http, &health);
        reply = request(port, "GET", "/healthz", NULL);
        CHECK_INT(reply->status, 200);
        CHECK_STR(reply->body, "ok, waiting: topic backlog.dlq refuses writes since 40 s\n");
        health.waiting_on[0] = '\0';

        /* A commit: healthy again while work goes on. */
        health.last_commit_ms = monotonic_now_ms();
        bl_http_set_health(http, &health);
        CHECK_INT(request(port, "GET", "/healthz", NULL)->status, 200);

        /* Three aborts in a row fail at once; the next commit ends the row. */
        for (int i = 1; i <= 3; i++) {
                health.aborts_in_row = (uint64_t)i;
                bl_http_set_health(http, &health);
                CHECK_INT(request(port, "GET", "/healthz", NULL)->status, i < 3 ? 200 : 503);
        }
        CHECK_STR(request(port, "GET", "/healthz", NULL)->body,
                  "aborting: 3 batches aborted in a row without a commit (limit 3)\n");
        health.aborts_in_row = 0;
        health.last_commit_ms = monotonic_now_ms();
        bl_http_set_health(http, &health);
        CHECK_INT(request(port, "GET", "/healthz", NULL)->status, 200);

        bl_http_set_health(NULL, &health); /* no server (http.port 0): a no-op */
        bl_http_stop(http);
}

/* A client that keeps sending, a line at a time, is cut after the total time; a probe still gets through. */
static void test_connection_total_time(void) {
        char errstr[256] = "";
        bl_http_options_t options = {.address = "127.0.0.1", .healthz_stale_ms = 30000, .connection_max_ms = 400};
        bl_http_t *http = bl_http_start(&options, NULL, errstr, sizeof(errstr));
        CHECK(http != NULL);
        if (!http)
                return;
        struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)bl_http_port(http))};
        inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
        int slow = socket(AF_INET, SOCK_STREAM, 0);
        CHECK(connect(slow, (struct sockaddr *)&address, sizeof(address)) == 0);
        CHECK(send(slow, "GET /healthz HTTP/1.1\r\n", 23, MSG_NOSIGNAL) == 23);
        int64_t started = monotonic_now_ms();
        bool cut = false;
        while (!cut && monotonic_now_ms() - started < 3000) {
                sleep_ms(100); /* never idle for libmicrohttpd: a header line every 100 ms */
                cut = send(slow, "X-Slow: 1\r\n", 11, MSG_NOSIGNAL) < 0;
                char byte;
                cut = cut || recv(slow, &byte, 1, MSG_DONTWAIT) == 0;
        }
        int64_t lasted = monotonic_now_ms() - started;
        CHECK(cut);
        CHECK(lasted >= 300 && lasted < 1500);
        close(slow);
        CHECK_INT(request(bl_http_port(http), "GET", "/healthz", NULL)->status, 200);
        bl_http_stop(http);
}

static void test_bind_errors(void) {
        char errstr[256] = "";
        bl_http_t *first = start(NULL, 30000);
        CHECK(first != NULL);
        if (!first)
                return;
        bl_http_options_t options = {"127.0.0.1", bl_http_port(first), 30000};
        CHECK(bl_http_start(&options, NULL, errstr, sizeof(errstr)) == NULL);
        char where[64];
        snprintf(where, sizeof(where), "cannot listen on 127.0.0.1:%d: ", options.port);
        CHECK_CONTAINS(errstr, where);
        CHECK_CONTAINS(errstr, "Address already in use");
        bl_http_stop(first);

        /* A port another program listens on. */
        int other = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = 0};
        inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
        socklen_t length = sizeof(address);
        CHECK(bind(other, (struct sockaddr *)&address, sizeof(address)) == 0);
        CHECK(listen(other, 1) == 0);
        getsockname(other, (struct sockaddr *)&address, &length);
        options.port = ntohs(address.sin_port);
        CHECK(bl_http_start(&options, NULL, errstr, sizeof(errstr)) == NULL);
        CHECK_CONTAINS(errstr, "Address already in use");
        close(other);

        /* An address this host does not have. */
        options = (bl_http_options_t){"192.0.2.1", 0, 30000};
        CHECK(bl_http_start(&options, NULL, errstr, sizeof(errstr)) == NULL);
        CHECK_CONTAINS(errstr, "cannot listen on 192.0.2.1:0: ");

        options = (bl_http_options_t){"localhost", 9464, 30000};
        CHECK(bl_http_start(&options, NULL, errstr, sizeof(errstr)) == NULL);
        CHECK_CONTAINS(errstr, "http.address \"localhost\" is not a numeric IPv4 or IPv6 address");
        options = (bl_http_options_t){"127.0.0.1", 70000, 30000};
        CHECK(bl_http_start(&options, NULL, errstr, sizeof(errstr)) == NULL);
        CHECK_CONTAINS(errstr, "http.port 70000");
        options = (bl_http_options_t){"127.0.0.1", 0, 0};
        CHECK(bl_http_start(&options, NULL, errstr, sizeof(errstr)) == NULL);
        CHECK_CONTAINS(errstr, "stale limit");
}

static void test_ipv6_loopback(void) {
        int probe = socket(AF_INET6, SOCK_STREAM, 0);
        struct sockaddr_in6 address = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
        bool have_ipv6 = probe >= 0 && bind(probe, (struct sockaddr *)&address, sizeof(address)) == 0;
        if (probe >= 0)
                close(probe);
        if (!have_ipv6) {
                fprintf(stderr, "  (no IPv6 loopback here: skipped)\n");
                return;
        }
        char errstr[256] = "";
        bl_http_options_t options = {"::1", 0, 30000};
        bl_http_t *http = bl_http_start(&options, NULL, errstr, sizeof(errstr));
        CHECK(http != NULL);
        if (!http) {
                fprintf(stderr, "bl_http_start: %s\n", errstr);
                return;
        }
        char url[128];
        snprintf(url, sizeof(url), "http://[::1]:%d/healthz", bl_http_port(http));
        CURL *curl = curl_easy_init();
        curl_easy_setopt(curl, CURLOPT_URL, url);
        curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
        curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 5000L);
        reply_t reply = {0};
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect_body);
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, &reply);
        CHECK_INT(curl_easy_perform(curl), CURLE_OK);
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply.status);
        CHECK_INT(reply.status, 200);
        curl_easy_cleanup(curl);
        bl_http_stop(http);
}

typedef struct problem_s {
        char key[64];
        char reason[256];
} problem_t;

static void keep_problem(const char *key, const char *reason, bool fatal, void *opaque) {
        problem_t *problem = opaque;
        (void)fatal;
        snprintf(problem->key, sizeof(problem->key), "%s", key);
        snprintf(problem->reason, sizeof(problem->reason), "%s", reason);
}

static void test_options_from_config(void) {
        bl_config_t *config = bl_config_new_defaults();
        bl_http_options_t options;
        CHECK(bl_http_options_from_config(config, &options));
        CHECK_STR(options.address, "0.0.0.0");
        CHECK_INT(options.port, 9464);
        CHECK_INT(options.healthz_stale_ms, 30000);
        CHECK_INT(options.connection_max_ms, 5000);
        CHECK_INT(options.max_connections, 64);
        CHECK_INT(options.max_connections_per_address, 8);
        CHECK_INT(options.max_commit_age_ms, 60100); /* 0: commit.interval_ms + transaction.timeout_ms + 50 s */
        CHECK_INT(options.max_aborts_in_row, 20);
        bl_config_destroy(config);

        /* A commit may take commit.interval_ms + transaction.timeout_ms: the age limit must be above. */
        problem_t too_short = {{0}, {0}};
        char *const short_age[] = {"BACKLOGD_HEALTH_MAX_COMMIT_AGE_MS=10100", NULL};
        CHECK(bl_config_load(NULL, short_age, keep_problem, &too_short) == NULL);
        CHECK_STR(too_short.key, "health.max_commit_age_ms");
        CHECK_CONTAINS(too_short.reason, "must be above commit.interval_ms + transaction.timeout_ms (10100)");
        char *const long_enough[] = {"BACKLOGD_HEALTH_MAX_COMMIT_AGE_MS=10101", NULL};
        config = bl_config_load(NULL, long_enough, NULL, NULL);
        CHECK(config != NULL);
        bl_config_destroy(config);

        problem_t per_address = {{0}, {0}};
        char *const too_many[] = {"BACKLOGD_HTTP_MAX_CONNECTIONS=8", NULL};
        CHECK(bl_config_load(NULL, too_many, keep_problem, &per_address) == NULL);
        CHECK_STR(per_address.key, "http.max_connections_per_address");
        CHECK_CONTAINS(per_address.reason, "must be below http.max_connections (8)");

        char *const off[] = {"BACKLOGD_HTTP_PORT=0", "BACKLOGD_HTTP_ADDRESS=::", NULL};
        config = bl_config_load(NULL, off, NULL, NULL);
        CHECK(config != NULL);
        if (config) {
                CHECK(!bl_http_options_from_config(config, &options));
                CHECK_STR(options.address, "::");
        }
        bl_config_destroy(config);

        problem_t problem = {{0}, {0}};
        char *const named[] = {"BACKLOGD_HTTP_ADDRESS=localhost", NULL};
        CHECK(bl_config_load(NULL, named, keep_problem, &problem) == NULL);
        CHECK_STR(problem.key, "http.address");
        CHECK_CONTAINS(problem.reason, "numeric IPv4 or IPv6 address");
}

int main(void) {
        bl_log_set_level(BL_LOG_WARN);
        curl_global_init(CURL_GLOBAL_DEFAULT);
        RUN(test_metrics_endpoint);
        RUN(test_healthz_goes_stale);
        RUN(test_readyz);
        RUN(test_not_found_and_methods);
        RUN(test_head);
        RUN(test_status_page);
        RUN(test_health_rules);
        RUN(test_healthz_judges_progress);
        RUN(test_connection_total_time);
        RUN(test_bind_errors);
        RUN(test_ipv6_loopback);
        RUN(test_options_from_config);
        curl_global_cleanup();
        return check_exit_status();
}
