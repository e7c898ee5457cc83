/*
 * test_registry.c: the Schema Registry client without a registry.
 *
 * The parsers are fed bodies directly: good ones, missing fields, wrong
 * types, non-JSON, ids out of range. The options are checked without a
 * request. The calls and their error classes run against a canned server
 * (libmicrohttpd, 127.0.0.1, an ephemeral port) that answers per path:
 * 200, 404 with 40403, 5xx, 408, 429, 401, 403, 409, 422, a handler slower
 * than timeout_ms, bodies over the 4 MiB bound, and a route that demands
 * basic auth. The server records the last request so the tests see what the
 * client actually sent: method, raw path, body, headers.
 *
 * The fetcher (contract/fetcher.c) runs against the same server: an ask
 * answers at once while the server hangs on purpose (a route that holds its
 * answer until the test releases it), the answer lands, a 404 stays
 * permanent, a failure is said once, and destroy returns promptly while a
 * request hangs.
 */
#include <arpa/inet.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "contract/fetcher.h"
#include "contract/registry.h"
#include "contract/schemas.h"

#define SCHEMA_STRING "{\"type\":\"string\"}"
#define SCHEMA_BODY "{\"schema\": \"{\\\"type\\\":\\\"string\\\"}\"}"
#define HUGE_BODY_BYTES ((size_t)5 << 20)
#define USERNAME "probe"
#define PASSWORD "s3cret-Pa55"
#define AUTHORIZATION "Basic cHJvYmU6czNjcmV0LVBhNTU=" /* base64("probe:s3cret-Pa55") */
#define TIMEOUT_MS 100
#define SLOW_MS 400
#define HANG_UNTIL_RELEASED -1 /* a route's delay: answers once the test releases it (or after HANG_MAX_MS) */
#define HANG_MAX_MS 20000
#define HANGING_ID 16

/* ---- the canned server ------------------------------------------------- */

typedef enum { BODY_TEXT, BODY_HUGE_SIZED, BODY_HUGE_CHUNKED } body_kind_t;

typedef struct route_s {
        const char *method;
        const char *path; /* raw (still escaped), below the optional /r prefix */
        int status;
        const char *body;
        body_kind_t kind;
        int delay_ms;
        bool needs_auth;
} route_t;

static const route_t routes[] = {
        {"GET", "/schemas/ids/1", 200, SCHEMA_BODY},
        {"GET", "/schemas/ids/2", 404, "{\"error_code\":40403,\"message\":\"Schema 2 not found\"}"},
        {"GET", "/schemas/ids/3", 500, "{\"error_code\":50001,\"message\":\"Error in the backend data store\"}"},
        {"GET", "/schemas/ids/4", 200, SCHEMA_BODY, BODY_TEXT, SLOW_MS},
        {"GET", "/schemas/ids/5", 200, NULL, BODY_HUGE_SIZED},
        {"GET", "/schemas/ids/6", 429, "{\"error_code\":42901,\"message\":\"Too many requests\"}"},
        {"GET", "/schemas/ids/7", 408, ""},
        {"GET", "/schemas/ids/8", 200, "<html>a proxy's login page</html>"},
        {"GET", "/schemas/ids/9", 401, "{\"error_code\":40101,\"message\":\"Unauthorized\"}"},
        {"GET", "/schemas/ids/10", 403, "{\"error_code\":40301,\"message\":\"Forbidden\"}"},
        {"GET", "/schemas/ids/11", 404, ""},
        {"GET", "/schemas/ids/12", 503, "<html>Service Unavailable</html>"},
        {"GET", "/schemas/ids/13", 502, NULL, BODY_HUGE_SIZED},
        {"GET", "/schemas/ids/14", 200, NULL, BODY_HUGE_CHUNKED},
        {"GET", "/schemas/ids/15", 301, ""},
        {"GET", "/schemas/ids/16", 200, SCHEMA_BODY, BODY_TEXT, HANG_UNTIL_RELEASED},
        {"GET", "/schemas/ids/100", 200, SCHEMA_BODY, BODY_TEXT, 0, true},
        {"POST", "/subjects/orders-value/versions", 200, "{\"id\":42}"},
        {"POST", "/subjects/orders%2Feu%20value/versions", 200, "{\"id\":43}"},
        {"POST", "/subjects/big-id-value/versions", 200, "{\"id\":2147483648}"},
        {"POST", "/subjects/bad-value/versions", 422, "{\"error_code\":42201,\"message\":\"Invalid schema\"}"},
        {"POST", "/subjects/incompatible-value/versions", 409,
         "{\"error_code\":409,\"message\":\"Schema being registered is incompatible with an earlier schema\"}"},
        {"GET", "/subjects/orders-value/versions/latest", 200,
         "{\"subject\":\"orders-value\",\"version\":3,\"id\":42,\"schema\":\"" "{\\\"type\\\":\\\"string\\\"}" "\"}"},
        {"GET", "/subjects/weird-value/versions/latest", 200,
         "{\"subject\":\"weird-value\",\"version\":\"3\",\"id\":42,\"schema\":\"\\\"string\\\"\"}"},
        {"GET", "/subjects/missing-value/versions/latest", 404,
         "{\"error_code\":40401,\"message\":\"Subject 'missing-value' not found.\"}"},
        {"POST", "/compatibility/subjects/orders-value/versions/latest", 200, "{\"is_compatible\":true}"},
        {"POST", "/compatibility/subjects/old-value/versions/latest", 200,
         "{\"is_compatible\":false,\"messages\":[\"reader field 'tier' has no default\",\"type changed at /f\"]}"},
        {"POST", "/compatibility/subjects/silent-value/versions/latest", 200, "{\"is_compatible\":false}"},
        {"POST", "/compatibility/subjects/weird-value/versions/latest", 200, "{\"is_compatible\":\"yes\"}"},
        {"PUT", "/config/orders-value", 200, "{\"compatibility\":\"BACKWARD\"}"},
};

typedef struct seen_request_s {
        char method[8];
        char path[256];
        char body[1024];
        char content_type[128];
        char accept[256];
        char authorization[128];
        char verbose[16];
} seen_request_t;

static struct {
        struct MHD_Daemon *daemon;
        char url[64];        /* http://127.0.0.1:PORT, no path */
        int closed_port;     /* bound, never listening: connections are refused */
        int closed_socket;
        char *huge_body;
        pthread_mutex_t lock;
        int connections;     /* opened so far */
        int requests;        /* answered or begun so far */
        seen_request_t last; /* under lock */
        pthread_cond_t released_cond;
        bool released;       /* hanging routes answer (under lock) */
} server = {.lock = PTHREAD_MUTEX_INITIALIZER, .released_cond = PTHREAD_COND_INITIALIZER};

typedef struct upload_s {
        char body[1024];
        size_t length;
} upload_t;

static const route_t *find_route(const char *method, const char *url) {
        const char *path = strncmp(url, "/r/", 3) == 0 ? url + 2 : url;
        for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
                if (!strcmp(routes[i].method, method) && !strcmp(routes[i].path, path))
                        return &routes[i];
        return NULL;
}

static void copy_header(struct MHD_Connection *connection, enum MHD_ValueKind kind, const char *name, char *out,
                        size_t out_size) {
        const char *value = MHD_lookup_connection_value(connection, kind, name);
        snprintf(out, out_size, "%s", value ? value : "");
}

static void record_request(struct MHD_Connection *connection, const char *method, const char *url,
                           const upload_t *upload) {
        pthread_mutex_lock(&server.lock);
        server.requests++;
        snprintf(server.last.method, sizeof(server.last.method), "%s", method);
        snprintf(server.last.path, sizeof(server.last.path), "%s", url);
        snprintf(server.last.body, sizeof(server.last.body), "%.*s", (int)upload->length, upload->body);
        copy_header(connection, MHD_HEADER_KIND, "Content-Type", server.last.content_type,
                    sizeof(server.last.content_type));
        copy_header(connection, MHD_HEADER_KIND, "Accept", server.last.accept, sizeof(server.last.accept));
        copy_header(connection, MHD_HEADER_KIND, "Authorization", server.last.authorization,
                    sizeof(server.last.authorization));
        copy_header(connection, MHD_GET_ARGUMENT_KIND, "verbose", server.last.verbose, sizeof(server.last.verbose));
        pthread_mutex_unlock(&server.lock);
}

static seen_request_t last_request(void) {
        seen_request_t copy;
        pthread_mutex_lock(&server.lock);
        copy = server.last;
        memset(&server.last, 0, sizeof(server.last));
        pthread_mutex_unlock(&server.lock);
        return copy;
}

static ssize_t huge_chunk(void *cls, uint64_t pos, char *buf, size_t max) {
        (void)cls;
        if (pos >= HUGE_BODY_BYTES)
                return MHD_CONTENT_READER_END_OF_STREAM;
        size_t bytes = HUGE_BODY_BYTES - (size_t)pos < max ? HUGE_BODY_BYTES - (size_t)pos : max;
        memset(buf, 'x', bytes);
        return (ssize_t)bytes;
}

static struct MHD_Response *make_response(const route_t *route, bool authorized) {
        if (!route)
                return MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
        if (!authorized) {
                static const char denied[] = "{\"error_code\":40101,\"message\":\"Unauthorized\"}";
                return MHD_create_response_from_buffer(strlen(denied), (void *)denied, MHD_RESPMEM_PERSISTENT);
        }
        if (route->kind == BODY_HUGE_SIZED)
                return MHD_create_response_from_buffer(HUGE_BODY_BYTES, server.huge_body, MHD_RESPMEM_PERSISTENT);
        if (route->kind == BODY_HUGE_CHUNKED)
                return MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, huge_chunk, NULL, NULL);
        return MHD_create_response_from_buffer(strlen(route->body), (void *)route->body, MHD_RESPMEM_PERSISTENT);
}

static void hang_until_released(void) {
        struct timespec deadline;
        clock_gettime(CLOCK_REALTIME, &deadline);
        deadline.tv_sec += HANG_MAX_MS / 1000;
        pthread_mutex_lock(&server.lock);
        while (!server.released && pthread_cond_timedwait(&server.released_cond, &server.lock, &deadline) == 0)
                continue;
        pthread_mutex_unlock(&server.lock);
}

static void set_hanging(bool hanging) {
        pthread_mutex_lock(&server.lock);
        server.released = !hanging;
        pthread_cond_broadcast(&server.released_cond);
        pthread_mutex_unlock(&server.lock);
}

static int requests_so_far(void) {
        pthread_mutex_lock(&server.lock);
        int requests = server.requests;
        pthread_mutex_unlock(&server.lock);
        return requests;
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *connection, const char *url, const char *method,
                              const char *version, const char *upload_data, size_t *upload_data_size,
                              void **request_context) {
        upload_t *upload = *request_context;
        (void)cls;
        (void)version;
        if (!upload) {
                *request_context = calloc(1, sizeof(upload_t));
                return *request_context ? MHD_YES : MHD_NO;
        }
        if (*upload_data_size) {
                size_t room = sizeof(upload->body) - upload->length;
                size_t bytes = *upload_data_size < room ? *upload_data_size : room;
                memcpy(upload->body + upload->length, upload_data, bytes);
                upload->length += bytes;
                *upload_data_size = 0;
                return MHD_YES;
        }
        record_request(connection, method, url, upload);
        const route_t *route = find_route(method, url);
        const char *authorization = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, "Authorization");
        bool authorized = !route || !route->needs_auth || (authorization && !strcmp(authorization, AUTHORIZATION));
        if (route && route->delay_ms == HANG_UNTIL_RELEASED)
                hang_until_released();
        else if (route && route->delay_ms)
                usleep((useconds_t)route->delay_ms * 1000);
        struct MHD_Response *response = make_response(route, authorized);
        MHD_add_response_header(response, "Content-Type", "application/vnd.schemaregistry.v1+json");
        if (route && route->status == 301)
                MHD_add_response_header(response, "Location", "http://127.0.0.1:1/elsewhere");
        enum MHD_Result queued =
                MHD_queue_response(connection, !route ? 404 : authorized ? (unsigned)route->status : 401, response);
        MHD_destroy_response(response);
        return queued;
}

static void request_completed(void *cls, struct MHD_Connection *connection, void **request_context,
                              enum MHD_RequestTerminationCode code) {
        (void)cls;
        (void)connection;
        (void)code;
        free(*request_context);
        *request_context = NULL;
}

static void connection_changed(void *cls, struct MHD_Connection *connection, void **socket_context,
                               enum MHD_ConnectionNotificationCode code) {
        (void)cls;
        (void)connection;
        (void)socket_context;
        if (code == MHD_CONNECTION_NOTIFY_STARTED) {
                pthread_mutex_lock(&server.lock);
                server.connections++;
                pthread_mutex_unlock(&server.lock);
        }
}

/* The raw path reaches answer(): the tests check how the client escaped the subject. */
static size_t keep_escaped(void *cls, struct MHD_Connection *connection, char *text) {
        (void)cls;
        (void)connection;
        return strlen(text);
}

static int bound_port(int fd) {
        struct sockaddr_in address;
        socklen_t length = sizeof(address);
        return getsockname(fd, (struct sockaddr *)&address, &length) == 0 ? ntohs(address.sin_port) : -1;
}

static int loopback_socket(void) {
        struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = 0};
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (fd >= 0 && bind(fd, (struct sockaddr *)&address, sizeof(address)) != 0) {
                close(fd);
                return -1;
        }
        return fd;
}

static bool start_server(void) {
        struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = 0};
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        server.huge_body = malloc(HUGE_BODY_BYTES);
        if (!server.huge_body)
                return false;
        memset(server.huge_body, 'x', HUGE_BODY_BYTES);
        server.daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0, NULL,
                                         NULL, answer, NULL, MHD_OPTION_SOCK_ADDR, &address,
                                         MHD_OPTION_NOTIFY_COMPLETED, request_completed, NULL,
                                         MHD_OPTION_NOTIFY_CONNECTION, connection_changed, NULL,
                                         MHD_OPTION_UNESCAPE_CALLBACK, keep_escaped, NULL, MHD_OPTION_END);
        if (!server.daemon)
                return false;
        const union MHD_DaemonInfo *info = MHD_get_daemon_info(server.daemon, MHD_DAEMON_INFO_BIND_PORT);
        snprintf(server.url, sizeof(server.url), "http://127.0.0.1:%u", info ? info->port : 0);
        server.closed_socket = loopback_socket();
        server.closed_port = bound_port(server.closed_socket);
        return info && info->port && server.closed_port > 0;
}

static void stop_server(void) {
        set_hanging(false);
        if (server.daemon)
                MHD_stop_daemon(server.daemon);
        if (server.closed_socket >= 0)
                close(server.closed_socket);
        free(server.huge_body);
}

/* ---- helpers ------------------------------------------------------------- */

static bl_registry_options_t options_for(const char *url) {
        return (bl_registry_options_t){.url = url, .verify_tls = true, .timeout_ms = 2000};
}

/* A client of the canned server under base path /r, with a trailing slash on purpose. */
static bl_registry_t *canned_registry(void) {
        char url[128], errstr[512] = "";
        snprintf(url, sizeof(url), "%s/r/", server.url);
        bl_registry_options_t options = options_for(url);
        bl_registry_t *registry = bl_registry_new(&options, errstr, sizeof(errstr));
        CHECK(registry != NULL);
        if (!registry)
                fprintf(stderr, "bl_registry_new: %s\n", errstr);
        return registry;
}

static long long elapsed_ms(const struct timespec *since) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        return (now.tv_sec - since->tv_sec) * 1000LL + (now.tv_nsec - since->tv_nsec) / 1000000;
}

/* Fetches schema @p id and checks the error class, and that errstr holds every one of @p expected. */
static void expect_get_schema(bl_registry_t *registry, int32_t id, bl_err_t expected_err, const char *expected1,
                              const char *expected2) {
        char errstr[512] = "", *schema = NULL;
        bl_err_t err = bl_registry_get_schema(registry, id, &schema, errstr, sizeof(errstr));
        CHECK_INT(err, expected_err);
        if (err != expected_err)
                fprintf(stderr, "  id %d: %s: %s\n", (int)id, bl_err_name(err), errstr);
        if (expected1)
                CHECK_CONTAINS(errstr, expected1);
        if (expected2)
                CHECK_CONTAINS(errstr, expected2);
        CHECK(err == BL_OK || schema == NULL);
        free(schema);
}

static bool same_json(const char *actual, const char *expected) {
        json_t *a = json_loads(actual, 0, NULL), *e = json_loads(expected, 0, NULL);
        bool same = a && e && json_equal(a, e);
        json_decref(a);
        json_decref(e);
        return same;
}

/* ---- parsers ------------------------------------------------------------- */

static void test_parse_schema_good(void) {
        char errstr[256] = "", *schema = NULL;
        static const char confluent[] = "{\"subject\":\"s\",\"version\":1,\"id\":7,\"schemaType\":\"AVRO\","
                                        "\"references\":[],\"schema\":\"{\\\"type\\\":\\\"long\\\"}\"}";
        CHECK_INT(bl_registry_parse_schema_response(SCHEMA_BODY, strlen(SCHEMA_BODY), &schema, errstr, sizeof(errstr)),
                  BL_OK);
        CHECK_STR(schema, SCHEMA_STRING);
        free(schema);
        CHECK_INT(bl_registry_parse_schema_response(confluent, strlen(confluent), &schema, errstr, sizeof(errstr)),
                  BL_OK);
        CHECK_STR(schema, "{\"type\":\"long\"}");
        free(schema);
}

/* @p body (its first @p len bytes) must be refused with @p reason, and *schema_json left NULL. */
static void expect_schema_rejected_len(const char *body, size_t len, const char *reason) {
        char errstr[256] = "", *schema = (char *)"untouched";
        CHECK_INT(bl_registry_parse_schema_response(body, len, &schema, errstr, sizeof(errstr)), BL_ERR_INVALID_ARG);
        CHECK(schema == NULL);
        CHECK_CONTAINS(errstr, reason);
}

static void expect_schema_rejected(const char *body, const char *reason) {
        expect_schema_rejected_len(body, strlen(body), reason);
}

static void test_parse_schema_bad(void) {
        expect_schema_rejected("{\"id\":1}", "no \"schema\" string");
        expect_schema_rejected("{\"schema\":17}", "no \"schema\" string");
        expect_schema_rejected("{\"schema\":\"\"}", "no \"schema\" string");
        expect_schema_rejected("{\"schema\":null}", "no \"schema\" string");
        expect_schema_rejected("<html>", "not JSON");
        expect_schema_rejected("[\"schema\"]", "not a JSON object");
        expect_schema_rejected("", "not JSON");
        expect_schema_rejected_len(NULL, 0, "not JSON");
        /* len is honoured: the same good body, cut short */
        expect_schema_rejected_len(SCHEMA_BODY, strlen(SCHEMA_BODY) - 2, "not JSON");
        /* a NUL inside the schema string would cut the C string: jansson refuses \u0000 */
        expect_schema_rejected("{\"schema\":\"a\\u0000b\"}", "not JSON");
}

static void expect_id(const char *body, bl_err_t expected_err, int32_t expected_id) {
        char errstr[256] = "";
        int32_t id = -5;
        CHECK_INT(bl_registry_parse_id_response(body, strlen(body), &id, errstr, sizeof(errstr)), expected_err);
        CHECK_INT(id, expected_err == BL_OK ? expected_id : -5);
        if (expected_err != BL_OK)
                CHECK(errstr[0] != '\0');
}

static void test_parse_id(void) {
        expect_id("{\"id\":42}", BL_OK, 42);
        expect_id("{\"id\":2147483647}", BL_OK, INT32_MAX);
        expect_id("{\"id\":2147483648}", BL_ERR_INVALID_ARG, 0);
        expect_id("{\"id\":99999999999999999999999999}", BL_ERR_INVALID_ARG, 0);
        expect_id("{\"id\":0}", BL_ERR_INVALID_ARG, 0);
        expect_id("{\"id\":-1}", BL_ERR_INVALID_ARG, 0);
        expect_id("{\"id\":4.0}", BL_ERR_INVALID_ARG, 0);
        expect_id("{\"id\":1e30}", BL_ERR_INVALID_ARG, 0);
        expect_id("{\"id\":\"42\"}", BL_ERR_INVALID_ARG, 0);
        expect_id("{\"version\":1}", BL_ERR_INVALID_ARG, 0);
        expect_id("42", BL_ERR_INVALID_ARG, 0);
        expect_id("not json", BL_ERR_INVALID_ARG, 0);
}

static bool parse_error_text(const char *body, char *errstr, size_t errstr_size) {
        return bl_registry_parse_error_response(body, strlen(body), errstr, errstr_size);
}

static void test_parse_error(void) {
        static const char confluent[] = "{\"error_code\":40403,\"message\":\"Schema not found\"}";
        static const char message_only[] = "{\"message\":\"bad gateway\"}";
        char errstr[256] = "";
        CHECK(parse_error_text(confluent, errstr, sizeof(errstr)));
        CHECK_STR(errstr, "40403: Schema not found");
        CHECK(parse_error_text(message_only, errstr, sizeof(errstr)));
        CHECK_STR(errstr, "bad gateway");
        strcpy(errstr, "untouched");
        CHECK(!parse_error_text("<html>502</html>", errstr, sizeof(errstr)));
        CHECK(!parse_error_text("[1]", errstr, sizeof(errstr)));
        CHECK(!parse_error_text("{\"error_code\":\"x\",\"message\":5}", errstr, sizeof(errstr)));
        CHECK(!bl_registry_parse_error_response(NULL, 0, errstr, sizeof(errstr)));
        CHECK_STR(errstr, "untouched");
        /* a tiny buffer is cut, never overrun */
        char tiny[8];
        CHECK(parse_error_text(confluent, tiny, sizeof(tiny)));
        CHECK_STR(tiny, "40403: ");
}

/* ---- options ------------------------------------------------------------- */

static void expect_options_rejected(const bl_registry_options_t *options, const char *reason) {
        char errstr[512] = "";
        bl_registry_t *registry = bl_registry_new(options, errstr, sizeof(errstr));
        CHECK(registry == NULL);
        CHECK_CONTAINS(errstr, reason);
        bl_registry_destroy(registry);
}

static void test_options_rejected(void) {
        bl_registry_options_t options = options_for(NULL);
        expect_options_rejected(NULL, "no registry options");
        expect_options_rejected(&options, "registry.url is empty");
        options.url = "";
        expect_options_rejected(&options, "registry.url is empty");
        options.url = "ftp://registry:8081";
        expect_options_rejected(&options, "must start with http:// or https://");
        options.url = "registry:8081";
        expect_options_rejected(&options, "must start with http:// or https://");
        options.url = "http://registry:8081/x?y=1";
        expect_options_rejected(&options, "must not have a query");
        options.url = "http://registry:8081";
        options.timeout_ms = 0;
        expect_options_rejected(&options, "registry.timeout_ms must be positive");
        options.timeout_ms = 1000;
        options.password = PASSWORD;
        expect_options_rejected(&options, "registry.password is set without registry.username");
        options.password = NULL;
        options.key_location = "/etc/hostname";
        expect_options_rejected(&options, "registry.key_location is set without registry.certificate_location");
        options.key_location = NULL;
        options.ca_location = "/nonexistent/ca.pem";
        expect_options_rejected(&options, "registry.ca_location: cannot read /nonexistent/ca.pem");
}

static void test_credentials_in_url_rejected_without_echo(void) {
        bl_registry_options_t options = options_for("https://probe:" PASSWORD "@registry:8081");
        char errstr[512] = "";
        CHECK(bl_registry_new(&options, errstr, sizeof(errstr)) == NULL);
        CHECK_CONTAINS(errstr, "registry.username and registry.password");
        CHECK(strstr(errstr, PASSWORD) == NULL);
        options.url = "http://probe@registry:8081";
        CHECK(bl_registry_new(&options, errstr, sizeof(errstr)) == NULL);
        CHECK_CONTAINS(errstr, "must not carry credentials");
}

static void test_options_accepted(void) {
        bl_registry_options_t options = options_for("HTTPS://registry.example.invalid:8081/apis/ccompat/v7/");
        char errstr[512] = "";
        options.username = USERNAME;
        options.password = PASSWORD;
        options.certificate_location = "/etc/hostname"; /* readable; not parsed until a TLS handshake */
        bl_registry_t *registry = bl_registry_new(&options, errstr, sizeof(errstr));
        CHECK(registry != NULL);
        bl_registry_destroy(registry);
        bl_registry_destroy(NULL);
}

static void test_bad_arguments(void) {
        bl_registry_t *registry = canned_registry();
        char errstr[512] = "", *schema = NULL;
        int32_t id = 0;
        bool compatible = true;
        if (!registry)
                return;
        CHECK_INT(bl_registry_get_schema(registry, 0, &schema, errstr, sizeof(errstr)), BL_ERR_NOT_FOUND);
        CHECK_INT(bl_registry_get_schema(registry, -3, &schema, errstr, sizeof(errstr)), BL_ERR_NOT_FOUND);
        CHECK_CONTAINS(errstr, "schema id -3: registry ids are positive");
        CHECK_INT(bl_registry_register(registry, "", SCHEMA_STRING, &id, errstr, sizeof(errstr)), BL_ERR_INVALID_ARG);
        CHECK_INT(bl_registry_register(registry, "..", SCHEMA_STRING, &id, errstr, sizeof(errstr)), BL_ERR_INVALID_ARG);
        CHECK_INT(bl_registry_register(registry, "orders-value", "", &id, errstr, sizeof(errstr)), BL_ERR_INVALID_ARG);
        CHECK_INT(bl_registry_register(registry, "orders-value", "\"\xff\"", &id, errstr, sizeof(errstr)),
                  BL_ERR_INVALID_ARG);
        CHECK_CONTAINS(errstr, "not valid UTF-8");
        CHECK_INT(bl_registry_check_compatibility(registry, "orders-value", NULL, &compatible, errstr, sizeof(errstr)),
                  BL_ERR_INVALID_ARG);
        CHECK(!compatible);
        CHECK_INT(bl_registry_set_compatibility(registry, "orders-value", "BACKWARDS", errstr, sizeof(errstr)),
                  BL_ERR_INVALID_ARG);
        CHECK_CONTAINS(errstr, "\"BACKWARDS\" is not one of");
        CHECK_STR(last_request().method, ""); /* none of these reached the server */
        bl_registry_destroy(registry);
}

/* ---- calls against the canned server ------------------------------------- */

static void test_get_schema(void) {
        bl_registry_t *registry = canned_registry();
        char errstr[512] = "", *schema = NULL;
        if (!registry)
                return;
        CHECK_INT(bl_registry_get_schema(registry, 1, &schema, errstr, sizeof(errstr)), BL_OK);
        CHECK_STR(schema, SCHEMA_STRING);
        free(schema);
        seen_request_t seen = last_request();
        CHECK_STR(seen.method, "GET");
        CHECK_STR(seen.path, "/r/schemas/ids/1"); /* the base's trailing '/' is not doubled */
        CHECK_CONTAINS(seen.accept, "application/vnd.schemaregistry.v1+json");
        CHECK_CONTAINS(seen.accept, "application/json");
        CHECK_STR(seen.authorization, "");
        bl_registry_destroy(registry);
}

static void test_base_url_without_path(void) {
        bl_registry_options_t options = options_for(server.url);
        char errstr[512] = "", *schema = NULL;
        bl_registry_t *registry = bl_registry_new(&options, errstr, sizeof(errstr));
        CHECK(registry != NULL);
        if (!registry)
                return;
        CHECK_INT(bl_registry_get_schema(registry, 1, &schema, errstr, sizeof(errstr)), BL_OK);
        CHECK_STR(last_request().path, "/schemas/ids/1");
        free(schema);
        bl_registry_destroy(registry);
}

static void test_not_found(void) {
        bl_registry_t *registry = canned_registry();
        char errstr[512] = "";
        int32_t id = 0;
        int version = 0;
        if (!registry)
                return;
        expect_get_schema(registry, 2, BL_ERR_NOT_FOUND, "GET /schemas/ids/2: HTTP 404", "40403: Schema 2 not found");
        expect_get_schema(registry, 11, BL_ERR_NOT_FOUND, "HTTP 404", NULL);
        CHECK_INT(bl_registry_latest(registry, "missing-value", &id, &version, NULL, errstr, sizeof(errstr)),
                  BL_ERR_NOT_FOUND);
        CHECK_CONTAINS(errstr, "GET /subjects/missing-value/versions/latest: HTTP 404: 40401");
        bl_registry_destroy(registry);
}

static void test_transient_statuses(void) {
        bl_registry_t *registry = canned_registry();
        if (!registry)
                return;
        expect_get_schema(registry, 3, BL_ERR_UNAVAILABLE, "HTTP 500", "50001: Error in the backend data store");
        expect_get_schema(registry, 6, BL_ERR_UNAVAILABLE, "HTTP 429", "42901");
        expect_get_schema(registry, 7, BL_ERR_UNAVAILABLE, "HTTP 408", NULL);
        expect_get_schema(registry, 12, BL_ERR_UNAVAILABLE, "HTTP 503", NULL);
        expect_get_schema(registry, 15, BL_ERR_UNAVAILABLE, "HTTP 301 (redirects are not followed)", NULL);
        /* a 2xx that is not a registry's answer: the peer's fault, not the record's */
        expect_get_schema(registry, 8, BL_ERR_UNAVAILABLE, "HTTP 200: unexpected answer: not JSON", NULL);
        bl_registry_destroy(registry);
}

static void test_refused_statuses(void) {
        bl_registry_t *registry = canned_registry();
        char errstr[512] = "";
        int32_t id = 0;
        if (!registry)
                return;
        expect_get_schema(registry, 9, BL_ERR_REFUSED, "HTTP 401", "40101: Unauthorized");
        expect_get_schema(registry, 10, BL_ERR_REFUSED, "HTTP 403", "40301");
        CHECK_INT(bl_registry_register(registry, "bad-value", SCHEMA_STRING, &id, errstr, sizeof(errstr)),
                  BL_ERR_REFUSED);
        CHECK_CONTAINS(errstr, "POST /subjects/bad-value/versions: HTTP 422: 42201: Invalid schema");
        CHECK_INT(bl_registry_register(registry, "incompatible-value", SCHEMA_STRING, &id, errstr, sizeof(errstr)),
                  BL_ERR_REFUSED);
        CHECK_CONTAINS(errstr, "HTTP 409: 409: Schema being registered is incompatible");
        CHECK_INT(id, 0);
        bl_registry_destroy(registry);
}

static void test_timeout_is_transient(void) {
        char url[128], errstr[512] = "", *schema = NULL;
        struct timespec start;
        snprintf(url, sizeof(url), "%s/r", server.url);
        bl_registry_options_t options = options_for(url);
        options.timeout_ms = TIMEOUT_MS;
        bl_registry_t *registry = bl_registry_new(&options, errstr, sizeof(errstr));
        CHECK(registry != NULL);
        if (!registry)
                return;
        clock_gettime(CLOCK_MONOTONIC, &start);
        CHECK_INT(bl_registry_get_schema(registry, 4, &schema, errstr, sizeof(errstr)), BL_ERR_UNAVAILABLE);
        CHECK(elapsed_ms(&start) < SLOW_MS);
        CHECK_CONTAINS(errstr, "GET /schemas/ids/4: no answer within 100 ms");
        CHECK(schema == NULL);
        /* the same handle recovers on the next call */
        CHECK_INT(bl_registry_get_schema(registry, 1, &schema, errstr, sizeof(errstr)), BL_OK);
        free(schema);
        bl_registry_destroy(registry);
}

static void test_unreachable_is_transient(void) {
        char url[128], errstr[512] = "", *schema = NULL;
        snprintf(url, sizeof(url), "http://127.0.0.1:%d", server.closed_port);
        bl_registry_options_t options = options_for(url);
        bl_registry_t *registry = bl_registry_new(&options, errstr, sizeof(errstr));
        CHECK(registry != NULL);
        if (!registry)
                return;
        CHECK_INT(bl_registry_get_schema(registry, 1, &schema, errstr, sizeof(errstr)), BL_ERR_UNAVAILABLE);
        CHECK_CONTAINS(errstr, "GET /schemas/ids/1: cannot reach the registry");
        bl_registry_destroy(registry);

        options = options_for("http://registry.invalid:8081"); /* .invalid never resolves (RFC 2606) */
        options.timeout_ms = 500;
        registry = bl_registry_new(&options, errstr, sizeof(errstr));
        CHECK(registry != NULL);
        if (!registry)
                return;
        CHECK_INT(bl_registry_get_schema(registry, 1, &schema, errstr, sizeof(errstr)), BL_ERR_UNAVAILABLE);
        bl_registry_destroy(registry);
}

static bl_registry_t *registry_with_password(const char *password) {
        char url[128], errstr[512] = "";
        snprintf(url, sizeof(url), "%s/r", server.url);
        bl_registry_options_t options = options_for(url);
        options.username = USERNAME;
        options.password = password;
        bl_registry_t *registry = bl_registry_new(&options, errstr, sizeof(errstr));
        CHECK(registry != NULL);
        return registry;
}

static void test_basic_auth(void) {
        bl_registry_t *registry = registry_with_password(PASSWORD);
        char errstr[512] = "", *schema = NULL;
        if (!registry)
                return;
        CHECK_INT(bl_registry_get_schema(registry, 100, &schema, errstr, sizeof(errstr)), BL_OK);
        CHECK_STR(last_request().authorization, AUTHORIZATION);
        free(schema);
        /* errors never carry the password, whatever their class */
        expect_get_schema(registry, 3, BL_ERR_UNAVAILABLE, "HTTP 500", NULL);
        CHECK_INT(bl_registry_get_schema(registry, 3, &schema, errstr, sizeof(errstr)), BL_ERR_UNAVAILABLE);
        CHECK(strstr(errstr, PASSWORD) == NULL && strstr(errstr, "cHJvYmU6") == NULL);
        bl_registry_destroy(registry);

        registry = registry_with_password("wrong-password");
        if (!registry)
                return;
        CHECK_INT(bl_registry_get_schema(registry, 100, &schema, errstr, sizeof(errstr)), BL_ERR_REFUSED);
        CHECK_CONTAINS(errstr, "GET /schemas/ids/100: HTTP 401: 40101: Unauthorized");
        CHECK(strstr(errstr, "wrong-password") == NULL && strstr(errstr, "Basic") == NULL);
        bl_registry_destroy(registry);
}

static void test_response_bound(void) {
        bl_registry_t *registry = canned_registry();
        if (!registry)
                return;
        /* announced by Content-Length, and streamed without one: both stop at 4 MiB */
        expect_get_schema(registry, 5, BL_ERR_REFUSED, "HTTP 200: response larger than 4194304 bytes", NULL);
        expect_get_schema(registry, 14, BL_ERR_REFUSED, "HTTP 200: response larger than 4194304 bytes", NULL);
        /* a huge error page of a transient status stays transient */
        expect_get_schema(registry, 13, BL_ERR_UNAVAILABLE, "HTTP 502: response larger than", NULL);
        expect_get_schema(registry, 1, BL_OK, NULL, NULL);
        bl_registry_destroy(registry);
}

static void test_register(void) {
        bl_registry_t *registry = canned_registry();
        char errstr[512] = "";
        int32_t id = 0;
        if (!registry)
                return;
        CHECK_INT(bl_registry_register(registry, "orders-value", SCHEMA_STRING, &id, errstr, sizeof(errstr)), BL_OK);
        CHECK_INT(id, 42);
        seen_request_t seen = last_request();
        CHECK_STR(seen.method, "POST");
        CHECK_STR(seen.path, "/r/subjects/orders-value/versions");
        CHECK_STR(seen.content_type, "application/vnd.schemaregistry.v1+json");
        CHECK(same_json(seen.body, SCHEMA_BODY));
        /* the subject is one escaped path segment */
        CHECK_INT(bl_registry_register(registry, "orders/eu value", SCHEMA_STRING, &id, errstr, sizeof(errstr)), BL_OK);
        CHECK_INT(id, 43);
        CHECK_STR(last_request().path, "/r/subjects/orders%2Feu%20value/versions");
        /* an id the wire format cannot carry is not a registry's answer */
        CHECK_INT(bl_registry_register(registry, "big-id-value", SCHEMA_STRING, &id, errstr, sizeof(errstr)),
                  BL_ERR_UNAVAILABLE);
        CHECK_CONTAINS(errstr, "unexpected answer: \"id\" must be an integer from 1 to 2147483647");
        CHECK_INT(id, 43);
        bl_registry_destroy(registry);
}

static void test_latest(void) {
        bl_registry_t *registry = canned_registry();
        char errstr[512] = "", *schema = NULL;
        int32_t id = 0;
        int version = 0;
        if (!registry)
                return;
        CHECK_INT(bl_registry_latest(registry, "orders-value", &id, &version, &schema, errstr, sizeof(errstr)), BL_OK);
        CHECK_INT(id, 42);
        CHECK_INT(version, 3);
        CHECK_STR(schema, SCHEMA_STRING);
        free(schema);
        CHECK_INT(bl_registry_latest(registry, "orders-value", NULL, &version, NULL, errstr, sizeof(errstr)), BL_OK);
        CHECK_INT(bl_registry_latest(registry, "weird-value", &id, &version, &schema, errstr, sizeof(errstr)),
                  BL_ERR_UNAVAILABLE);
        CHECK_CONTAINS(errstr, "\"version\" must be an integer");
        CHECK(schema == NULL);
        bl_registry_destroy(registry);
}

static void expect_compatibility(bl_registry_t *registry, const char *subject, bl_err_t expected_err,
                                 bool expected_compatible, const char *reason) {
        char errstr[512] = "";
        bool compatible = !expected_compatible;
        CHECK_INT(bl_registry_check_compatibility(registry, subject, SCHEMA_STRING, &compatible, errstr,
                                                  sizeof(errstr)),
                  expected_err);
        CHECK(compatible == expected_compatible);
        if (reason)
                CHECK_CONTAINS(errstr, reason);
        else
                CHECK_STR(errstr, "");
}

static void test_check_compatibility(void) {
        bl_registry_t *registry = canned_registry();
        if (!registry)
                return;
        expect_compatibility(registry, "orders-value", BL_OK, true, NULL);
        seen_request_t seen = last_request();
        CHECK_STR(seen.path, "/r/compatibility/subjects/orders-value/versions/latest");
        CHECK_STR(seen.verbose, "true");
        CHECK(same_json(seen.body, SCHEMA_BODY));
        expect_compatibility(registry, "old-value", BL_OK, false,
                             "reader field 'tier' has no default; type changed at /f");
        expect_compatibility(registry, "silent-value", BL_OK, false, "no reason given");
        expect_compatibility(registry, "weird-value", BL_ERR_UNAVAILABLE, false, "no \"is_compatible\" boolean");
        bl_registry_destroy(registry);
}

static void test_set_compatibility(void) {
        bl_registry_t *registry = canned_registry();
        char errstr[512] = "";
        if (!registry)
                return;
        CHECK_INT(bl_registry_set_compatibility(registry, "orders-value", "BACKWARD", errstr, sizeof(errstr)), BL_OK);
        seen_request_t seen = last_request();
        CHECK_STR(seen.method, "PUT");
        CHECK_STR(seen.path, "/r/config/orders-value");
        CHECK(same_json(seen.body, "{\"compatibility\":\"BACKWARD\"}"));
        /* a GET after a PUT is a GET again */
        expect_get_schema(registry, 1, BL_OK, NULL, NULL);
        CHECK_STR(last_request().method, "GET");
        bl_registry_destroy(registry);
}

static void test_connection_is_reused(void) {
        bl_registry_t *registry = canned_registry();
        int32_t id = 0;
        char errstr[512] = "";
        if (!registry)
                return;
        expect_get_schema(registry, 1, BL_OK, NULL, NULL);
        pthread_mutex_lock(&server.lock);
        int before = server.connections;
        pthread_mutex_unlock(&server.lock);
        expect_get_schema(registry, 1, BL_OK, NULL, NULL);
        CHECK_INT(bl_registry_register(registry, "orders-value", SCHEMA_STRING, &id, errstr, sizeof(errstr)), BL_OK);
        expect_get_schema(registry, 2, BL_ERR_NOT_FOUND, NULL, NULL);
        pthread_mutex_lock(&server.lock);
        CHECK_INT(server.connections, before);
        pthread_mutex_unlock(&server.lock);
        bl_registry_destroy(registry);
}

/* ---- the fetcher ------------------------------------------------------------- */

#define FETCH_TIMEOUT_MS 10000 /* registry.timeout_ms of the fetchers below: far longer than any test waits */
/* An ask never waits for the network: the hanging server holds its answer 200 ms and more, so 50 ms tells a
 * wait from none and leaves room for valgrind beside other tests on a loaded machine (5 ms failed there). */
#define ASK_BOUND_MS 50

static bl_fetcher_t *canned_fetcher(int timeout_ms) {
        char url[128], errstr[512] = "";
        snprintf(url, sizeof(url), "%s/r", server.url);
        bl_registry_options_t options = options_for(url);
        options.timeout_ms = timeout_ms;
        bl_registry_t *registry = bl_registry_new(&options, errstr, sizeof(errstr));
        bl_fetcher_t *fetcher = registry ? bl_fetcher_new(registry, errstr, sizeof(errstr)) : NULL;
        CHECK(fetcher != NULL);
        if (!fetcher)
                fprintf(stderr, "canned fetcher: %s\n", errstr);
        return fetcher;
}

/* Asks for @p id, checks the answer class and that the ask took under ASK_BOUND_MS; returns the text or NULL. */
static char *expect_ask(bl_fetcher_t *fetcher, int32_t id, bl_err_t expected_err, const char *expected) {
        char errstr[512] = "", *schema = NULL;
        struct timespec start;
        clock_gettime(CLOCK_MONOTONIC, &start);
        bl_err_t err = bl_fetcher_get(fetcher, id, &schema, errstr, sizeof(errstr));
        long long took_ms = elapsed_ms(&start);
        CHECK_INT(err, expected_err);
        CHECK(took_ms < ASK_BOUND_MS);
        if (err != expected_err || took_ms >= ASK_BOUND_MS)
                fprintf(stderr, "  ask %d: %s in %lld ms: %s\n", (int)id, bl_err_name(err), took_ms, errstr);
        if (expected)
                CHECK_CONTAINS(errstr, expected);
        CHECK(err == BL_OK || schema == NULL);
        return schema;
}

static void test_fetcher_asks_without_waiting(void) {
        bl_fetcher_t *fetcher = canned_fetcher(FETCH_TIMEOUT_MS);
        if (!fetcher)
                return;
        set_hanging(true);
        expect_ask(fetcher, HANGING_ID, BL_ERR_PENDING, "schema 16 pending");
        CHECK(!bl_fetcher_wait(fetcher, HANGING_ID, 200)); /* the server holds its answer */
        int requests = requests_so_far();
        for (int i = 0; i < 100; i++) /* a partition looking again and again: one request in all */
                expect_ask(fetcher, HANGING_ID, BL_ERR_PENDING, "schema 16 pending");
        CHECK_INT(requests_so_far(), requests);
        set_hanging(false);
        CHECK(bl_fetcher_wait(fetcher, HANGING_ID, 2000));
        free(expect_ask(fetcher, HANGING_ID, BL_OK, NULL));
        bl_fetcher_destroy(fetcher);
}

static void test_fetcher_answer_lands_in_the_cache(void) {
        char errstr[512] = "";
        bl_fetcher_t *fetcher = canned_fetcher(FETCH_TIMEOUT_MS);
        bl_registry_t *registry = canned_registry(); /* the cache's own: never used once the fetcher is set */
        bl_schemas_t *schemas = registry ? bl_schemas_new(NULL, registry, errstr, sizeof(errstr)) : NULL;
        bl_schema_t *schema = NULL;
        CHECK(schemas != NULL);
        if (!fetcher || !schemas)
                goto done;
        bl_schemas_use_fetcher(schemas, fetcher);
        CHECK_INT(bl_schemas_get(schemas, 1, &schema, errstr, sizeof(errstr)), BL_ERR_PENDING);
        CHECK_CONTAINS(errstr, "schema 1 pending");
        CHECK(bl_schemas_wait(schemas, 1, 2000));
        CHECK_INT(bl_schemas_get(schemas, 1, &schema, errstr, sizeof(errstr)), BL_OK);
        CHECK(schema != NULL && schema->id == 1 && avro_typeof(schema->avro) == AVRO_STRING);
        int requests = requests_so_far();
        bl_schema_t *again = NULL;
        CHECK_INT(bl_schemas_get(schemas, 1, &again, errstr, sizeof(errstr)), BL_OK);
        CHECK(again == schema); /* from the cache: no request */
        CHECK_INT(requests_so_far(), requests);
        CHECK_INT(bl_fetcher_stats(fetcher).fetched, 1);
done:
        bl_schemas_destroy(schemas);
        bl_registry_destroy(registry);
        bl_fetcher_destroy(fetcher);
}

static void test_fetcher_not_found_is_permanent(void) {
        char errstr[512] = "";
        bl_fetcher_t *fetcher = canned_fetcher(FETCH_TIMEOUT_MS);
        bl_registry_t *registry = canned_registry();
        bl_schemas_t *schemas = registry ? bl_schemas_new(NULL, registry, errstr, sizeof(errstr)) : NULL;
        bl_schema_t *schema = NULL;
        if (!fetcher || !schemas)
                goto done;
        bl_schemas_use_fetcher(schemas, fetcher);
        expect_ask(fetcher, 2, BL_ERR_PENDING, NULL);
        CHECK(bl_fetcher_wait(fetcher, 2, 2000));
        expect_ask(fetcher, 2, BL_ERR_NOT_FOUND, "40403: Schema 2 not found");
        int requests = requests_so_far();
        /* a burst of records with the same unknown id: the answer is kept, not asked again */
        CHECK_INT(bl_schemas_get(schemas, 2, &schema, errstr, sizeof(errstr)), BL_ERR_NOT_FOUND);
        CHECK_CONTAINS(errstr, "HTTP 404");
        expect_ask(fetcher, 2, BL_ERR_NOT_FOUND, NULL);
        CHECK_INT(requests_so_far(), requests);
        CHECK_INT(bl_fetcher_stats(fetcher).not_found, 1);
done:
        bl_schemas_destroy(schemas);
        bl_registry_destroy(registry);
        bl_fetcher_destroy(fetcher);
}

static void test_fetcher_failure_is_said_once(void) {
        bl_fetcher_t *fetcher = canned_fetcher(FETCH_TIMEOUT_MS);
        if (!fetcher)
                return;
        expect_ask(fetcher, 3, BL_ERR_PENDING, NULL);
        CHECK(bl_fetcher_wait(fetcher, 3, 2000));
        expect_ask(fetcher, 3, BL_ERR_UNAVAILABLE, "HTTP 500");
        int requests = requests_so_far();
        expect_ask(fetcher, 3, BL_ERR_PENDING, NULL); /* a new request */
        CHECK(bl_fetcher_wait(fetcher, 3, 2000));
        CHECK_INT(requests_so_far(), requests + 1);
        expect_ask(fetcher, 3, BL_ERR_UNAVAILABLE, "HTTP 500");
        CHECK_INT(bl_fetcher_stats(fetcher).failed, 2);
        bl_fetcher_destroy(fetcher);
}

static void test_fetcher_timeout_is_a_failure(void) {
        bl_fetcher_t *fetcher = canned_fetcher(TIMEOUT_MS);
        if (!fetcher)
                return;
        set_hanging(true);
        expect_ask(fetcher, HANGING_ID, BL_ERR_PENDING, NULL);
        CHECK(bl_fetcher_wait(fetcher, HANGING_ID, 2000));
        expect_ask(fetcher, HANGING_ID, BL_ERR_UNAVAILABLE, "no answer within 100 ms");
        set_hanging(false);
        bl_fetcher_destroy(fetcher);
}

/* A flood of records with ever new unknown ids: kept answers make room, an ask is never refused. */
static void test_fetcher_many_unknown_ids(void) {
        bl_fetcher_t *fetcher = canned_fetcher(FETCH_TIMEOUT_MS);
        int refused = 0;
        if (!fetcher)
                return;
        for (int32_t id = 1000; id < 1400; id++) {
                char errstr[512] = "", *schema = NULL;
                refused += bl_fetcher_get(fetcher, id, &schema, errstr, sizeof(errstr)) != BL_ERR_PENDING;
                CHECK(bl_fetcher_wait(fetcher, id, 2000));
                CHECK_INT(bl_fetcher_get(fetcher, id, &schema, errstr, sizeof(errstr)), BL_ERR_NOT_FOUND);
        }
        CHECK_INT(refused, 0);
        CHECK_INT(bl_fetcher_stats(fetcher).not_found, 400);
        bl_fetcher_destroy(fetcher);
}

static void test_fetcher_destroy_while_the_registry_hangs(void) {
        struct timespec start;
        bl_fetcher_t *fetcher = canned_fetcher(FETCH_TIMEOUT_MS);
        if (!fetcher)
                return;
        set_hanging(true);
        int requests = requests_so_far();
        expect_ask(fetcher, HANGING_ID, BL_ERR_PENDING, NULL);
        for (int i = 0; i < 200 && requests_so_far() == requests; i++)
                usleep(10 * 1000); /* until the request hangs in the server */
        CHECK_INT(requests_so_far(), requests + 1);
        clock_gettime(CLOCK_MONOTONIC, &start);
        bl_fetcher_destroy(fetcher);
        long long took_ms = elapsed_ms(&start);
        fprintf(stderr, "  destroy while a request hangs: %lld ms (registry.timeout_ms %d)\n", took_ms,
                FETCH_TIMEOUT_MS);
        CHECK(took_ms < 1500);
        set_hanging(false);
}

int main(void) {
        RUN(test_parse_schema_good);
        RUN(test_parse_schema_bad);
        RUN(test_parse_id);
        RUN(test_parse_error);
        RUN(test_options_rejected);
        RUN(test_credentials_in_url_rejected_without_echo);
        RUN(test_options_accepted);
        server.closed_socket = -1;
        if (!start_server()) {
                fprintf(stderr, "cannot start the canned registry on 127.0.0.1\n");
                stop_server();
                return 1;
        }
        RUN(test_bad_arguments);
        RUN(test_get_schema);
        RUN(test_base_url_without_path);
        RUN(test_not_found);
        RUN(test_transient_statuses);
        RUN(test_refused_statuses);
        RUN(test_timeout_is_transient);
        RUN(test_unreachable_is_transient);
        RUN(test_basic_auth);
        RUN(test_response_bound);
        RUN(test_register);
        RUN(test_latest);
        RUN(test_check_compatibility);
        RUN(test_set_compatibility);
        RUN(test_connection_is_reused);
        RUN(test_fetcher_asks_without_waiting);
        RUN(test_fetcher_answer_lands_in_the_cache);
        RUN(test_fetcher_not_found_is_permanent);
        RUN(test_fetcher_failure_is_said_once);
        RUN(test_fetcher_timeout_is_a_failure);
        RUN(test_fetcher_many_unknown_ids);
        RUN(test_fetcher_destroy_while_the_registry_hangs);
        stop_server();
        return check_exit_status();
}
