/*
 * test_agent_client.c: the agents' client (agent/client.c) against a fake
 * agent in this process: a small HTTP server on loopback, a thread per
 * connection, whose behaviour the URL path picks. Each way a consultation
 * can end gives its outcome and reason: an answer (decoded, with the ids
 * sent), slow past timeout_ms, HTTP 500, a redirect (not followed), garbage,
 * JSON of the wrong types, another consultation's answer, 10 MB bodies
 * (announced, and streamed without a length), TLS spoken to a plain server,
 * nobody listening, a missing token and a token sent. The pipeline's side
 * never waits: consult and poll are timed while the agent sleeps, the
 * bound on outstanding consultations refuses at once, and destroying the
 * client with a consultation in flight returns at once.
 */
#define _GNU_SOURCE /* strcasestr */
#include "check.h"
#include "agent/client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define T0 ((int64_t)1700000000000)
#define MAX_HANDLERS 128
#define SLOW_MS 3000 /* past the 1 s timeout_ms of the timeout case with room, under valgrind too */

/* ---- the fake agent ---------------------------------------------------------------------- */

typedef struct fake_agent_s {
        int listen_fd;
        int port;
        pthread_t acceptor;
        atomic_bool stopping;
        pthread_mutex_t lock;
        pthread_t handlers[MAX_HANDLERS];
        size_t handler_count;
        char last_request[65536];       /* the body of the last request, under lock */
        char last_authorization[256];   /* its Authorization header, "" without */
} fake_agent_t;

typedef struct connection_s {
        fake_agent_t *agent;
        int fd;
} connection_t;

static fake_agent_t fake;

static int64_t now_us(void) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        return (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
}

static void send_all(int fd, const char *data, size_t length) {
        while (length > 0) {
                ssize_t sent = send(fd, data, length, MSG_NOSIGNAL);
                if (sent <= 0)
                        return; /* the client gave up: fine */
                data += sent;
                length -= (size_t)sent;
        }
}

static void respond(int fd, const char *status, const char *extra_headers, const char *body) {
        char head[512];
        snprintf(head, sizeof(head), "HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n%s"
                                     "Connection: close\r\n\r\n",
                 status, strlen(body), extra_headers);
        send_all(fd, head, strlen(head));
        send_all(fd, body, strlen(body));
}

/* Reads one request into @p buffer: the head, then Content-Length bytes of body. False on TLS or EOF. */
static bool read_request(int fd, char *buffer, size_t size, char **body) {
        size_t used = 0;
        char *end = NULL;
        while (!end && used + 1 < size) {
                ssize_t got = recv(fd, buffer + used, size - used - 1, 0);
                if (got <= 0)
                        return false;
                if (used == 0 && (unsigned char)buffer[0] == 0x16) /* a TLS ClientHello: not HTTP */
                        return false;
                used += (size_t)got;
                buffer[used] = '\0';
                end = strstr(buffer, "\r\n\r\n");
        }
        if (!end)
                return false;
        const char *length_header = strcasestr(buffer, "Content-Length:");
        size_t length = length_header ? (size_t)strtoul(length_header + 15, NULL, 10) : 0;
        *body = end + 4;
        while ((size_t)(buffer + used - *body) < length && used + 1 < size) {
                ssize_t got = recv(fd, buffer + used, size - used - 1, 0);
                if (got <= 0)
                        return false;
                used += (size_t)got;
                buffer[used] = '\0';
        }
        return true;
}

static void copy_header(const char *head, const char *name, char *out, size_t out_size) {
        const char *found = strcasestr(head, name);
        out[0] = '\0';
        if (found) {
                found += strlen(name);
                while (*found == ' ')
                        found++;
                size_t length = strcspn(found, "\r\n");
                snprintf(out, out_size, "%.*s", (int)length, found);
        }
}

/* The consultation id of the request body, "?" when it has none. */
static void consultation_id_of(const char *body, char *out, size_t out_size) {
        const char *found = strstr(body, "\"consultation_id\":\"");
        snprintf(out, out_size, "?");
        if (found) {
                found += strlen("\"consultation_id\":\"");
                snprintf(out, out_size, "%.*s", (int)strcspn(found, "\""), found);
        }
}

static void answer_ok(int fd, const char *id) {
        char body[512];
        snprintf(body, sizeof(body),
                 "{\"schema\": \"backlogd.agent.response.v1\", \"consultation_id\": \"%s\", \"agent\": {\"name\": "
                 "\"fake\", \"version\": \"1.2\"}, \"order\": [{\"task_id\": \"task-2\", \"reason\": \"due soon\"}], "
                 "\"holds\": [{\"task_id\": \"task-1\", \"hold_ms\": 60000, \"reason\": \"stale data\"}]}",
                 id);
        respond(fd, "200 OK", "", body);
}

/* Sends a body of 10 MB, announced (Content-Length) or streamed without a length until the client stops. */
static void answer_huge(int fd, bool announced) {
        static char chunk[65536];
        memset(chunk, ' ', sizeof(chunk));
        chunk[0] = '[';
        const char *head = announced ? "HTTP/1.1 200 OK\r\nContent-Length: 10485760\r\nConnection: close\r\n\r\n"
                                     : "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n";
        send_all(fd, head, strlen(head));
        for (size_t sent = 0; sent < ((size_t)10 << 20) && !atomic_load(&fake.stopping); sent += sizeof(chunk)) {
                if (send(fd, chunk, sizeof(chunk), MSG_NOSIGNAL) <= 0)
                        return;
                chunk[0] = ' ';
        }
}

static void *handle(void *opaque) {
        connection_t *connection = opaque;
        int fd = connection->fd;
        static __thread char buffer[1 << 20];
        char *body = NULL, path[64] = "", id[160], authorization[256];
        if (read_request(fd, buffer, sizeof(buffer), &body)) {
                sscanf(buffer, "POST %63s", path);
                copy_header(buffer, "Authorization:", authorization, sizeof(authorization));
                consultation_id_of(body, id, sizeof(id));
                pthread_mutex_lock(&fake.lock);
                snprintf(fake.last_request, sizeof(fake.last_request), "%s", body);
                snprintf(fake.last_authorization, sizeof(fake.last_authorization), "%s", authorization);
                pthread_mutex_unlock(&fake.lock);
                if (!strcmp(path, "/ok"))
                        answer_ok(fd, id);
                else if (!strcmp(path, "/slow")) {
                        for (int waited = 0; waited < SLOW_MS && !atomic_load(&fake.stopping); waited += 10)
                                usleep(10000);
                        answer_ok(fd, id);
                } else if (!strcmp(path, "/500"))
                        respond(fd, "500 Internal Server Error", "", "{\"error\": \"model server down\"}");
                else if (!strcmp(path, "/redirect"))
                        respond(fd, "302 Found", "Location: /ok\r\n", "");
                else if (!strcmp(path, "/garbage"))
                        respond(fd, "200 OK", "", "<html>upstream timed out</html>");
                else if (!strcmp(path, "/wrong-types"))
                        respond(fd, "200 OK", "",
                                "{\"schema\": \"backlogd.agent.response.v1\", \"consultation_id\": \"c-1\", "
                                "\"agent\": {\"name\": \"fake\", \"version\": 1}}");
                else if (!strcmp(path, "/other-consultation"))
                        answer_ok(fd, "someone-else");
                else if (!strcmp(path, "/huge"))
                        answer_huge(fd, true);
                else if (!strcmp(path, "/huge-streamed"))
                        answer_huge(fd, false);
                else if (!strcmp(path, "/auth")) {
                        if (!strcmp(authorization, "Bearer tok-123"))
                                answer_ok(fd, id);
                        else
                                respond(fd, "401 Unauthorized", "", "{}");
                } else
                        respond(fd, "404 Not Found", "", "{}");
        } else if ((unsigned char)buffer[0] == 0x16) {
                respond(fd, "400 Bad Request", "", "{}"); /* plain HTTP to a TLS client */
        }
        close(fd);
        free(connection);
        return NULL;
}

static void *accept_loop(void *opaque) {
        (void)opaque;
        while (!atomic_load(&fake.stopping)) {
                struct pollfd waiting = {.fd = fake.listen_fd, .events = POLLIN};
                if (poll(&waiting, 1, 20) <= 0)
                        continue;
                int fd = accept(fake.listen_fd, NULL, NULL);
                if (fd < 0)
                        continue;
                connection_t *connection = malloc(sizeof(*connection));
                pthread_mutex_lock(&fake.lock);
                bool room = connection && fake.handler_count < MAX_HANDLERS;
                if (room) {
                        *connection = (connection_t){&fake, fd};
                        room = pthread_create(&fake.handlers[fake.handler_count], NULL, handle, connection) == 0;
                        fake.handler_count += room;
                }
                pthread_mutex_unlock(&fake.lock);
                if (!room) {
                        close(fd);
                        free(connection);
                }
        }
        return NULL;
}

static int listening_socket(int *port) {
        struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = 0};
        socklen_t length = sizeof(address);
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        int yes = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
        if (fd < 0 || bind(fd, (struct sockaddr *)&address, sizeof(address)) != 0 || listen(fd, 64) != 0 ||
            getsockname(fd, (struct sockaddr *)&address, &length) != 0)
                abort();
        *port = ntohs(address.sin_port);
        return fd;
}

static void fake_start(void) {
        pthread_mutex_init(&fake.lock, NULL);
        atomic_init(&fake.stopping, false);
        fake.listen_fd = listening_socket(&fake.port);
        if (pthread_create(&fake.acceptor, NULL, accept_loop, NULL) != 0)
                abort();
}

static void fake_stop(void) {
        atomic_store(&fake.stopping, true);
        pthread_join(fake.acceptor, NULL);
        for (size_t i = 0; i < fake.handler_count; i++)
                pthread_join(fake.handlers[i], NULL);
        close(fake.listen_fd);
        pthread_mutex_destroy(&fake.lock);
}

/* ---- helpers ----------------------------------------------------------------------------- */

static char url_buffer[256];

static bl_agent_policy_t agent_at(const char *scheme, int port, const char *path) {
        bl_agent_policy_t agent;
        bl_agent_policy_defaults(&agent);
        snprintf(url_buffer, sizeof(url_buffer), "%s://127.0.0.1:%d%s", scheme, port, path);
        agent.url = url_buffer;
        agent.pilot_share = 1;
        agent.timeout_ms = 1000;
        return agent;
}

static const bl_agent_candidate_t candidates[] = {
        {.task_id = "task-1", .attempt = 1, .max_attempts = 3, .deadline_ms = BL_NO_TIME,
         .data_ready_at_ms = BL_NO_TIME, .ready_since_ms = T0},
        {.task_id = "task-2", .attempt = 1, .max_attempts = 3, .deadline_ms = T0 + 60000,
         .data_ready_at_ms = BL_NO_TIME, .ready_since_ms = T0},
};

static bl_agent_request_t request_of(const char *consultation_id) {
        return (bl_agent_request_t){.domain = "remediation", .consultation_id = consultation_id, .now_ms = T0,
                                    .candidates = candidates, .candidate_count = 2,
                                    .context = bl_agent_context_unknown()};
}

/* The slowest consult and poll calls seen, in microseconds: what the pipeline thread would wait. */
static int64_t slowest_consult_us, slowest_poll_us;

static bl_err_t timed_consult(bl_agent_client_t *client, const bl_agent_policy_t *agent,
                              const bl_agent_request_t *request, char *errstr, size_t errstr_size) {
        int64_t started = now_us();
        bl_err_t err = bl_agent_client_consult(client, agent, request, errstr, errstr_size);
        int64_t took = now_us() - started;
        slowest_consult_us = took > slowest_consult_us ? took : slowest_consult_us;
        return err;
}

static bl_agent_outcome_t *timed_poll(bl_agent_client_t *client) {
        int64_t started = now_us();
        bl_agent_outcome_t *outcome = bl_agent_client_poll(client);
        int64_t took = now_us() - started;
        slowest_poll_us = took > slowest_poll_us ? took : slowest_poll_us;
        return outcome;
}

/* Polls (as the pipeline would, between rounds) until an outcome comes, at most 10 s. */
static bl_agent_outcome_t *wait_outcome(bl_agent_client_t *client) {
        for (int i = 0; i < 2000; i++) {
                bl_agent_outcome_t *outcome = timed_poll(client);
                if (outcome)
                        return outcome;
                usleep(5000);
        }
        return NULL;
}

/* One consultation of the agent at @p path; its outcome (the caller's). */
static bl_agent_outcome_t *consult_once(bl_agent_client_t *client, const bl_agent_policy_t *agent,
                                        const char *consultation_id) {
        char errstr[256];
        bl_agent_request_t request = request_of(consultation_id);
        bl_err_t err = timed_consult(client, agent, &request, errstr, sizeof(errstr));
        CHECK_INT(err, BL_OK);
        if (err != BL_OK) {
                fprintf(stderr, "  consult: %s\n", errstr);
                return NULL;
        }
        bl_agent_outcome_t *outcome = wait_outcome(client);
        CHECK(outcome != NULL);
        return outcome;
}

/* The outcome of one consultation at @p path must be @p expected, its reason containing @p reason. */
static void expect_result(bl_agent_client_t *client, const char *scheme, const char *path, bl_agent_result_t expected,
                          const char *reason, long status) {
        bl_agent_policy_t agent = agent_at(scheme, fake.port, path);
        if (expected != BL_AGENT_TIMEOUT)
                agent.timeout_ms = 10000; /* TLS reads the system's CA bundle first: seconds under valgrind */
        bl_agent_outcome_t *outcome = consult_once(client, &agent, "c-1");
        if (!outcome)
                return;
        if (outcome->result != expected)
                fprintf(stderr, "  %s: %s (%s), expected %s\n", path, bl_agent_result_name(outcome->result),
                        outcome->reason, bl_agent_result_name(expected));
        CHECK_INT(outcome->result, expected);
        CHECK_CONTAINS(outcome->reason, reason);
        CHECK_INT(outcome->http_status, status);
        CHECK(outcome->answer.agent_name == NULL && outcome->answer.order_count == 0);
        CHECK_INT(outcome->candidate_count, 2);
        CHECK(bl_agent_result_is_failure(outcome->result));
        bl_agent_outcome_destroy(outcome);
}

/* ---- the tests --------------------------------------------------------------------------- */

static void test_an_answer(void) {
        char errstr[256];
        bl_agent_client_t *client = bl_agent_client_new(0, errstr, sizeof(errstr));
        CHECK(client != NULL);
        if (!client)
                return;
        bl_agent_policy_t agent = agent_at("http", fake.port, "/ok");
        bl_agent_outcome_t *outcome = consult_once(client, &agent, "backlogd-0-1");
        if (outcome) {
                CHECK_INT(outcome->result, BL_AGENT_ANSWERED);
                CHECK_STR(bl_agent_result_name(outcome->result), "answered");
                CHECK(!bl_agent_result_is_failure(outcome->result));
                CHECK_INT(outcome->http_status, 200);
                CHECK_STR(outcome->domain, "remediation");
                CHECK_STR(outcome->consultation_id, "backlogd-0-1");
                CHECK_INT(outcome->sent_at_ms, T0);
                CHECK(outcome->latency_ms >= 0 && outcome->latency_ms < 5000);
                CHECK_INT(outcome->candidate_count, 2);
                CHECK_STR(outcome->candidate_ids[1], "task-2");
                CHECK_STR(outcome->answer.label, "fake@1.2");
                CHECK_INT(outcome->answer.order_count, 1);
                CHECK_INT(outcome->answer.hold_count, 1);
                CHECK_STR(outcome->reason, "");
        }
        bl_agent_outcome_destroy(outcome);
        pthread_mutex_lock(&fake.lock);
        CHECK_CONTAINS(fake.last_request, "\"schema\":\"backlogd.agent.request.v1\"");
        CHECK_CONTAINS(fake.last_request, "\"consultation_id\":\"backlogd-0-1\"");
        CHECK_STR(fake.last_authorization, ""); /* no token_env: no header */
        pthread_mutex_unlock(&fake.lock);
        CHECK_INT(bl_agent_client_outstanding(client), 0);
        bl_agent_client_stats_t stats = bl_agent_client_stats(client);
        CHECK_INT(stats.consulted, 1);
        CHECK_INT(stats.results[BL_AGENT_ANSWERED], 1);
        bl_agent_client_destroy(client);
}

static void test_every_failure_is_an_outcome(void) {
        char errstr[256];
        bl_agent_client_t *client = bl_agent_client_new(0, errstr, sizeof(errstr));
        CHECK(client != NULL);
        if (!client)
                return;
        expect_result(client, "http", "/slow", BL_AGENT_TIMEOUT, "no answer within 1000 ms", 0);
        expect_result(client, "http", "/500", BL_AGENT_HTTP_ERROR, "HTTP 500", 500);
        expect_result(client, "http", "/nowhere", BL_AGENT_HTTP_ERROR, "HTTP 404", 404);
        expect_result(client, "http", "/redirect", BL_AGENT_REDIRECT, "HTTP 302 (redirects are not followed)", 302);
        expect_result(client, "http", "/garbage", BL_AGENT_MALFORMED, "not JSON: line 1", 200);
        expect_result(client, "http", "/wrong-types", BL_AGENT_INVALID, "agent.version: expected a string", 200);
        expect_result(client, "http", "/other-consultation", BL_AGENT_INVALID, "the answer to another consultation",
                      200);
        expect_result(client, "http", "/huge", BL_AGENT_TOO_LARGE, "an answer over 1048576 bytes", 200);
        expect_result(client, "http", "/huge-streamed", BL_AGENT_TOO_LARGE, "an answer over 1048576 bytes", 200);
        expect_result(client, "https", "/ok", BL_AGENT_TLS, "", 0);

        int closed_port;
        int closed = listening_socket(&closed_port);
        close(closed); /* nobody listens there now */
        bl_agent_policy_t agent = agent_at("http", closed_port, "/ok");
        bl_agent_outcome_t *outcome = consult_once(client, &agent, "c-1");
        if (outcome) {
                CHECK_INT(outcome->result, BL_AGENT_UNREACHABLE);
                CHECK_STR(bl_agent_result_name(outcome->result), "unreachable");
        }
        bl_agent_outcome_destroy(outcome);

        bl_agent_client_stats_t stats = bl_agent_client_stats(client);
        CHECK_INT(stats.results[BL_AGENT_TIMEOUT], 1);
        CHECK_INT(stats.results[BL_AGENT_HTTP_ERROR], 2);
        CHECK_INT(stats.results[BL_AGENT_TOO_LARGE], 2);
        CHECK_INT(stats.results[BL_AGENT_UNREACHABLE], 1);
        CHECK_INT(stats.results[BL_AGENT_ANSWERED], 0);
        bl_agent_client_destroy(client);
}

static void test_the_token_from_the_environment(void) {
        char errstr[256];
        bl_agent_client_t *client = bl_agent_client_new(0, errstr, sizeof(errstr));
        CHECK(client != NULL);
        if (!client)
                return;
        bl_agent_policy_t agent = agent_at("http", fake.port, "/auth");
        char token_env[] = "AGENT_CLIENT_TEST_TOKEN";
        agent.token_env = token_env;
        unsetenv(token_env);
        bl_agent_request_t request = request_of("c-1");
        CHECK_INT(timed_consult(client, &agent, &request, errstr, sizeof(errstr)), BL_ERR_CONFIG);
        CHECK_CONTAINS(errstr, "token_env AGENT_CLIENT_TEST_TOKEN is not set");
        setenv(token_env, "tok-\r\nX-Evil: 1", 1);
        CHECK_INT(timed_consult(client, &agent, &request, errstr, sizeof(errstr)), BL_ERR_CONFIG);
        CHECK(strstr(errstr, "tok-") == NULL); /* the token is never quoted */
        setenv(token_env, "wrong", 1);
        bl_agent_outcome_t *outcome = consult_once(client, &agent, "c-1");
        if (outcome) {
                CHECK_INT(outcome->result, BL_AGENT_HTTP_ERROR);
                CHECK_INT(outcome->http_status, 401);
                CHECK(strstr(outcome->reason, "wrong") == NULL);
        }
        bl_agent_outcome_destroy(outcome);
        setenv(token_env, "tok-123", 1);
        outcome = consult_once(client, &agent, "c-1");
        if (outcome)
                CHECK_INT(outcome->result, BL_AGENT_ANSWERED);
        bl_agent_outcome_destroy(outcome);
        pthread_mutex_lock(&fake.lock);
        CHECK_STR(fake.last_authorization, "Bearer tok-123");
        pthread_mutex_unlock(&fake.lock);
        unsetenv(token_env);
        bl_agent_client_stats_t stats = bl_agent_client_stats(client);
        CHECK_INT(stats.refused, 2);
        bl_agent_client_destroy(client);
}

static void test_the_pipeline_side_never_waits(void) {
        char errstr[256];
        bl_agent_client_t *client = bl_agent_client_new(3, errstr, sizeof(errstr));
        CHECK(client != NULL);
        if (!client)
                return;
        bl_agent_policy_t agent = agent_at("http", fake.port, "/slow");
        agent.timeout_ms = 5000; /* the agent takes 1.5 s: the calls must not */
        bl_agent_request_t request = request_of("c-1");
        slowest_consult_us = slowest_poll_us = 0;
        for (int i = 0; i < 3; i++)
                CHECK_INT(timed_consult(client, &agent, &request, errstr, sizeof(errstr)), BL_OK);
        /* Full: refused at once, the policy decides. */
        CHECK_INT(timed_consult(client, &agent, &request, errstr, sizeof(errstr)), BL_ERR_UNAVAILABLE);
        CHECK_CONTAINS(errstr, "3 consultations outstanding");
        CHECK_INT(bl_agent_client_outstanding(client), 3);
        int polls = 0, outcomes = 0;
        int64_t started = now_us();
        while (outcomes < 3 && now_us() - started < 10000000) {
                bl_agent_outcome_t *outcome = timed_poll(client);
                polls++;
                if (outcome) {
                        CHECK_INT(outcome->result, BL_AGENT_ANSWERED);
                        CHECK(outcome->latency_ms >= SLOW_MS - 50);
                        outcomes++;
                        bl_agent_outcome_destroy(outcome);
                } else {
                        usleep(1000);
                }
        }
        CHECK_INT(outcomes, 3);
        fprintf(stderr, "  while the agent took %d ms: slowest consult %lld us, slowest of %d polls %lld us\n", SLOW_MS,
                (long long)slowest_consult_us, polls, (long long)slowest_poll_us);
        /* Generous for valgrind; without it both are tens of microseconds. */
        CHECK(slowest_consult_us < 100000);
        CHECK(slowest_poll_us < 100000);

        /* Destroyed with a consultation in flight: cancelled, and no wait for the agent. */
        CHECK_INT(timed_consult(client, &agent, &request, errstr, sizeof(errstr)), BL_OK);
        usleep(50000);
        int64_t destroy_started = now_us();
        bl_agent_client_destroy(client);
        int64_t destroy_us = now_us() - destroy_started;
        fprintf(stderr, "  destroyed with a consultation in flight in %lld us\n", (long long)destroy_us);
        CHECK(destroy_us < 1000000);
}

static void test_result_names(void) {
        const char *expected[BL_AGENT_RESULT__COUNT] = {"answered", "timeout",   "http_error", "redirect",
                                                        "tls",      "unreachable", "too_large", "malformed",
                                                        "invalid",  "cancelled", "internal"};
        for (int i = 0; i < BL_AGENT_RESULT__COUNT; i++)
                CHECK_STR(bl_agent_result_name((bl_agent_result_t)i), expected[i]);
        CHECK_STR(bl_agent_result_name(BL_AGENT_RESULT__COUNT), "?");
        CHECK(!bl_agent_result_is_failure(BL_AGENT_CANCELLED));
        bl_agent_outcome_destroy(NULL);
        bl_agent_client_destroy(NULL);
}

int main(void) {
        fake_start();
        RUN(test_an_answer);
        RUN(test_every_failure_is_an_outcome);
        RUN(test_the_token_from_the_environment);
        RUN(test_the_pipeline_side_never_waits);
        RUN(test_result_names);
        fake_stop();
        return check_exit_status();
}
