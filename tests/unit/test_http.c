/*
 * test_http.c: the HTTP endpoint on 127.0.0.1 with a port the kernel picks,
 * asked with libcurl: /metrics is the registry's rendering with the format's
 * content type; /healthz turns 503 once the heartbeat is older than its
 * limit and 200 again with the next one; /readyz is 503 with the reason
 * until ready; other paths 404, other methods 405; a port in use is a clear
 * error naming the address and port. The config keys http.* feed the options.
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
#include "ops/log.h"
#include "ops/metrics.h"

typedef struct reply_s {
        long status;
        char content_type[128];
        char allow[64];
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
        CHECK_STR(reply->allow, " GET");
        CHECK_INT(request(port, "DELETE", "/readyz", NULL)->status, 405);
        CHECK_INT(request(port, "PUT", "/nowhere", NULL)->status, 405);
        CHECK_INT(request(port, "HEAD", "/healthz", NULL)->status, 405);
        /* Still serving after all that. */
        CHECK_INT(request(port, "GET", "/healthz", NULL)->status, 200);
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
        bl_config_destroy(config);

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
        RUN(test_bind_errors);
        RUN(test_ipv6_loopback);
        RUN(test_options_from_config);
        curl_global_cleanup();
        return check_exit_status();
}
