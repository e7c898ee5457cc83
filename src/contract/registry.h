/*
 * registry.h: a client of a Confluent-compatible Schema Registry over
 * HTTP(S) (libcurl): the four calls backlogd makes, nothing more.
 *
 *   GET  /schemas/ids/{id}                                   fetch a writer schema
 *   POST /subjects/{subject}/versions                        register (idempotent)
 *   GET  /subjects/{subject}/versions/latest                 the newest version
 *   POST /compatibility/subjects/{subject}/versions/latest   would this schema be accepted?
 *   PUT  /config/{subject}                                   set the subject's compatibility level
 *
 * Errors are classified for the caller, which must never dead-letter on a
 * transient fault: BL_ERR_UNAVAILABLE for anything that may pass (cannot
 * connect, timeout, TLS handshake failure, HTTP 5xx, 429, 408), BL_ERR_NOT_FOUND
 * when the registry answers that the id or subject does not exist (40403,
 * 40401, 404), BL_ERR_REFUSED for any other 4xx (bad schema 422, incompatible
 * 409, auth 401/403). errstr then holds the HTTP status, the registry's
 * error_code and message, and the URL path (never credentials).
 *
 * No caching here: ids are immutable, so the caller (contract/schemas.c)
 * caches parsed schemas by id for the life of the process.
 *
 * One handle per thread: the curl easy handle inside is reused between calls
 * (keep-alive) and is not thread-safe. A handle given a cancel flag
 * (bl_registry_set_cancel) ends a request in progress soon after another
 * thread sets the flag, well before registry.timeout_ms.
 */
#ifndef BL_REGISTRY_H
#define BL_REGISTRY_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

typedef struct bl_registry_s bl_registry_t;

/** How to reach the registry. Strings are copied by bl_registry_new; NULL or "" means unset. */
typedef struct bl_registry_options_s {
        const char *url;                  /* base, e.g. http://host:8081 or .../apis/ccompat/v7; no trailing / needed */
        const char *username;             /* basic auth, with password */
        const char *password;
        const char *ca_location;          /* CA bundle (PEM file) to verify the server */
        const char *certificate_location; /* client certificate (PEM) for mutual TLS */
        const char *key_location;         /* its private key (PEM) */
        const char *key_password;
        bool verify_tls;                  /* verify the server's certificate and host name */
        int timeout_ms;                   /* whole request, connect included */
} bl_registry_options_t;

/** NULL with errstr filled when the options are unusable (no url, bad scheme). */
bl_registry_t *bl_registry_new(const bl_registry_options_t *options, char *errstr, size_t errstr_size);

struct bl_config_s;

/**
 * A client configured by the registry.* keys of @p config, at @p url
 * (NULL: registry.url). NULL with errstr like bl_registry_new.
 */
bl_registry_t *bl_registry_new_from_config(const struct bl_config_s *config, const char *url, char *errstr,
                                           size_t errstr_size);
void bl_registry_destroy(bl_registry_t *registry);

/** The libcurl this binary runs on and its TLS library, e.g. "7.88.1 (OpenSSL/3.0.17)", for --version. */
void bl_registry_library_describe(char *out, size_t out_size);

/**
 * From now on, a request of @p registry in progress ends with
 * BL_ERR_UNAVAILABLE ("cancelled") once @p cancel (borrowed; it must outlive
 * the handle) is true, and none starts while it is: for a thread that must
 * be joined while the registry hangs (contract/fetcher.c).
 */
void bl_registry_set_cancel(bl_registry_t *registry, const atomic_bool *cancel);

/** The schema text of @p id. On BL_OK *schema_json is malloc'd and the caller frees it. */
bl_err_t bl_registry_get_schema(bl_registry_t *registry, int32_t id, char **schema_json, char *errstr,
                                size_t errstr_size);

/**
 * Registers @p schema_json (Avro schema text) under @p subject, or finds it
 * there already: either way *id is its id.
 */
bl_err_t bl_registry_register(bl_registry_t *registry, const char *subject, const char *schema_json, int32_t *id,
                              char *errstr, size_t errstr_size);

/** The newest version of @p subject: its id, version number and schema text (malloc'd; may be NULL if unwanted). */
bl_err_t bl_registry_latest(bl_registry_t *registry, const char *subject, int32_t *id, int *version,
                            char **schema_json, char *errstr, size_t errstr_size);

/**
 * Asks whether @p schema_json is compatible with the latest version of
 * @p subject under the subject's compatibility level. *compatible is the
 * answer; when false and the registry explains, errstr holds its messages.
 */
bl_err_t bl_registry_check_compatibility(bl_registry_t *registry, const char *subject, const char *schema_json,
                                         bool *compatible, char *errstr, size_t errstr_size);

/** Sets the compatibility level of @p subject ("BACKWARD", "BACKWARD_TRANSITIVE", "NONE", ...). */
bl_err_t bl_registry_set_compatibility(bl_registry_t *registry, const char *subject, const char *level,
                                       char *errstr, size_t errstr_size);

/* Response parsers, exposed for unit tests: they take (buf, len) and need no network. */

/** {"schema": "..."} -> malloc'd schema text. */
bl_err_t bl_registry_parse_schema_response(const char *body, size_t len, char **schema_json, char *errstr,
                                           size_t errstr_size);
/** {"id": N} -> N. */
bl_err_t bl_registry_parse_id_response(const char *body, size_t len, int32_t *id, char *errstr, size_t errstr_size);
/** {"error_code": N, "message": "..."} -> "N: message" into errstr; false when the body is not such an object. */
bool bl_registry_parse_error_response(const char *body, size_t len, char *errstr, size_t errstr_size);

#endif
