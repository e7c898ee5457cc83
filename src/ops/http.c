/*
 * http.c: /metrics, /healthz and /readyz over libmicrohttpd.
 *
 * libmicrohttpd runs one polling thread of its own (MHD_USE_INTERNAL_POLLING_
 * THREAD, epoll or poll as available) and calls handle_request() on it for
 * every request. The handler answers on its first call: no request body is
 * read, so a POST with one is answered 405 and its connection closed.
 *
 * What the handler reads is shared with the pipeline thread:
 *
 *   last_heartbeat_ms  an atomic, stored by bl_http_heartbeat() each turn of
 *                      the run loop and compared with the monotonic clock,
 *                      so /healthz fails when the loop is stuck even though
 *                      this thread still answers;
 *   ready, reason      under a mutex (the reason is text), set on change;
 *   the registry       rendered under its own mutex (metrics.c).
 *
 * libmicrohttpd binds the socket itself. When it cannot start, the reason is
 * what its logger said during the attempt; a bind of our own, on the same
 * address and port, names the errno when the address is what failed, so the
 * operator reads "cannot listen on 0.0.0.0:9464: Address already in use".
 *
 * Connections are capped (CONNECTION_LIMIT) and idle ones closed after
 * CONNECTION_TIMEOUT_S: the port may face a whole cluster network.
 */
#include "ops/http.h"

#include <arpa/inet.h>
#include <errno.h>
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

#include "ops/log.h"

#if MHD_VERSION >= 0x00097002
typedef enum MHD_Result mhd_result_t;
#else
typedef int mhd_result_t;
#endif

#define CONNECTION_LIMIT 64
#define CONNECTION_TIMEOUT_S 10
#define REASON_MAX 200
#define TEXT_CONTENT_TYPE "text/plain; charset=utf-8"

struct bl_http_s {
        struct MHD_Daemon *daemon;
        bl_metrics_t *registry; /* borrowed */
        int port;
        int64_t healthz_stale_ms;
        _Atomic int64_t last_heartbeat_ms;

        pthread_mutex_t lock; /* guards ready and reason */
        bool ready;
        char reason[REASON_MAX + 1];

        _Atomic bool started;     /* after start, libmicrohttpd's messages go to the log */
        char start_error[256];    /* its last message while starting */
        char where[INET6_ADDRSTRLEN + 16]; /* "0.0.0.0:9464", "[::1]:9464" */
};

static int64_t monotonic_ms(void) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* ---- libmicrohttpd's messages -------------------------------------------- */

static void mhd_logger(void *opaque, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

static void mhd_logger(void *opaque, const char *fmt, va_list ap) {
        bl_http_t *http = opaque;
        char message[256];
        vsnprintf(message, sizeof(message), fmt, ap);
        size_t length = strlen(message);
        while (length > 0 && (message[length - 1] == '\n' || message[length - 1] == '\r'))
                message[--length] = '\0';
        if (atomic_load(&http->started))
                bl_log_warn("http", "%s", message);
        else
                snprintf(http->start_error, sizeof(http->start_error), "%s", message);
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

static mhd_result_t answer_healthz(bl_http_t *http, struct MHD_Connection *connection) {
        int64_t silent_ms = monotonic_ms() - atomic_load(&http->last_heartbeat_ms);
        if (silent_ms <= http->healthz_stale_ms)
                return answer(connection, MHD_HTTP_OK, TEXT_CONTENT_TYPE, "ok\n", NULL, NULL);
        char body[128];
        snprintf(body, sizeof(body), "stale: no heartbeat from the run loop for %lld ms (limit %lld ms)\n",
                 (long long)silent_ms, (long long)http->healthz_stale_ms);
        return answer(connection, MHD_HTTP_SERVICE_UNAVAILABLE, TEXT_CONTENT_TYPE, body, NULL, NULL);
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

static mhd_result_t handle_request(void *opaque, struct MHD_Connection *connection, const char *url,
                                   const char *method, const char *version, const char *upload_data,
                                   size_t *upload_data_size, void **request_state) {
        bl_http_t *http = opaque;
        (void)version;
        (void)upload_data;
        (void)upload_data_size;
        (void)request_state;
        if (strcmp(method, MHD_HTTP_METHOD_GET) != 0)
                return answer(connection, MHD_HTTP_METHOD_NOT_ALLOWED, TEXT_CONTENT_TYPE, "method not allowed\n",
                              MHD_HTTP_HEADER_ALLOW, MHD_HTTP_METHOD_GET);
        if (!strcmp(url, "/metrics"))
                return answer_metrics(http, connection);
        if (!strcmp(url, "/healthz"))
                return answer_healthz(http, connection);
        if (!strcmp(url, "/readyz"))
                return answer_readyz(http, connection);
        return answer(connection, MHD_HTTP_NOT_FOUND, TEXT_CONTENT_TYPE, "not found\n", NULL, NULL);
}

/* ---- life cycle ----------------------------------------------------------- */

bool bl_http_options_from_config(const bl_config_t *config, bl_http_options_t *options) {
        options->address = config->http_address;
        options->port = (int)config->http_port;
        options->healthz_stale_ms = config->http_healthz_stale_ms;
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
        if (pthread_mutex_init(&http->lock, NULL) != 0) {
                free(http);
                bl_err_set(errstr, errstr_size, BL_ERR_NOMEM, "cannot create a mutex");
                return NULL;
        }
        http->registry = registry;
        http->healthz_stale_ms = options->healthz_stale_ms;
        atomic_init(&http->last_heartbeat_ms, monotonic_ms());
        atomic_init(&http->started, false);
        snprintf(http->reason, sizeof(http->reason), "starting");
        bool v6 = address.ss_family == AF_INET6;
        snprintf(http->where, sizeof(http->where), v6 ? "[%s]:%d" : "%s:%d", address_text, options->port);

        unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG;
        if (v6)
                flags |= MHD_USE_IPv6;
        http->daemon = MHD_start_daemon(flags, (uint16_t)options->port, NULL, NULL, handle_request, http,
                                        MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, http, MHD_OPTION_SOCK_ADDR,
                                        (struct sockaddr *)&address, MHD_OPTION_CONNECTION_LIMIT,
                                        (unsigned int)CONNECTION_LIMIT, MHD_OPTION_CONNECTION_TIMEOUT,
                                        (unsigned int)CONNECTION_TIMEOUT_S, MHD_OPTION_END);
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
                MHD_stop_daemon(http->daemon);
                bl_log_info("http", "stopped serving on %s", http->where);
        }
        pthread_mutex_destroy(&http->lock);
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
