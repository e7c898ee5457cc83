/*
 * registry.c: the Schema Registry client behind registry.h, on one libcurl
 * easy handle per bl_registry_t.
 *
 * bl_registry_new checks the options, then sets once on the easy handle all
 * that stays the same between requests (auth, TLS, timeouts, protocols,
 * headers, the response bound); each call only sets URL, method and body, so
 * the connection is kept alive from one call to the next. One function,
 * classify(), turns what happened into the caller's bl_err_t:
 *
 *   no HTTP answer (DNS, connect, TLS, timeout, reset)    BL_ERR_UNAVAILABLE
 *   HTTP 2xx                                              BL_OK
 *   HTTP 404                                              BL_ERR_NOT_FOUND
 *   HTTP 408, 429, 5xx                                    BL_ERR_UNAVAILABLE
 *   any other 4xx                                         BL_ERR_REFUSED
 *   anything else (3xx: redirects are never followed)     BL_ERR_UNAVAILABLE
 *   a body over MAX_RESPONSE_BYTES                        BL_ERR_REFUSED (UNAVAILABLE
 *                                                         if the status itself was)
 *   a 2xx body that is not what the API promises          BL_ERR_UNAVAILABLE: the peer
 *     is not behaving like a registry (a proxy, a wrong URL), which is no fault
 *     of the record, so the caller waits rather than dead-letters.
 *
 * Invariants: a response is held in memory only up to MAX_RESPONSE_BYTES;
 * errstr names the method and the path below the base URL, never the base URL,
 * the credentials or an Authorization header. A base URL carrying
 * user:password@ is refused (credentials belong in username/password, which
 * libcurl keeps and never prints); the password is not kept in this struct.
 *
 * Thread: a handle is used by one thread at a time. curl_global_init runs
 * once under pthread_once, so handles may be created from any thread. The
 * one exception is the cancel flag: another thread sets it, and libcurl's
 * progress callback, called several times a second even while no byte
 * moves, ends the transfer.
 */
#include "contract/registry.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "base/log.h"
#include "ops/config.h"
#include "ops/http_client.h"

#define MAX_RESPONSE_BYTES ((size_t)4 << 20)
#define MAX_SUBJECT_BYTES 1024
#define MAX_PATH_BYTES (3 * MAX_SUBJECT_BYTES + 128) /* every subject byte may escape to %XX */
#define FIRST_BODY_CAPACITY 4096
#define DETAIL_MAX 512

struct bl_registry_s {
        CURL *curl;
        struct curl_slist *headers;
        char *base_url; /* as configured, without trailing '/' */
        int timeout_ms;
        const atomic_bool *cancel; /* NULL: requests are never cancelled */
        char curl_error[CURL_ERROR_SIZE];
};

typedef enum { HTTP_GET, HTTP_POST, HTTP_PUT } http_method_t;

static const char *const method_names[] = {"GET", "POST", "PUT"};

/* One call: what goes out, and what came back. */
typedef struct exchange_s {
        http_method_t method;
        char path[MAX_PATH_BYTES]; /* below the base URL, escaped: what errstr shows */
        const char *request_body;  /* JSON; NULL for GET */
        long status;               /* HTTP status, 0 when no answer came */
        char *body;                /* the response, NUL-terminated, at most MAX_RESPONSE_BYTES */
        size_t body_length;
        size_t body_capacity;
        bool body_too_large;
        bool body_out_of_memory;
} exchange_t;

static const char *const compatibility_levels[] = {
        "NONE", "BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE", "FULL", "FULL_TRANSITIVE",
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result = CURLE_FAILED_INIT;

static void init_curl_once(void) {
        curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static bool is_set(const char *text) {
        return text && *text;
}

/* ---- options ------------------------------------------------------------ */

static bool url_has_part(CURLU *url, CURLUPart part) {
        char *value = NULL;
        bool present = curl_url_get(url, part, &value, 0) == CURLUE_OK && value;
        curl_free(value);
        return present;
}

/* The URL is never echoed: it may hold a password. */
static bl_err_t check_url(const char *url, char *errstr, size_t errstr_size) {
        CURLU *parsed;
        CURLUcode parse_result;
        bl_err_t err = BL_OK;
        if (!is_set(url))
                return bl_err_set(errstr, errstr_size, BL_ERR_CONFIG, "registry.url is empty");
        if (strncasecmp(url, "http://", 7) && strncasecmp(url, "https://", 8))
                return bl_err_set(errstr, errstr_size, BL_ERR_CONFIG,
                                  "registry.url must start with http:// or https://");
        parsed = curl_url();
        if (!parsed)
                return bl_err_set(errstr, errstr_size, BL_ERR_NOMEM, "out of memory");
        parse_result = curl_url_set(parsed, CURLUPART_URL, url, 0);
        if (parse_result != CURLUE_OK)
                err = bl_err_set(errstr, errstr_size, BL_ERR_CONFIG, "registry.url is not a valid URL: %s",
                                 curl_url_strerror(parse_result));
        else if (url_has_part(parsed, CURLUPART_USER) || url_has_part(parsed, CURLUPART_PASSWORD))
                err = bl_err_set(errstr, errstr_size, BL_ERR_CONFIG,
                                 "registry.url must not carry credentials (user:password@): "
                                 "set registry.username and registry.password instead");
        else if (url_has_part(parsed, CURLUPART_QUERY) || url_has_part(parsed, CURLUPART_FRAGMENT))
                err = bl_err_set(errstr, errstr_size, BL_ERR_CONFIG,
                                 "registry.url must not have a query (?...) or a fragment (#...)");
        curl_url_cleanup(parsed);
        return err;
}

static bl_err_t check_readable(const char *key, const char *path, char *errstr, size_t errstr_size) {
        if (is_set(path) && access(path, R_OK) != 0)
                return bl_err_set(errstr, errstr_size, BL_ERR_CONFIG, "%s: cannot read %s: %s", key, path,
                                  strerror(errno));
        return BL_OK;
}

static bl_err_t check_options(const bl_registry_options_t *options, char *errstr, size_t errstr_size) {
        bl_err_t err = check_url(options->url, errstr, errstr_size);
        if (err)
                return err;
        if (options->timeout_ms <= 0)
                return bl_err_set(errstr, errstr_size, BL_ERR_CONFIG, "registry.timeout_ms must be positive, not %d",
                                  options->timeout_ms);
        if (is_set(options->password) && !is_set(options->username))
                return bl_err_set(errstr, errstr_size, BL_ERR_CONFIG,
                                  "registry.password is set without registry.username");
        if (is_set(options->key_location) && !is_set(options->certificate_location))
                return bl_err_set(errstr, errstr_size, BL_ERR_CONFIG,
                                  "registry.key_location is set without registry.certificate_location");
        if ((err = check_readable("registry.ca_location", options->ca_location, errstr, errstr_size)) ||
            (err = check_readable("registry.certificate_location", options->certificate_location, errstr,
                                  errstr_size)) ||
            (err = check_readable("registry.key_location", options->key_location, errstr, errstr_size)))
                return err;
        return BL_OK;
}

static void warn_about_weak_settings(const bl_registry_options_t *options) {
        bool https = strncasecmp(options->url, "https://", 8) == 0;
        if (https && !options->verify_tls)
                bl_log_warn("registry", "registry.verify_tls is off: the registry's certificate is not checked");
        if (!https && is_set(options->username))
                bl_log_warn("registry", "basic auth over plain http: the registry password travels unencrypted");
}

/* ---- the easy handle ---------------------------------------------------- */

static size_t collect_body(char *data, size_t size, size_t count, void *opaque) {
        exchange_t *exchange = opaque;
        size_t bytes = size * count;
        if (bytes > MAX_RESPONSE_BYTES - exchange->body_length) {
                exchange->body_too_large = true;
                return 0; /* libcurl stops with CURLE_WRITE_ERROR */
        }
        if (exchange->body_length + bytes + 1 > exchange->body_capacity) {
                size_t capacity = exchange->body_capacity ? exchange->body_capacity : FIRST_BODY_CAPACITY;
                while (capacity < exchange->body_length + bytes + 1)
                        capacity *= 2;
                char *grown = realloc(exchange->body, capacity);
                if (!grown) {
                        exchange->body_out_of_memory = true;
                        return 0;
                }
                exchange->body = grown;
                exchange->body_capacity = capacity;
        }
        memcpy(exchange->body + exchange->body_length, data, bytes);
        exchange->body_length += bytes;
        exchange->body[exchange->body_length] = '\0';
        return bytes;
}

static struct curl_slist *build_headers(void) {
        static const char *const lines[] = {
                ("Accept: application/vnd.schemaregistry.v1+json, application/vnd.schemaregistry+json; q=0.9, "
                 "application/json; q=0.5"),
                "Content-Type: application/vnd.schemaregistry.v1+json",
                "Expect:", /* no 100-continue round trip before large bodies */
        };
        return bl_http_client_headers(lines, sizeof(lines) / sizeof(lines[0]));
}

static CURLcode set_transport_options(bl_registry_t *registry) {
        CURL *curl = registry->curl;
        CURLcode rc = bl_http_client_transport(curl, (long)registry->timeout_ms, (curl_off_t)MAX_RESPONSE_BYTES,
                                               registry->curl_error);
        if (!rc)
                rc = curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
        if (!rc)
                rc = curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect_body);
        if (!rc)
                rc = curl_easy_setopt(curl, CURLOPT_HTTPHEADER, registry->headers);
        return rc;
}

/* libcurl copies every string it is given, so the options need not outlive this call. */
static CURLcode set_security_options(CURL *curl, const bl_registry_options_t *options) {
        CURLcode rc = curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, options->verify_tls ? 1L : 0L);
        if (!rc)
                rc = curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, options->verify_tls ? 2L : 0L);
        if (!rc && is_set(options->ca_location))
                rc = curl_easy_setopt(curl, CURLOPT_CAINFO, options->ca_location);
        if (!rc && is_set(options->certificate_location))
                rc = curl_easy_setopt(curl, CURLOPT_SSLCERT, options->certificate_location);
        if (!rc && is_set(options->key_location))
                rc = curl_easy_setopt(curl, CURLOPT_SSLKEY, options->key_location);
        if (!rc && is_set(options->key_password))
                rc = curl_easy_setopt(curl, CURLOPT_KEYPASSWD, options->key_password);
        if (!rc && is_set(options->username))
                rc = curl_easy_setopt(curl, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        if (!rc && is_set(options->username))
                rc = curl_easy_setopt(curl, CURLOPT_USERNAME, options->username);
        if (!rc && is_set(options->username))
                rc = curl_easy_setopt(curl, CURLOPT_PASSWORD, options->password ? options->password : "");
        return rc;
}

/* ---- new / destroy ------------------------------------------------------ */

void bl_registry_library_describe(char *out, size_t out_size) {
        const curl_version_info_data *info = curl_version_info(CURLVERSION_NOW);
        snprintf(out, out_size, "%s (%s)", info->version, info->ssl_version ? info->ssl_version : "no TLS");
}

void bl_registry_destroy(bl_registry_t *registry) {
        if (!registry)
                return;
        if (registry->curl)
                curl_easy_cleanup(registry->curl);
        curl_slist_free_all(registry->headers);
        free(registry->base_url);
        free(registry);
}

/* libcurl's progress callback: non-zero ends the transfer with CURLE_ABORTED_BY_CALLBACK. */
static int check_cancel(void *opaque, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow) {
        const bl_registry_t *registry = opaque;
        (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
        return atomic_load(registry->cancel) ? 1 : 0;
}

void bl_registry_set_cancel(bl_registry_t *registry, const atomic_bool *cancel) {
        registry->cancel = cancel;
        curl_easy_setopt(registry->curl, CURLOPT_XFERINFOFUNCTION, check_cancel);
        curl_easy_setopt(registry->curl, CURLOPT_XFERINFODATA, registry);
        curl_easy_setopt(registry->curl, CURLOPT_NOPROGRESS, 0L);
}

static char *copy_without_trailing_slashes(const char *url) {
        char *copy = strdup(url);
        size_t length = copy ? strlen(copy) : 0;
        while (length > 0 && copy[length - 1] == '/')
                copy[--length] = '\0';
        return copy;
}

bl_registry_t *bl_registry_new(const bl_registry_options_t *options, char *errstr, size_t errstr_size) {
        bl_registry_t *registry;
        CURLcode rc;
        if (!options) {
                bl_err_set(errstr, errstr_size, BL_ERR_INVALID_ARG, "no registry options");
                return NULL;
        }
        if (check_options(options, errstr, errstr_size) != BL_OK)
                return NULL;
        pthread_once(&curl_once, init_curl_once);
        if (curl_init_result != CURLE_OK) {
                bl_err_set(errstr, errstr_size, BL_ERR_UNSUPPORTED, "cannot initialise libcurl: %s",
                           curl_easy_strerror(curl_init_result));
                return NULL;
        }
        registry = calloc(1, sizeof(*registry));
        if (!registry) {
                bl_err_set(errstr, errstr_size, BL_ERR_NOMEM, "out of memory");
                return NULL;
        }
        registry->timeout_ms = options->timeout_ms;
        registry->base_url = copy_without_trailing_slashes(options->url);
        registry->curl = curl_easy_init();
        registry->headers = build_headers();
        if (!registry->base_url || !registry->curl || !registry->headers) {
                bl_err_set(errstr, errstr_size, BL_ERR_NOMEM, "out of memory creating the registry client");
                bl_registry_destroy(registry);
                return NULL;
        }
        rc = set_transport_options(registry);
        if (!rc)
                rc = set_security_options(registry->curl, options);
        if (rc) {
                bl_err_set(errstr, errstr_size, BL_ERR_UNSUPPORTED, "libcurl refuses a registry option: %s",
                           curl_easy_strerror(rc));
                bl_registry_destroy(registry);
                return NULL;
        }
        warn_about_weak_settings(options);
        return registry;
}

/* ---- one exchange ------------------------------------------------------- */

static bool is_transient_status(long status) {
        return status == 408 || status == 429 || status >= 500;
}

static bl_err_t status_class(long status) {
        if (status >= 200 && status < 300)
                return BL_OK;
        if (status == 404)
                return BL_ERR_NOT_FOUND;
        if (is_transient_status(status))
                return BL_ERR_UNAVAILABLE;
        if (status >= 400 && status < 500)
                return BL_ERR_REFUSED;
        return BL_ERR_UNAVAILABLE;
}

static const char *response_text(const exchange_t *exchange) {
        return exchange->body ? exchange->body : "";
}

static bl_err_t status_error(const exchange_t *exchange, char *errstr, size_t errstr_size) {
        char detail[DETAIL_MAX];
        const char *method = method_names[exchange->method];
        bl_err_t err = status_class(exchange->status);
        if (bl_registry_parse_error_response(response_text(exchange), exchange->body_length, detail, sizeof(detail)))
                return bl_err_set(errstr, errstr_size, err, "%s %s: HTTP %ld: %s", method, exchange->path,
                                  exchange->status, detail);
        return bl_err_set(errstr, errstr_size, err, "%s %s: HTTP %ld%s", method, exchange->path, exchange->status,
                          exchange->status >= 300 && exchange->status < 400 ? " (redirects are not followed)" : "");
}

static bl_err_t transport_error(const bl_registry_t *registry, const exchange_t *exchange, CURLcode rc,
                                char *errstr, size_t errstr_size) {
        const char *method = method_names[exchange->method];
        const char *reason = registry->curl_error[0] ? registry->curl_error : curl_easy_strerror(rc);
        if (rc == CURLE_OUT_OF_MEMORY || exchange->body_out_of_memory)
                return bl_err_set(errstr, errstr_size, BL_ERR_NOMEM, "%s %s: out of memory", method, exchange->path);
        if (rc == CURLE_FILESIZE_EXCEEDED || exchange->body_too_large)
                return bl_err_set(errstr, errstr_size,
                                  is_transient_status(exchange->status) ? BL_ERR_UNAVAILABLE : BL_ERR_REFUSED,
                                  "%s %s: HTTP %ld: response larger than %zu bytes", method, exchange->path,
                                  exchange->status, MAX_RESPONSE_BYTES);
        if (rc == CURLE_OPERATION_TIMEDOUT)
                return bl_err_set(errstr, errstr_size, BL_ERR_UNAVAILABLE, "%s %s: no answer within %d ms (%s)",
                                  method, exchange->path, registry->timeout_ms, reason);
        if (rc == CURLE_ABORTED_BY_CALLBACK)
                return bl_err_set(errstr, errstr_size, BL_ERR_UNAVAILABLE, "%s %s: cancelled", method,
                                  exchange->path);
        return bl_err_set(errstr, errstr_size, BL_ERR_UNAVAILABLE, "%s %s: cannot reach the registry: %s", method,
                          exchange->path, reason);
}

static bl_err_t set_request(bl_registry_t *registry, exchange_t *exchange, const char *url) {
        CURL *curl = registry->curl;
        CURLcode rc = curl_easy_setopt(curl, CURLOPT_URL, url);
        if (!rc)
                rc = curl_easy_setopt(curl, CURLOPT_WRITEDATA, exchange);
        if (!rc && !exchange->request_body)
                rc = curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
        if (!rc && exchange->request_body)
                rc = curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)strlen(exchange->request_body));
        if (!rc && exchange->request_body) /* copied, so the handle never points at a freed body */
                rc = curl_easy_setopt(curl, CURLOPT_COPYPOSTFIELDS, exchange->request_body);
        if (!rc) /* POSTFIELDS means POST; PUT is the same request under another verb */
                rc = curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, exchange->method == HTTP_PUT ? "PUT" : NULL);
        return rc == CURLE_OUT_OF_MEMORY ? BL_ERR_NOMEM : rc ? BL_ERR_UNSUPPORTED : BL_OK;
}

/* Sends the exchange's request and classifies the outcome; on BL_OK the body is a 2xx answer. */
static bl_err_t perform(bl_registry_t *registry, exchange_t *exchange, char *errstr, size_t errstr_size) {
        size_t url_size = strlen(registry->base_url) + strlen(exchange->path) + 1;
        char *url = malloc(url_size);
        CURLcode rc;
        bl_err_t err;
        if (!url)
                return bl_err_set(errstr, errstr_size, BL_ERR_NOMEM, "out of memory");
        snprintf(url, url_size, "%s%s", registry->base_url, exchange->path);
        err = set_request(registry, exchange, url);
        if (err) {
                free(url);
                return bl_err_set(errstr, errstr_size, err, "%s %s: cannot set up the request",
                                  method_names[exchange->method], exchange->path);
        }
        registry->curl_error[0] = '\0';
        if (registry->cancel && atomic_load(registry->cancel)) {
                free(url);
                return bl_err_set(errstr, errstr_size, BL_ERR_UNAVAILABLE, "%s %s: cancelled",
                                  method_names[exchange->method], exchange->path);
        }
        rc = curl_easy_perform(registry->curl);
        curl_easy_getinfo(registry->curl, CURLINFO_RESPONSE_CODE, &exchange->status);
        free(url);
        if (rc != CURLE_OK)
                return transport_error(registry, exchange, rc, errstr, errstr_size);
        if (status_class(exchange->status) != BL_OK)
                return status_error(exchange, errstr, errstr_size);
        return BL_OK;
}

/* A 2xx answer the parser could not use: the peer is not behaving like a registry. */
static bl_err_t malformed_answer(const exchange_t *exchange, bl_err_t parse_err, const char *reason, char *errstr,
                                 size_t errstr_size) {
        return bl_err_set(errstr, errstr_size, parse_err == BL_ERR_NOMEM ? BL_ERR_NOMEM : BL_ERR_UNAVAILABLE,
                          "%s %s: HTTP %ld: unexpected answer: %s", method_names[exchange->method], exchange->path,
                          exchange->status, reason);
}

static bl_err_t subject_path(bl_registry_t *registry, exchange_t *exchange, const char *prefix, const char *subject,
                             const char *suffix, char *errstr, size_t errstr_size) {
        char *escaped;
        if (!is_set(subject) || strlen(subject) > MAX_SUBJECT_BYTES || !strcmp(subject, ".") || !strcmp(subject, ".."))
                return bl_err_set(errstr, errstr_size, BL_ERR_INVALID_ARG,
                                  "a subject must be 1 to %d bytes and not \".\" or \"..\"", MAX_SUBJECT_BYTES);
        escaped = curl_easy_escape(registry->curl, subject, (int)strlen(subject));
        if (!escaped)
                return bl_err_set(errstr, errstr_size, BL_ERR_NOMEM, "out of memory");
        snprintf(exchange->path, sizeof(exchange->path), "%s%s%s", prefix, escaped, suffix);
        curl_free(escaped);
        return BL_OK;
}

/* {"<key>": "<text>"} as compact JSON, malloc'd; NULL if text is not UTF-8 or memory ran out. */
static char *string_member_body(const char *key, const char *text) {
        json_t *root = json_pack("{s:s}", key, text);
        char *body = root ? json_dumps(root, JSON_COMPACT) : NULL;
        json_decref(root);
        return body;
}

static bl_err_t schema_body(const char *schema_json, char **body, char *errstr, size_t errstr_size) {
        if (!is_set(schema_json))
                return bl_err_set(errstr, errstr_size, BL_ERR_INVALID_ARG, "the schema text is empty");
        *body = string_member_body("schema", schema_json);
        if (!*body)
                return bl_err_set(errstr, errstr_size, BL_ERR_INVALID_ARG, "the schema text is not valid UTF-8");
        return BL_OK;
}

/* ---- parsers ------------------------------------------------------------ */

static json_t *load_object(const char *body, size_t len, char *errstr, size_t errstr_size) {
        json_error_t error;
        json_t *root = json_loadb(body ? body : "", body ? len : 0, 0, &error);
        if (!root) {
                bl_err_set(errstr, errstr_size, BL_ERR_INVALID_ARG, "not JSON: %s", error.text);
                return NULL;
        }
        if (!json_is_object(root)) {
                json_decref(root);
                bl_err_set(errstr, errstr_size, BL_ERR_INVALID_ARG, "not a JSON object");
                return NULL;
        }
        return root;
}

static bl_err_t read_positive_int(const json_t *root, const char *key, json_int_t max, json_int_t *value,
                                  char *errstr, size_t errstr_size) {
        const json_t *member = json_object_get(root, key);
        if (!json_is_integer(member) || json_integer_value(member) <= 0 || json_integer_value(member) > max)
                return bl_err_set(errstr, errstr_size, BL_ERR_INVALID_ARG,
                                  "\"%s\" must be an integer from 1 to %" JSON_INTEGER_FORMAT, key, max);
        *value = json_integer_value(member);
        return BL_OK;
}

static bl_err_t read_id(const json_t *root, int32_t *id, char *errstr, size_t errstr_size) {
        json_int_t value;
        bl_err_t err = read_positive_int(root, "id", INT32_MAX, &value, errstr, errstr_size);
        if (!err && id)
                *id = (int32_t)value;
        return err;
}

static bl_err_t read_schema(const json_t *root, char **schema_json, char *errstr, size_t errstr_size) {
        const char *text = json_string_value(json_object_get(root, "schema"));
        if (!is_set(text))
                return bl_err_set(errstr, errstr_size, BL_ERR_INVALID_ARG, "no \"schema\" string");
        if (!schema_json)
                return BL_OK;
        *schema_json = strdup(text);
        return *schema_json ? BL_OK : bl_err_set(errstr, errstr_size, BL_ERR_NOMEM, "out of memory");
}

bl_err_t bl_registry_parse_schema_response(const char *body, size_t len, char **schema_json, char *errstr,
                                           size_t errstr_size) {
        json_t *root = load_object(body, len, errstr, errstr_size);
        bl_err_t err;
        *schema_json = NULL;
        if (!root)
                return BL_ERR_INVALID_ARG;
        err = read_schema(root, schema_json, errstr, errstr_size);
        json_decref(root);
        return err;
}

bl_err_t bl_registry_parse_id_response(const char *body, size_t len, int32_t *id, char *errstr, size_t errstr_size) {
        json_t *root = load_object(body, len, errstr, errstr_size);
        bl_err_t err;
        if (!root)
                return BL_ERR_INVALID_ARG;
        err = read_id(root, id, errstr, errstr_size);
        json_decref(root);
        return err;
}

bool bl_registry_parse_error_response(const char *body, size_t len, char *errstr, size_t errstr_size) {
        json_t *root = json_loadb(body ? body : "", body ? len : 0, 0, NULL);
        json_t *code = json_object_get(root, "error_code"), *message = json_object_get(root, "message");
        bool has_code = json_is_integer(code), has_message = json_is_string(message);
        if (has_code && has_message)
                bl_err_set(errstr, errstr_size, BL_OK, "%" JSON_INTEGER_FORMAT ": %s", json_integer_value(code),
                           json_string_value(message));
        else if (has_code)
                bl_err_set(errstr, errstr_size, BL_OK, "%" JSON_INTEGER_FORMAT, json_integer_value(code));
        else if (has_message)
                bl_err_set(errstr, errstr_size, BL_OK, "%s", json_string_value(message));
        json_decref(root);
        return has_code || has_message;
}

/* {"subject", "version", "id", "schema"}: each output may be NULL. */
static bl_err_t parse_latest(const char *body, size_t len, int32_t *id, int *version, char **schema_json,
                             char *errstr, size_t errstr_size) {
        json_t *root = load_object(body, len, errstr, errstr_size);
        json_int_t version_value = 0;
        bl_err_t err;
        if (!root)
                return BL_ERR_INVALID_ARG;
        err = read_id(root, id, errstr, errstr_size);
        if (!err)
                err = read_positive_int(root, "version", INT32_MAX, &version_value, errstr, errstr_size);
        if (!err)
                err = read_schema(root, schema_json, errstr, errstr_size);
        if (!err && version)
                *version = (int)version_value;
        json_decref(root);
        return err;
}

/* Joins the strings of "messages" with "; " into out; false when there are none. */
static bool join_messages(const json_t *messages, char *out, size_t out_size) {
        size_t index, used = 0;
        const json_t *message;
        out[0] = '\0';
        json_array_foreach(messages, index, message) {
                if (!json_is_string(message) || used >= out_size - 1)
                        continue;
                used += (size_t)snprintf(out + used, out_size - used, "%s%s", used ? "; " : "",
                                         json_string_value(message));
        }
        return out[0] != '\0';
}

/* {"is_compatible": bool, "messages": [...]?}: the verdict, and the reasons into errstr when false. */
static bl_err_t parse_compatibility(const char *body, size_t len, bool *compatible, char *errstr,
                                    size_t errstr_size) {
        json_t *root = load_object(body, len, errstr, errstr_size);
        json_t *verdict;
        char reasons[DETAIL_MAX];
        if (!root)
                return BL_ERR_INVALID_ARG;
        verdict = json_object_get(root, "is_compatible");
        if (!json_is_boolean(verdict)) {
                json_decref(root);
                return bl_err_set(errstr, errstr_size, BL_ERR_INVALID_ARG, "no \"is_compatible\" boolean");
        }
        *compatible = json_is_true(verdict);
        if (!*compatible && join_messages(json_object_get(root, "messages"), reasons, sizeof(reasons)))
                bl_err_set(errstr, errstr_size, BL_OK, "%s", reasons);
        else if (!*compatible)
                bl_err_set(errstr, errstr_size, BL_OK, "incompatible with the latest version (no reason given)");
        json_decref(root);
        return BL_OK;
}

/* ---- the calls ---------------------------------------------------------- */

bl_err_t bl_registry_get_schema(bl_registry_t *registry, int32_t id, char **schema_json, char *errstr,
                                size_t errstr_size) {
        exchange_t exchange = {.method = HTTP_GET};
        char reason[DETAIL_MAX];
        bl_err_t err;
        *schema_json = NULL;
        if (id <= 0) /* ids come from the wire: one no registry can hold is simply not found */
                return bl_err_set(errstr, errstr_size, BL_ERR_NOT_FOUND,
                                  "schema id %" PRId32 ": registry ids are positive", id);
        snprintf(exchange.path, sizeof(exchange.path), "/schemas/ids/%" PRId32, id);
        err = perform(registry, &exchange, errstr, errstr_size);
        if (!err) {
                err = bl_registry_parse_schema_response(response_text(&exchange), exchange.body_length, schema_json,
                                                        reason, sizeof(reason));
                if (err)
                        err = malformed_answer(&exchange, err, reason, errstr, errstr_size);
        }
        free(exchange.body);
        return err;
}

bl_err_t bl_registry_register(bl_registry_t *registry, const char *subject, const char *schema_json, int32_t *id,
                              char *errstr, size_t errstr_size) {
        exchange_t exchange = {.method = HTTP_POST};
        char reason[DETAIL_MAX], *body = NULL;
        bl_err_t err = subject_path(registry, &exchange, "/subjects/", subject, "/versions", errstr, errstr_size);
        if (!err)
                err = schema_body(schema_json, &body, errstr, errstr_size);
        exchange.request_body = body;
        if (!err)
                err = perform(registry, &exchange, errstr, errstr_size);
        if (!err) {
                err = bl_registry_parse_id_response(response_text(&exchange), exchange.body_length, id, reason,
                                                    sizeof(reason));
                if (err)
                        err = malformed_answer(&exchange, err, reason, errstr, errstr_size);
        }
        free(body);
        free(exchange.body);
        return err;
}

bl_err_t bl_registry_latest(bl_registry_t *registry, const char *subject, int32_t *id, int *version,
                            char **schema_json, char *errstr, size_t errstr_size) {
        exchange_t exchange = {.method = HTTP_GET};
        char reason[DETAIL_MAX];
        bl_err_t err;
        if (schema_json)
                *schema_json = NULL;
        err = subject_path(registry, &exchange, "/subjects/", subject, "/versions/latest", errstr, errstr_size);
        if (!err)
                err = perform(registry, &exchange, errstr, errstr_size);
        if (!err) {
                err = parse_latest(response_text(&exchange), exchange.body_length, id, version, schema_json, reason,
                                   sizeof(reason));
                if (err)
                        err = malformed_answer(&exchange, err, reason, errstr, errstr_size);
        }
        free(exchange.body);
        return err;
}

/* verbose=true asks Confluent's registry for the reasons; registries that do not know it ignore it. */
bl_err_t bl_registry_check_compatibility(bl_registry_t *registry, const char *subject, const char *schema_json,
                                         bool *compatible, char *errstr, size_t errstr_size) {
        exchange_t exchange = {.method = HTTP_POST};
        char reason[DETAIL_MAX], *body = NULL;
        bl_err_t err = subject_path(registry, &exchange, "/compatibility/subjects/", subject,
                                    "/versions/latest?verbose=true", errstr, errstr_size);
        *compatible = false;
        if (!err)
                err = schema_body(schema_json, &body, errstr, errstr_size);
        exchange.request_body = body;
        if (!err)
                err = perform(registry, &exchange, errstr, errstr_size);
        if (!err) {
                err = parse_compatibility(response_text(&exchange), exchange.body_length, compatible, reason,
                                          sizeof(reason));
                if (err)
                        err = malformed_answer(&exchange, err, reason, errstr, errstr_size);
                else if (!*compatible)
                        bl_err_set(errstr, errstr_size, BL_OK, "%s", reason);
        }
        free(body);
        free(exchange.body);
        return err;
}

static bool is_compatibility_level(const char *level) {
        for (size_t i = 0; i < sizeof(compatibility_levels) / sizeof(compatibility_levels[0]); i++)
                if (level && !strcmp(level, compatibility_levels[i]))
                        return true;
        return false;
}

/* The level is checked here: Apicurio answers an unknown level with HTTP 500, which would read as transient. */
bl_err_t bl_registry_set_compatibility(bl_registry_t *registry, const char *subject, const char *level, char *errstr,
                                       size_t errstr_size) {
        exchange_t exchange = {.method = HTTP_PUT};
        char *body = NULL;
        bl_err_t err;
        if (!is_compatibility_level(level))
                return bl_err_set(errstr, errstr_size, BL_ERR_INVALID_ARG,
                                  "compatibility level \"%s\" is not one of NONE, BACKWARD, BACKWARD_TRANSITIVE, "
                                  "FORWARD, FORWARD_TRANSITIVE, FULL, FULL_TRANSITIVE",
                                  level ? level : "");
        err = subject_path(registry, &exchange, "/config/", subject, "", errstr, errstr_size);
        if (!err && !(body = string_member_body("compatibility", level)))
                err = bl_err_set(errstr, errstr_size, BL_ERR_NOMEM, "out of memory");
        exchange.request_body = body;
        if (!err)
                err = perform(registry, &exchange, errstr, errstr_size);
        free(body);
        free(exchange.body);
        return err;
}

bl_registry_t *bl_registry_new_from_config(const bl_config_t *config, const char *url, char *errstr,
                                           size_t errstr_size) {
        bl_registry_options_t options = {
                .url = url ? url : config->registry_url,
                .username = config->registry_username,
                .password = config->registry_password,
                .ca_location = config->registry_ca_location,
                .certificate_location = config->registry_certificate_location,
                .key_location = config->registry_key_location,
                .key_password = config->registry_key_password,
                .verify_tls = config->registry_verify_tls,
                .timeout_ms = (int)config->registry_timeout_ms,
        };
        return bl_registry_new(&options, errstr, errstr_size);
}
