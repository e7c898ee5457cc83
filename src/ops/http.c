/*
 * http.c: /metrics, /healthz, /readyz and the status page / over libmicrohttpd.
 *
 * libmicrohttpd runs one polling thread of its own (MHD_USE_INTERNAL_POLLING_
 * THREAD, epoll or poll as available) and calls handle_request() on it for
 * every request. The handler answers on its first call: no request body is
 * read, so a POST with one is answered 405 and its connection closed. HEAD
 * is answered as GET; libmicrohttpd leaves the body out.
 *
 * What the handler reads is shared with the pipeline thread:
 *
 *   status_board       the status page's data (ops/status.h), published by the
 *                      pipeline thread and rendered here under the board's lock; *
 *   last_heartbeat_ms  an atomic, stored by bl_http_heartbeat() each turn of
 *                      the run loop and compared with the monotonic clock,
 *                      so /healthz fails when the loop is stuck even though
 *                      this thread still answers;
 *   ready, reason,     under a mutex (the reason is text), set on change;
 *   health             the pipeline's progress (commits, aborts, work waiting),
 *                      judged by bl_http_health_failing() at each request;
 *   the registry       rendered under its own mutex (metrics.c).
 *
 * libmicrohttpd binds the socket itself. When it cannot start, the reason is
 * what its logger said during the attempt; a bind of our own, on the same
 * address and port, names the errno when the address is what failed, so the
 * operator reads "cannot listen on 0.0.0.0:9464: Address already in use".
 *
 * Slow clients. The port may face a whole cluster network, and a client that
 * sends one header line every 2 s is never idle, so libmicrohttpd's
 * CONNECTION_TIMEOUT (an idle timeout) never closes it. Three bounds:
 *   - max_connections open at once, max_connections_per_address of them from
 *     one address (libmicrohttpd's own limits): the kubelet's probe comes
 *     from another address than a flood and finds room;
 *   - connection_max_ms in all per connection: libmicrohttpd 0.9.75 has no
 *     such option and no call to close a connection from outside its
 *     callbacks, so a watchdog thread of ours keeps every open connection
 *     (told by MHD_OPTION_NOTIFY_CONNECTION) with its start time and a dup()
 *     of its socket, and shuts the socket down when its time is up;
 *     libmicrohttpd then sees the end of the stream and closes the connection
 *     itself. The dup keeps the socket alive until libmicrohttpd says the
 *     connection is closed, so a shutdown can never hit a socket number
 *     reused by another connection;
 *   - warnings (libmicrohttpd's "connection limit reached" and ours) pass a
 *     rate limit: one per WARN_INTERVAL_MS, the next one with the count of
 *     those left out.
 */
#include "ops/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "ops/status.h"

#if MHD_VERSION >= 0x00097002
typedef enum MHD_Result mhd_result_t;
#else
typedef int mhd_result_t;
#endif

#define IDLE_TIMEOUT_MAX_S 10   /* libmicrohttpd's idle timeout, at most; the total bound is ours */
#define WATCH_INTERVAL_MAX_MS 250 /* the watchdog looks at least this often */
#define WARN_INTERVAL_MS 10000  /* at most one warning of this module per interval */
#define REASON_MAX 200
#define TEXT_CONTENT_TYPE "text/plain; charset=utf-8"
#define HTML_CONTENT_TYPE "text/html; charset=utf-8"
/* The status page needs nothing from anywhere: no script runs, no asset loads, even if text in it tried. */
#define STATUS_PAGE_POLICY "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'none'"
#define STATUS_PAGE_REFRESH_S 5
#define ALLOWED_METHODS "GET, HEAD"

/* An open connection, for the watchdog: from libmicrohttpd's STARTED to its CLOSED notification. */
typedef struct open_connection_s {
        struct open_connection_s *prev, *next;
        int socket_copy;  /* dup() of the connection's socket: shutdown() through it, closed at CLOSED */
        int64_t opened_ms;
        bool cut;         /* shut down by the watchdog; libmicrohttpd closes it next */
        char client[INET6_ADDRSTRLEN];
} open_connection_t;

struct bl_http_s {
        struct MHD_Daemon *daemon;
        bl_metrics_t *registry; /* borrowed */
        int port;
        int64_t healthz_stale_ms;
        int64_t max_commit_age_ms;
        uint64_t max_aborts_in_row;
        int64_t connection_max_ms;
        _Atomic int64_t last_heartbeat_ms;
        bl_status_board_t *_Atomic status_board; /* borrowed; NULL: / is 404 */

        pthread_mutex_t lock; /* guards ready, reason and health */
        bool ready;
        char reason[REASON_MAX + 1];
        bool health_known;    /* bl_http_set_health() was called */
        bl_http_health_t health;

        pthread_mutex_t connections_lock; /* guards the list, and the watchdog's stop flag */
        pthread_cond_t watchdog_wake;
        open_connection_t *connections;
        bool watchdog_running, watchdog_stop;
        pthread_t watchdog;
        bool locks_ready;

        pthread_mutex_t warn_lock; /* guards the rate limit of warnings */
        int64_t last_warn_ms;
        uint64_t warnings_left_out;

        _Atomic bool started;     /* after start, libmicrohttpd's messages go to the log */
        char start_error[256];    /* its last message while starting */
        char where[INET6_ADDRSTRLEN + 16]; /* "0.0.0.0:9464", "[::1]:9464" */
};

static int64_t monotonic_ms(void) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* ---- warnings, rate-limited ----------------------------------------------- */

static void warn_limited(bl_http_t *http, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Logs a warning unless one was logged less than WARN_INTERVAL_MS ago; then it is only counted. */
static void warn_limited(bl_http_t *http, const char *fmt, ...) {
        char message[256];
        va_list ap;
        int64_t now = monotonic_ms();
        pthread_mutex_lock(&http->warn_lock);
        if (http->last_warn_ms && now - http->last_warn_ms < WARN_INTERVAL_MS) {
                http->warnings_left_out++;
                pthread_mutex_unlock(&http->warn_lock);
                return;
        }
        uint64_t left_out = http->warnings_left_out;
        http->warnings_left_out = 0;
        http->last_warn_ms = now;
        pthread_mutex_unlock(&http->warn_lock);
        va_start(ap, fmt);
        vsnprintf(message, sizeof(message), fmt, ap);
        va_end(ap);
        if (left_out)
                bl_log_warn("http", "%s (%" PRIu64 " further warning(s) in the last %d s not logged)", message,
                            left_out, WARN_INTERVAL_MS / 1000);
        else
                bl_log_warn("http", "%s", message);
}

/* libmicrohttpd's messages: the reason it could not start, or warnings once it runs. */
static void mhd_logger(void *opaque, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

static void mhd_logger(void *opaque, const char *fmt, va_list ap) {
        bl_http_t *http = opaque;
        char message[256];
        vsnprintf(message, sizeof(message), fmt, ap);
        size_t length = strlen(message);
        while (length > 0 && (message[length - 1] == '\n' || message[length - 1] == '\r'))
                message[--length] = '\0';
        if (atomic_load(&http->started))
                warn_limited(http, "%s", message);
        else
                snprintf(http->start_error, sizeof(http->start_error), "%s", message);
}

/* ---- the total time of a connection ----------------------------------------- */

static void client_address(struct MHD_Connection *connection, char *text, size_t size) {
        const union MHD_ConnectionInfo *info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        const struct sockaddr *address = info ? info->client_addr : NULL;
        snprintf(text, size, "?");
        if (address && address->sa_family == AF_INET)
                inet_ntop(AF_INET, &((const struct sockaddr_in *)address)->sin_addr, text, (socklen_t)size);
        else if (address && address->sa_family == AF_INET6)
                inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)address)->sin6_addr, text, (socklen_t)size);
}

/* libmicrohttpd's thread: a connection opens (kept, with a copy of its socket) or closes (dropped). */
static void notify_connection(void *opaque, struct MHD_Connection *connection, void **socket_context,
                              enum MHD_ConnectionNotificationCode code) {
        bl_http_t *http = opaque;
        open_connection_t *entry = *socket_context;
        if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
                if (!entry)
                        return;
                pthread_mutex_lock(&http->connections_lock);
                if (entry->prev)
                        entry->prev->next = entry->next;
                else
                        http->connections = entry->next;
                if (entry->next)
                        entry->next->prev = entry->prev;
                pthread_mutex_unlock(&http->connections_lock);
                close(entry->socket_copy);
                free(entry);
                *socket_context = NULL;
                return;
        }
        const union MHD_ConnectionInfo *info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (!info || !(entry = calloc(1, sizeof(*entry))))
                return; /* out of memory: this one has only the idle timeout */
        entry->socket_copy = fcntl(info->connect_fd, F_DUPFD_CLOEXEC, 0);
        if (entry->socket_copy < 0) {
                free(entry);
                return;
        }
        entry->opened_ms = monotonic_ms();
        client_address(connection, entry->client, sizeof(entry->client));
        pthread_mutex_lock(&http->connections_lock);
        entry->next = http->connections;
        if (http->connections)
                http->connections->prev = entry;
        http->connections = entry;
        pthread_mutex_unlock(&http->connections_lock);
        *socket_context = entry;
}

/* Shuts down every connection open longer than connection_max_ms; under connections_lock. */
static void cut_old_connections(bl_http_t *http) {
        int64_t now = monotonic_ms();
        for (open_connection_t *entry = http->connections; entry; entry = entry->next) {
                if (entry->cut || now - entry->opened_ms < http->connection_max_ms)
                        continue;
                shutdown(entry->socket_copy, SHUT_RDWR);
                entry->cut = true;
                warn_limited(http, "closed a connection from %s after %" PRId64 " ms (http.connection_max_ms)",
                             entry->client, now - entry->opened_ms);
        }
}

static void *watch_connections(void *opaque) {
        bl_http_t *http = opaque;
        int64_t interval_ms = http->connection_max_ms / 4;
        if (interval_ms > WATCH_INTERVAL_MAX_MS)
                interval_ms = WATCH_INTERVAL_MAX_MS;
        if (interval_ms < 1)
                interval_ms = 1;
        pthread_mutex_lock(&http->connections_lock);
        while (!http->watchdog_stop) {
                struct timespec until;
                clock_gettime(CLOCK_MONOTONIC, &until);
                until.tv_nsec += (long)(interval_ms % 1000) * 1000000L;
                until.tv_sec += (time_t)(interval_ms / 1000) + until.tv_nsec / 1000000000L;
                until.tv_nsec %= 1000000000L;
                pthread_cond_timedwait(&http->watchdog_wake, &http->connections_lock, &until);
                if (!http->watchdog_stop)
                        cut_old_connections(http);
        }
        pthread_mutex_unlock(&http->connections_lock);
        return NULL;
}

/* ---- responses ------------------------------------------------------------ */

/* Queues @p body (copied) with @p status and @p content_type; extra header when @p header_name. */
static mhd_result_t answer(struct MHD_Connection *connection, unsigned int status, const char *content_type,
                           const char *body, const char *header_name, const char *header_value) {
        struct MHD_Response *response =
                MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
        if (!response)
                return MHD_NO;
        MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
        MHD_add_response_header(response, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
        if (header_name)
                MHD_add_response_header(response, header_name, header_value);
        mhd_result_t result = MHD_queue_response(connection, status, response);
        MHD_destroy_response(response);
        return result;
}

static mhd_result_t answer_metrics(bl_http_t *http, struct MHD_Connection *connection) {
        size_t length = 0;
        char *text = bl_metrics_render_string(http->registry, &length);
        if (!text)
                return answer(connection, MHD_HTTP_INTERNAL_SERVER_ERROR, TEXT_CONTENT_TYPE, "out of memory\n", NULL,
                              NULL);
        /* MUST_FREE: libmicrohttpd frees the rendering with free() once sent. */
        struct MHD_Response *response = MHD_create_response_from_buffer(length, text, MHD_RESPMEM_MUST_FREE);
        if (!response) {
                free(text);
                return MHD_NO;
        }
        MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, BL_METRICS_CONTENT_TYPE);
        MHD_add_response_header(response, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
        mhd_result_t result = MHD_queue_response(connection, MHD_HTTP_OK, response);
        MHD_destroy_response(response);
        return result;
}

int64_t bl_http_health_stalled_ms(const bl_http_health_t *health, int64_t now_ms) {
        if (!health->work_pending)
                return 0;
        int64_t since = health->work_since_ms > health->last_commit_ms ? health->work_since_ms : health->last_commit_ms;
        return now_ms > since ? now_ms - since : 0;
}

bool bl_http_health_failing(const bl_http_health_t *health, int64_t max_commit_age_ms, uint64_t max_aborts_in_row,
                            int64_t now_ms, char *reason, size_t reason_size) {
        int64_t stalled_ms = bl_http_health_stalled_ms(health, now_ms);
        if (health->waiting_on[0])
                return false; /* waiting for an operator, not stuck: a restart would not help */
        if (max_aborts_in_row > 0 && health->aborts_in_row >= max_aborts_in_row) {
                snprintf(reason, reason_size,
                         "aborting: %" PRIu64 " batches aborted in a row without a commit (limit %" PRIu64 ")",
                         health->aborts_in_row, max_aborts_in_row);
                return true;
        }
        if (stalled_ms > max_commit_age_ms) {
                snprintf(reason, reason_size,
                         "stalled: work has waited %" PRId64 " ms without a transaction committed (limit %" PRId64
                         " ms)",
                         stalled_ms, max_commit_age_ms);
                return true;
        }
        return false;
}

void bl_http_health_text(const bl_http_health_t *health, char *out, size_t out_size) {
        if (health->waiting_on[0])
                snprintf(out, out_size, "ok, waiting: %s\n", health->waiting_on);
        else
                snprintf(out, out_size, "ok\n");
}

static mhd_result_t answer_healthz(bl_http_t *http, struct MHD_Connection *connection) {
        char body[REASON_MAX + 32];
        int64_t now = monotonic_ms();
        int64_t silent_ms = now - atomic_load(&http->last_heartbeat_ms);
        if (silent_ms > http->healthz_stale_ms) {
                snprintf(body, sizeof(body),
                         "stale: no heartbeat from the run loop for %" PRId64 " ms (limit %" PRId64 " ms)\n", silent_ms,
                         http->healthz_stale_ms);
                return answer(connection, MHD_HTTP_SERVICE_UNAVAILABLE, TEXT_CONTENT_TYPE, body, NULL, NULL);
        }
        pthread_mutex_lock(&http->lock);
        bl_http_health_t health = http->health;
        bool known = http->health_known;
        pthread_mutex_unlock(&http->lock);
        if (known && bl_http_health_failing(&health, http->max_commit_age_ms, http->max_aborts_in_row, now, body,
                                            sizeof(body) - 1)) {
                strcat(body, "\n");
                return answer(connection, MHD_HTTP_SERVICE_UNAVAILABLE, TEXT_CONTENT_TYPE, body, NULL, NULL);
        }
        bl_http_health_text(&health, body, sizeof(body));
        return answer(connection, MHD_HTTP_OK, TEXT_CONTENT_TYPE, body, NULL, NULL);
}

static mhd_result_t answer_readyz(bl_http_t *http, struct MHD_Connection *connection) {
        char body[REASON_MAX + 32];
        pthread_mutex_lock(&http->lock);
        bool ready = http->ready;
        snprintf(body, sizeof(body), "not ready: %s\n", http->reason);
        pthread_mutex_unlock(&http->lock);
        if (ready)
                return answer(connection, MHD_HTTP_OK, TEXT_CONTENT_TYPE, "ok\n", NULL, NULL);
        return answer(connection, MHD_HTTP_SERVICE_UNAVAILABLE, TEXT_CONTENT_TYPE, body, NULL, NULL);
}

/* The status page (SPEC §15), rendered from the board under its lock: never from the pipeline's own data. */
static mhd_result_t answer_status_page(bl_http_t *http, struct MHD_Connection *connection) {
        bl_status_board_t *board = atomic_load(&http->status_board);
        size_t length = 0;
        char *page;
        if (!board)
                return answer(connection, MHD_HTTP_NOT_FOUND, TEXT_CONTENT_TYPE, "not found\n", NULL, NULL);
        if (!(page = bl_status_board_render(board, STATUS_PAGE_REFRESH_S, &length)))
                return answer(connection, MHD_HTTP_INTERNAL_SERVER_ERROR, TEXT_CONTENT_TYPE, "out of memory\n", NULL,
                              NULL);
        struct MHD_Response *response = MHD_create_response_from_buffer(length, page, MHD_RESPMEM_MUST_FREE);
        if (!response) {
                free(page);
                return MHD_NO;
        }
        MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, HTML_CONTENT_TYPE);
        MHD_add_response_header(response, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
        MHD_add_response_header(response, "Content-Security-Policy", STATUS_PAGE_POLICY);
        MHD_add_response_header(response, "X-Content-Type-Options", "nosniff");
        mhd_result_t result = MHD_queue_response(connection, MHD_HTTP_OK, response);
        MHD_destroy_response(response);
        return result;
}

static mhd_result_t handle_request(void *opaque, struct MHD_Connection *connection, const char *url,
                                   const char *method, const char *version, const char *upload_data,
                                   size_t *upload_data_size, void **request_state) {
        bl_http_t *http = opaque;
        (void)version;
        (void)upload_data;
        (void)upload_data_size;
        (void)request_state;
        /* HEAD: the GET answer; libmicrohttpd sends its status and headers, not its body. */
        if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
                return answer(connection, MHD_HTTP_METHOD_NOT_ALLOWED, TEXT_CONTENT_TYPE, "method not allowed\n",
                              MHD_HTTP_HEADER_ALLOW, ALLOWED_METHODS);
        if (!strcmp(url, "/metrics"))
                return answer_metrics(http, connection);
        if (!strcmp(url, "/healthz"))
                return answer_healthz(http, connection);
        if (!strcmp(url, "/readyz"))
                return answer_readyz(http, connection);
        if (!strcmp(url, "/"))
                return answer_status_page(http, connection);
        return answer(connection, MHD_HTTP_NOT_FOUND, TEXT_CONTENT_TYPE, "not found\n", NULL, NULL);
}

/* ---- life cycle ----------------------------------------------------------- */

bool bl_http_options_from_config(const bl_config_t *config, bl_http_options_t *options) {
        options->address = config->http_address;
        options->port = (int)config->http_port;
        options->healthz_stale_ms = config->http_healthz_stale_ms;
        options->connection_max_ms = config->http_connection_max_ms;
        options->max_connections = (unsigned int)config->http_max_connections;
        options->max_connections_per_address = (unsigned int)config->http_max_connections_per_address;
        options->max_commit_age_ms = bl_config_health_max_commit_age_ms(config);
        options->max_aborts_in_row = (uint64_t)config->health_max_aborts_in_row;
        return config->http_port != 0;
}

/* Fills @p address from text and port; false when the text is no numeric address. */
static bool parse_address(const char *text, int port, struct sockaddr_storage *address, socklen_t *length) {
        memset(address, 0, sizeof(*address));
        struct sockaddr_in *v4 = (struct sockaddr_in *)address;
        struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)address;
        if (inet_pton(AF_INET, text, &v4->sin_addr) == 1) {
                v4->sin_family = AF_INET;
                v4->sin_port = htons((uint16_t)port);
                *length = sizeof(*v4);
                return true;
        }
        if (inet_pton(AF_INET6, text, &v6->sin6_addr) == 1) {
                v6->sin6_family = AF_INET6;
                v6->sin6_port = htons((uint16_t)port);
                *length = sizeof(*v6);
                return true;
        }
        return false;
}

/*
 * Why libmicrohttpd could not start: a bind of our own names the errno when
 * the address or port is at fault; otherwise libmicrohttpd's own message.
 */
static void explain_start_failure(bl_http_t *http, const struct sockaddr_storage *address, socklen_t length,
                                  char *errstr, size_t errstr_size) {
        int probe = socket(address->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (probe >= 0) {
                int on = 1;
                setsockopt(probe, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
                if (bind(probe, (const struct sockaddr *)address, length) != 0) {
                        int bind_errno = errno;
                        close(probe);
                        bl_err_set(errstr, errstr_size, BL_ERR_IO, "cannot listen on %s: %s", http->where,
                                   strerror(bind_errno));
                        return;
                }
                close(probe);
        }
        bl_err_set(errstr, errstr_size, BL_ERR_IO, "cannot start the HTTP server on %s: %s", http->where,
                   http->start_error[0] ? http->start_error : "libmicrohttpd gave no reason");
}

/* The mutexes, and the watchdog's condition on the monotonic clock; false when one cannot be made. */
static bool init_locks(bl_http_t *http) {
        pthread_condattr_t attributes;
        if (pthread_condattr_init(&attributes) != 0)
                return false;
        bool made = pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC) == 0 &&
                    pthread_cond_init(&http->watchdog_wake, &attributes) == 0;
        pthread_condattr_destroy(&attributes);
        if (!made)
                return false;
        if (pthread_mutex_init(&http->lock, NULL) == 0) {
                if (pthread_mutex_init(&http->connections_lock, NULL) == 0) {
                        if (pthread_mutex_init(&http->warn_lock, NULL) == 0) {
                                http->locks_ready = true;
                                return true;
                        }
                        pthread_mutex_destroy(&http->connections_lock);
                }
                pthread_mutex_destroy(&http->lock);
        }
        pthread_cond_destroy(&http->watchdog_wake);
        return false;
}

static int64_t or_default(int64_t value, int64_t fallback) {
        return value > 0 ? value : fallback;
}

/* The port the daemon listens on, from its socket. */
static int bound_port(struct MHD_Daemon *daemon) {
        const union MHD_DaemonInfo *info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_LISTEN_FD);
        struct sockaddr_storage address;
        socklen_t length = sizeof(address);
        if (!info || getsockname(info->listen_fd, (struct sockaddr *)&address, &length) != 0)
                return -1;
        if (address.ss_family == AF_INET6)
                return ntohs(((struct sockaddr_in6 *)&address)->sin6_port);
        return ntohs(((struct sockaddr_in *)&address)->sin_port);
}

bl_http_t *bl_http_start(const bl_http_options_t *options, bl_metrics_t *registry, char *errstr,
                         size_t errstr_size) {
        struct sockaddr_storage address;
        socklen_t address_length;
        const char *address_text = options->address ? options->address : "";
        if (options->port < 0 || options->port > 65535) {
                bl_err_set(errstr, errstr_size, BL_ERR_INVALID_ARG, "http.port %d is not a TCP port", options->port);
                return NULL;
        }
        if (!parse_address(address_text, options->port, &address, &address_length)) {
                bl_err_set(errstr, errstr_size, BL_ERR_INVALID_ARG,
                           "http.address \"%s\" is not a numeric IPv4 or IPv6 address", address_text);
                return NULL;
        }
        if (options->healthz_stale_ms <= 0) {
                bl_err_set(errstr, errstr_size, BL_ERR_INVALID_ARG, "the /healthz stale limit must be positive");
                return NULL;
        }

        bl_http_t *http = calloc(1, sizeof(*http));
        if (!http) {
                bl_err_set(errstr, errstr_size, BL_ERR_NOMEM, "out of memory");
                return NULL;
        }
        if (!init_locks(http)) {
                free(http);
                bl_err_set(errstr, errstr_size, BL_ERR_NOMEM, "cannot create a mutex");
                return NULL;
        }
        http->registry = registry;
        http->healthz_stale_ms = options->healthz_stale_ms;
        http->connection_max_ms = or_default(options->connection_max_ms, BL_HTTP_DEFAULT_CONNECTION_MAX_MS);
        http->max_commit_age_ms = or_default(options->max_commit_age_ms, BL_HTTP_DEFAULT_MAX_COMMIT_AGE_MS);
        http->max_aborts_in_row = options->max_aborts_in_row ? options->max_aborts_in_row
                                                             : BL_HTTP_DEFAULT_MAX_ABORTS_IN_ROW;
        unsigned int max_connections = options->max_connections ? options->max_connections
                                                                : BL_HTTP_DEFAULT_MAX_CONNECTIONS;
        unsigned int per_address = options->max_connections_per_address ? options->max_connections_per_address
                                                                        : BL_HTTP_DEFAULT_MAX_CONNECTIONS_PER_ADDRESS;
        int64_t idle_timeout_s = (http->connection_max_ms + 999) / 1000;
        if (idle_timeout_s > IDLE_TIMEOUT_MAX_S)
                idle_timeout_s = IDLE_TIMEOUT_MAX_S;
        atomic_init(&http->last_heartbeat_ms, monotonic_ms());
        atomic_init(&http->status_board, NULL);
        atomic_init(&http->started, false);
        snprintf(http->reason, sizeof(http->reason), "starting");
        bool v6 = address.ss_family == AF_INET6;
        snprintf(http->where, sizeof(http->where), v6 ? "[%s]:%d" : "%s:%d", address_text, options->port);

        if (pthread_create(&http->watchdog, NULL, watch_connections, http) != 0) {
                bl_err_set(errstr, errstr_size, BL_ERR_NOMEM, "cannot start the HTTP connection watchdog");
                bl_http_stop(http);
                return NULL;
        }
        http->watchdog_running = true;
        unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG;
        if (v6)
                flags |= MHD_USE_IPv6;
        http->daemon = MHD_start_daemon(
                flags, (uint16_t)options->port, NULL, NULL, handle_request, http, MHD_OPTION_EXTERNAL_LOGGER,
                mhd_logger, http, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&address, MHD_OPTION_CONNECTION_LIMIT,
                max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT, per_address, MHD_OPTION_CONNECTION_TIMEOUT,
                (unsigned int)idle_timeout_s, MHD_OPTION_NOTIFY_CONNECTION, notify_connection, http, MHD_OPTION_END);
        if (!http->daemon) {
                explain_start_failure(http, &address, address_length, errstr, errstr_size);
                bl_http_stop(http);
                return NULL;
        }
        atomic_store(&http->started, true);
        http->port = bound_port(http->daemon);
        if (http->port < 0) {
                bl_err_set(errstr, errstr_size, BL_ERR_IO, "cannot read the port of %s: %s", http->where,
                           strerror(errno));
                bl_http_stop(http);
                return NULL;
        }
        snprintf(http->where, sizeof(http->where), v6 ? "[%s]:%d" : "%s:%d", address_text, http->port);
        bl_log_info("http", "serving /metrics, /healthz and /readyz on %s", http->where);
        return http;
}

void bl_http_stop(bl_http_t *http) {
        if (!http)
                return;
        if (http->daemon) {
                MHD_stop_daemon(http->daemon); /* closes every connection: the list empties */
                bl_log_info("http", "stopped serving on %s", http->where);
        }
        if (http->watchdog_running) {
                pthread_mutex_lock(&http->connections_lock);
                http->watchdog_stop = true;
                pthread_cond_signal(&http->watchdog_wake);
                pthread_mutex_unlock(&http->connections_lock);
                pthread_join(http->watchdog, NULL);
        }
        if (http->warnings_left_out)
                bl_log_warn("http", "%" PRIu64 " further warning(s) in the last %d s not logged",
                            http->warnings_left_out, WARN_INTERVAL_MS / 1000);
        if (http->locks_ready) {
                pthread_mutex_destroy(&http->lock);
                pthread_mutex_destroy(&http->connections_lock);
                pthread_cond_destroy(&http->watchdog_wake);
                pthread_mutex_destroy(&http->warn_lock);
        }
        free(http);
}

int bl_http_port(const bl_http_t *http) {
        return http ? http->port : 0;
}

void bl_http_heartbeat(bl_http_t *http) {
        if (http)
                atomic_store_explicit(&http->last_heartbeat_ms, monotonic_ms(), memory_order_relaxed);
}

void bl_http_set_ready(bl_http_t *http, bool ready, const char *reason) {
        if (!http)
                return;
        if (!reason || !*reason)
                reason = "not ready";
        size_t length = strlen(reason);
        if (length > REASON_MAX) {
                length = REASON_MAX;
                while (length > 0 && ((unsigned char)reason[length] & 0xC0) == 0x80)
                        length--; /* not inside a UTF-8 sequence */
        }
        pthread_mutex_lock(&http->lock);
        http->ready = ready;
        memcpy(http->reason, reason, length);
        http->reason[length] = '\0';
        pthread_mutex_unlock(&http->lock);
}

void bl_http_set_status_board(bl_http_t *http, bl_status_board_t *board) {
        if (http)
                atomic_store(&http->status_board, board);
}

void bl_http_set_health(bl_http_t *http, const bl_http_health_t *health) {
        if (!http)
                return;
        pthread_mutex_lock(&http->lock);
        http->health = *health;
        http->health_known = true;
        pthread_mutex_unlock(&http->lock);
}

const char *bl_http_library_version(void) {
        return MHD_get_version();
}
