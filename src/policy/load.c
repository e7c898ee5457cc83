/*
 * load.c: read and check a policy document (JSON, SPEC §4, docs/policy.md)
 * into core's plain bl_policy_t, and write one back (bl_policy_describe).
 *
 * Reading takes in the whole document before judging it: every problem is
 * reported with its JSON path and the reason, not only the first, so that
 * `backlogd policy check` lists them all in one run and a bad policy sent on
 * SIGHUP or through backlog.policy is refused with everything that is wrong
 * with it while the running policy stays. The "defaults" section is applied
 * under each domain's own section, so every configured domain has complete
 * settings after reading and nothing is looked up twice at run time.
 *
 * A canary is read as a policy of its own, then joined to the main policy by
 * core (bl_policy_attach_canary), which gives it the main policy's
 * domain-level settings; this file warns where the canary's approval
 * guardrail is weaker than the main policy's.
 *
 * A domain's "agent" object (docs/agents.md) becomes its bl_agent_policy_t;
 * the bearer token is never in the document, only the name of the
 * environment variable that holds it (token_env), and the URL may carry no
 * credential, so that neither the published policy nor `policy check` can
 * show a secret.
 *
 * Invariants of a policy returned: weights in [-10, 10], not all 0;
 * horizons >= 1 s; resume_lag < max_lag in every domain; quota shares sum
 * to at most 1; the canary (if any) has another name@version and no canary;
 * agents only in domains (never in the defaults or a canary), each with a
 * url and a pilot_share.
 * Scoring, guardrails and the canary split are core's (core/policy.c); this
 * file is the only one that knows the document's keys. Any thread; no state
 * outside the call.
 */
#include "policy/load.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "base/text.h"

#define NAME_MAX_LEN         100
#define VERSION_MAX_LEN      64
#define DESCRIPTION_MAX_LEN  1000
#define WORKER_GROUP_MAX_LEN 200
#define HORIZON_MIN_MS       ((int64_t)1000)
#define HORIZON_MAX_MS       ((int64_t)30 * 86400000)
#define LAG_MAX              ((int64_t)1000000000)
#define RETRY_MS_MAX         ((int64_t)86400000)
#define MAX_ATTEMPTS_MAX     1000
#define RUNTIME_MS_MAX       ((int64_t)30 * 86400000)
#define FILE_MAX_BYTES       ((long)4 << 20)
#define DOMAIN_TEMPLATE      "{domain}"

/* The keys of the "weights" section: core's names of the criteria, in bl_criterion_id_t order. */
static void criterion_names_of(const char *names[BL_POLICY_CRITERIA]) {
        for (size_t i = 0; i < BL_POLICY_CRITERIA; i++)
                names[i] = bl_policy_criterion_name((bl_criterion_id_t)i);
}

/* The keys of the "criteria" section (bl_horizon_id_t order; core has their defaults). */
static const char *const horizon_keys[BL_POLICY_HORIZONS] = {
        "urgency_horizon_ms",
        "freshness_half_life_ms",
        "aging_horizon_ms",
};

/* The keys of "defaults" and of each "domains.<name>" section. */
enum {
        KEY_WORKER_GROUP,
        KEY_MAX_LAG,
        KEY_RESUME_LAG,
        KEY_RETRY_BASE_MS,
        KEY_RETRY_CAP_MS,
        KEY_MAX_ATTEMPTS,
        KEY_QUOTA_SHARE,
        KEY_APPROVAL_RISK_THRESHOLD,
        KEY_ON_DEADLINE,
        KEY_DECISION_DEADLINE_MS,
        KEY_AGENT,
        KEY_MAX_RUNTIME_MS,
        KEY_MAX_RUNTIME_BY_TASK_TYPE,
        KEY_BREAKER,
        KEY_REMEDIATION,
        KEY__COUNT
};
static const struct {
        const char *name;
        int64_t min, max; /* integers: the bounds */
        bool of_domain;   /* a property of the domain, not of a task: a canary takes the main policy's */
} domain_keys[KEY__COUNT] = {
        {"worker_group", 1, WORKER_GROUP_MAX_LEN, true},
        {"max_lag", 1, LAG_MAX, true},
        {"resume_lag", 0, LAG_MAX - 1, true},
        {"retry_base_ms", 0, RETRY_MS_MAX, false},
        {"retry_cap_ms", 0, RETRY_MS_MAX, false},
        {"max_attempts", 1, MAX_ATTEMPTS_MAX, false},
        {"quota_share", 0, 1, true},
        {"approval_risk_threshold", 0, 1, false},
        {"on_deadline", 0, 0, false},
        {"decision_deadline_ms", 0, HORIZON_MAX_MS, false},
        {"agent", 0, 0, true},
        {"max_runtime_ms", 0, RUNTIME_MS_MAX, true},
        {"max_runtime_ms_by_task_type", 1, RUNTIME_MS_MAX, true},
        {"breaker", 0, 0, true},
        {"remediation", 0, 0, true},
};
#define BIT(key) (1u << (key))

/* The keys of a domain's "agent" object (docs/agents.md). */
enum {
        AGENT_URL,
        AGENT_CA_LOCATION,
        AGENT_CERTIFICATE_LOCATION,
        AGENT_KEY_LOCATION,
        AGENT_TOKEN_ENV,
        AGENT_TIMEOUT_MS,
        AGENT_PILOT_SHARE,
        AGENT_MAX_CANDIDATES,
        AGENT_HOLD_MAX_MS,
        AGENT_MAX_HELD_SHARE,
        AGENT_DEADLINE_MARGIN_MS,
        AGENT_SEND_PAYLOAD,
        AGENT_MAX_RESPONSE_BYTES,
        AGENT_BREAKER_FAILURES,
        AGENT_BREAKER_COOLDOWN_MS,
        AGENT_KEY__COUNT
};
typedef enum { AGENT_TEXT, AGENT_INT, AGENT_SHARE, AGENT_BOOL } agent_key_type_t;
static const struct {
        const char *name;
        agent_key_type_t type;
        int64_t min, max; /* integers: the bounds; texts: the length */
} agent_keys[AGENT_KEY__COUNT] = {
        {"url", AGENT_TEXT, 1, 2048},
        {"ca_location", AGENT_TEXT, 1, 4096},
        {"certificate_location", AGENT_TEXT, 1, 4096},
        {"key_location", AGENT_TEXT, 1, 4096},
        {"token_env", AGENT_TEXT, 1, 128},
        {"timeout_ms", AGENT_INT, 10, 60000},
        {"pilot_share", AGENT_SHARE, 0, 1},
        {"max_candidates", AGENT_INT, 1, 500},
        {"hold_max_ms", AGENT_INT, 0, 86400000},
        {"max_held_share", AGENT_SHARE, 0, 1},
        {"deadline_margin_ms", AGENT_INT, 0, 86400000},
        {"send_payload", AGENT_BOOL, 0, 0},
        {"max_response_bytes", AGENT_INT, 1024, 16 << 20},
        {"breaker_failures", AGENT_INT, 1, 1000},
        {"breaker_cooldown_ms", AGENT_INT, 100, 3600000},
};

static const char *const root_keys[] = {"name",     "version",  "description", "weights",
                                        "criteria", "defaults", "domains",     "canary"};
static const char *const canary_keys[] = {"fraction", "policy"};
#define COUNT(array) (sizeof(array) / sizeof((array)[0]))

/* ---- problems ------------------------------------------------------------------------ */

typedef struct parser_s {
        bl_policy_problem_cb *cb;
        void *opaque;
        int fatal_count;
} parser_t;

static void report(parser_t *parser, bool fatal, const char *path, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

static void report(parser_t *parser, bool fatal, const char *path, const char *fmt, ...) {
        char reason[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(reason, sizeof(reason), fmt, ap);
        va_end(ap);
        if (fatal)
                parser->fatal_count++;
        if (parser->cb)
                parser->cb(path, reason, fatal, parser->opaque);
}

/* prefix + member into out: "domains" + "evaluation" -> "domains.evaluation"; a path too long ends in "...". */
static void join_path(char *out, size_t out_size, const char *prefix, const char *member) {
        int len = snprintf(out, out_size, "%s%s%s", prefix, *prefix ? "." : "", member);
        if (len < 0 || (size_t)len >= out_size)
                memcpy(out + out_size - 4, "...", 4);
}

static const char *json_type_name(const json_t *value) {
        switch (json_typeof(value)) {
        case JSON_OBJECT: return "an object";
        case JSON_ARRAY: return "an array";
        case JSON_STRING: return "a string";
        case JSON_INTEGER: return "an integer";
        case JSON_REAL: return "a number with a fraction";
        case JSON_TRUE:
        case JSON_FALSE: return "a boolean";
        default: return "null";
        }
}


/* The closest of @p known to @p name, or NULL if none is within two edits or a prefix of it ("quota"). */
static const char *closest(const char *name, const char *const *known, size_t known_count) {
        const char *best = NULL;
        size_t best_distance = 3;
        for (size_t i = 0; i < known_count; i++) {
                size_t d = bl_text_edit_distance(name, known[i]);
                if (d >= best_distance && strlen(name) >= 4 && !strncmp(known[i], name, strlen(name)))
                        d = best_distance - 1;
                if (d < best_distance) {
                        best_distance = d;
                        best = known[i];
                }
        }
        return best;
}

/* Where a key of another section belongs, for a key put in the wrong place; NULL if nowhere. */
static const char *section_of(const char *name) {
        for (size_t i = 0; i < KEY__COUNT; i++)
                if (!strcmp(name, domain_keys[i].name))
                        return "\"defaults\" or \"domains\": {\"<domain>\": {...}}";
        for (size_t i = 0; i < BL_POLICY_CRITERIA; i++)
                if (!strcmp(name, bl_policy_criterion_name((bl_criterion_id_t)i)))
                        return "\"weights\"";
        for (size_t i = 0; i < BL_POLICY_HORIZONS; i++)
                if (!strcmp(name, horizon_keys[i]))
                        return "\"criteria\"";
        if (!strcmp(name, "fraction"))
                return "\"canary\"";
        for (size_t i = 0; i < AGENT_KEY__COUNT; i++)
                if (!strcmp(name, agent_keys[i].name))
                        return "\"domains\": {\"<domain>\": {\"agent\": {...}}}";
        return NULL;
}

static void report_unknown(parser_t *parser, const char *path, const char *member, const char *const *known,
                           size_t known_count) {
        const char *suggestion = closest(member, known, known_count);
        const char *section = section_of(member);
        if (suggestion)
                report(parser, true, path, "unknown key (did you mean %s?)", suggestion);
        else if (section)
                report(parser, true, path, "unknown key here: it belongs in %s", section);
        else
                report(parser, true, path, "unknown key");
}

static bool is_comment(const char *member) {
        return !strncmp(member, "//", 2);
}

/* ---- values -------------------------------------------------------------------------- */

static bool label_chars_ok(const char *text) {
        for (const char *p = text; *p; p++)
                if (!isalnum((unsigned char)*p) && *p != '.' && *p != '_' && *p != '-')
                        return false;
        return true;
}

/* A copy of a name or version, or NULL with the problem reported. */
static char *read_label(parser_t *parser, const char *path, const json_t *value, size_t max_len, bool integer_ok) {
        char text[32];
        const char *chosen;
        if (integer_ok && json_is_integer(value)) {
                if (json_integer_value(value) < 0) {
                        report(parser, true, path, "must not be negative");
                        return NULL;
                }
                snprintf(text, sizeof(text), "%lld", (long long)json_integer_value(value));
                chosen = text;
        } else if (json_is_string(value)) {
                chosen = json_string_value(value);
        } else {
                report(parser, true, path, "expected a string%s, got %s", integer_ok ? " or an integer" : "",
                       json_type_name(value));
                return NULL;
        }
        if (!*chosen) {
                report(parser, true, path, "must not be empty");
                return NULL;
        }
        if (strlen(chosen) > max_len) {
                report(parser, true, path, "is %zu characters long, the limit is %zu", strlen(chosen), max_len);
                return NULL;
        }
        if (!label_chars_ok(chosen)) {
                report(parser, true, path,
                       "\"%s\" may hold only letters, digits, '.', '_' and '-' (it labels decisions and metrics)",
                       chosen);
                return NULL;
        }
        char *copy = strdup(chosen);
        if (!copy)
                report(parser, true, path, "out of memory");
        return copy;
}

static bool read_int(parser_t *parser, const char *path, const json_t *value, int64_t min, int64_t max, int64_t *out) {
        if (!json_is_integer(value)) {
                report(parser, true, path, "expected an integer, got %s", json_type_name(value));
                return false;
        }
        json_int_t number = json_integer_value(value);
        if (number < min || number > max) {
                report(parser, true, path, "%lld is out of range [%lld, %lld]", (long long)number, (long long)min,
                       (long long)max);
                return false;
        }
        *out = number;
        return true;
}

static bool read_number(parser_t *parser, const char *path, const json_t *value, double min, double max, double *out) {
        if (!json_is_number(value)) {
                report(parser, true, path, "expected a number, got %s", json_type_name(value));
                return false;
        }
        double number = json_number_value(value);
        if (!(number >= min && number <= max)) {
                report(parser, true, path, "%g is out of range [%g, %g]", number, min, max);
                return false;
        }
        *out = number;
        return true;
}

/* A fraction in [0, 1], or null for "none": *present says which. */
static bool read_fraction_or_null(parser_t *parser, const char *path, const json_t *value, bool *present, double *out) {
        if (json_is_null(value)) {
                *present = false;
                return true;
        }
        if (!json_is_number(value)) {
                report(parser, true, path, "expected a number in [0, 1] or null, got %s", json_type_name(value));
                return false;
        }
        if (!read_number(parser, path, value, 0.0, 1.0, out))
                return false;
        *present = true;
        return true;
}

/* A worker group (or the defaults' template), copied; NULL with the problem reported. */
static char *read_worker_group(parser_t *parser, const char *path, const json_t *value) {
        if (!json_is_string(value)) {
                report(parser, true, path, "expected a string, got %s", json_type_name(value));
                return NULL;
        }
        const char *text = json_string_value(value);
        size_t len = strlen(text);
        if (len < 1 || len > WORKER_GROUP_MAX_LEN) {
                report(parser, true, path, len ? "is %zu characters long, the limit is %d" : "must not be empty", len,
                       WORKER_GROUP_MAX_LEN);
                return NULL;
        }
        for (const char *p = text; *p; p++) {
                if (!isgraph((unsigned char)*p)) {
                        report(parser, true, path, "\"%s\" may not hold spaces or control characters", text);
                        return NULL;
                }
        }
        char *copy = strdup(text);
        if (!copy)
                report(parser, true, path, "out of memory");
        return copy;
}

/* The template with every "{domain}" replaced by @p domain (a new string), or NULL when out of memory. */
static char *expand_group(const char *template_text, const char *domain) {
        size_t template_len = strlen(DOMAIN_TEMPLATE), size = 1;
        for (const char *p = template_text; *p;) {
                if (!strncmp(p, DOMAIN_TEMPLATE, template_len)) {
                        size += strlen(domain);
                        p += template_len;
                } else {
                        size++;
                        p++;
                }
        }
        char *out = malloc(size), *w = out;
        if (!out)
                return NULL;
        for (const char *p = template_text; *p;) {
                if (!strncmp(p, DOMAIN_TEMPLATE, template_len)) {
                        w += sprintf(w, "%s", domain);
                        p += template_len;
                } else {
                        *w++ = *p++;
                }
        }
        *w = '\0';
        return out;
}

/* ---- a domain's agent ------------------------------------------------------------------ */

static int agent_key_index(const char *name) {
        for (int i = 0; i < AGENT_KEY__COUNT; i++)
                if (!strcmp(name, agent_keys[i].name))
                        return i;
        return -1;
}

/*
 * The agent's URL: http or https, a host, no user:password@ (credentials
 * belong in token_env), no query or fragment (nor secrets hidden in them),
 * nothing unprintable. The URL is printed by `policy check`, so it must not
 * be able to carry a secret.
 */
static const char *agent_url_problem(const char *url) {
        const char *rest;
        if (!strncasecmp(url, "http://", 7))
                rest = url + 7;
        else if (!strncasecmp(url, "https://", 8))
                rest = url + 8;
        else
                return "must start with http:// or https://";
        for (const char *p = url; *p; p++)
                if (!isgraph((unsigned char)*p))
                        return "may not hold spaces or control characters";
        size_t authority = strcspn(rest, "/");
        if (authority == 0)
                return "has no host";
        if (memchr(rest, '@', authority))
                return "must not carry credentials (user:password@): name the token's environment variable in "
                       "token_env instead";
        if (strpbrk(url, "?#"))
                return "must not have a query (?...) or a fragment (#...): a credential there would be printed";
        return NULL;
}

static bool token_env_name_ok(const char *name) {
        if (!isalpha((unsigned char)*name) && *name != '_')
                return false;
        for (const char *p = name; *p; p++)
                if (!isalnum((unsigned char)*p) && *p != '_')
                        return false;
        return true;
}

/* One text value of the agent object, checked and copied into *out; false with the problem reported. */
static bool read_agent_text(parser_t *parser, const char *path, int key, const json_t *value, char **out) {
        if (!json_is_string(value)) {
                report(parser, true, path, "expected a string, got %s", json_type_name(value));
                return false;
        }
        const char *text = json_string_value(value);
        size_t len = strlen(text);
        const char *problem = NULL;
        if (len < (size_t)agent_keys[key].min)
                problem = "must not be empty";
        else if (len > (size_t)agent_keys[key].max)
                problem = "is too long";
        else if (key == AGENT_URL)
                problem = agent_url_problem(text);
        else if (key == AGENT_TOKEN_ENV && !token_env_name_ok(text))
                problem = "must be the name of an environment variable: letters, digits and '_', not starting "
                          "with a digit";
        else
                for (const char *p = text; *p && !problem; p++)
                        if (iscntrl((unsigned char)*p))
                                problem = "may not hold control characters";
        if (problem) {
                if (len > (size_t)agent_keys[key].max)
                        report(parser, true, path, "is %zu characters long, the limit is %lld", len,
                               (long long)agent_keys[key].max);
                else
                        report(parser, true, path, "%s", problem);
                return false;
        }
        free(*out);
        if (!(*out = strdup(text))) {
                report(parser, true, path, "out of memory");
                return false;
        }
        return true;
}

static bool read_agent_value(parser_t *parser, const char *path, int key, const json_t *value,
                             bl_agent_policy_t *agent) {
        int64_t number = 0;
        switch (key) {
        case AGENT_URL: return read_agent_text(parser, path, key, value, &agent->url);
        case AGENT_CA_LOCATION: return read_agent_text(parser, path, key, value, &agent->ca_location);
        case AGENT_CERTIFICATE_LOCATION:
                return read_agent_text(parser, path, key, value, &agent->certificate_location);
        case AGENT_KEY_LOCATION: return read_agent_text(parser, path, key, value, &agent->key_location);
        case AGENT_TOKEN_ENV: return read_agent_text(parser, path, key, value, &agent->token_env);
        case AGENT_PILOT_SHARE: return read_number(parser, path, value, 0.0, 1.0, &agent->pilot_share);
        case AGENT_MAX_HELD_SHARE: return read_number(parser, path, value, 0.0, 1.0, &agent->max_held_share);
        case AGENT_SEND_PAYLOAD:
                if (!json_is_boolean(value)) {
                        report(parser, true, path, "expected true or false, got %s", json_type_name(value));
                        return false;
                }
                agent->send_payload = json_is_true(value);
                return true;
        default: break;
        }
        if (!read_int(parser, path, value, agent_keys[key].min, agent_keys[key].max, &number))
                return false;
        switch (key) {
        case AGENT_TIMEOUT_MS: agent->timeout_ms = number; break;
        case AGENT_MAX_CANDIDATES: agent->max_candidates = (int32_t)number; break;
        case AGENT_HOLD_MAX_MS: agent->hold_max_ms = number; break;
        case AGENT_DEADLINE_MARGIN_MS: agent->deadline_margin_ms = number; break;
        case AGENT_MAX_RESPONSE_BYTES: agent->max_response_bytes = number; break;
        case AGENT_BREAKER_FAILURES: agent->breaker_failures = (int32_t)number; break;
        default: agent->breaker_cooldown_ms = number; break;
        }
        return true;
}

/* Warns about a file the agent client will need and this machine cannot read (it may be checked elsewhere). */
static void warn_unreadable(parser_t *parser, const char *agent_path, const char *key, const char *file) {
        char path[512];
        if (!file || access(file, R_OK) == 0)
                return;
        join_path(path, sizeof(path), agent_path, key);
        report(parser, false, path, "cannot read %s here (%s): the agent client of an instance that cannot read "
                                    "it does not start",
               file, strerror(errno));
}

/* What the agent's settings say together: a token over plain http, a pilot of 0, files unreadable here. */
static void warn_about_agent(parser_t *parser, const char *path, const bl_agent_policy_t *agent) {
        char key_path[512];
        if (agent->token_env && agent->url && !strncasecmp(agent->url, "http://", 7)) {
                join_path(key_path, sizeof(key_path), path, "url");
                report(parser, false, key_path, "plain http with a bearer token: the token travels unencrypted");
        }
        if (agent->token_env && !getenv(agent->token_env)) {
                join_path(key_path, sizeof(key_path), path, "token_env");
                report(parser, false, key_path,
                       "%s is not set in this environment: the agent would be called without a token",
                       agent->token_env);
        }
        if (agent->pilot_share == 0) {
                join_path(key_path, sizeof(key_path), path, "pilot_share");
                report(parser, false, key_path, "0: the agent governs no task");
        }
        warn_unreadable(parser, path, "ca_location", agent->ca_location);
        warn_unreadable(parser, path, "certificate_location", agent->certificate_location);
        warn_unreadable(parser, path, "key_location", agent->key_location);
}

/*
 * A domain's "agent" object into a new bl_agent_policy_t (*out, replacing
 * any); false with every problem reported. A "token" member is refused with
 * the reason: the policy travels through backlog.policy and is printed.
 */
static bool read_agent(parser_t *parser, const char *path, const json_t *section, bl_agent_policy_t **out) {
        const char *member;
        const json_t *value;
        const char *key_names[AGENT_KEY__COUNT];
        bool ok = true, has_url = false, has_share = false;
        char key_path[512];
        if (!json_is_object(section)) {
                report(parser, true, path, "expected an object of agent settings (url, pilot_share, ...), got %s",
                       json_type_name(section));
                return false;
        }
        bl_agent_policy_t *agent = calloc(1, sizeof(*agent));
        if (!agent) {
                report(parser, true, path, "out of memory");
                return false;
        }
        bl_agent_policy_defaults(agent);
        for (int i = 0; i < AGENT_KEY__COUNT; i++)
                key_names[i] = agent_keys[i].name;
        json_object_foreach((json_t *)section, member, value) {
                if (is_comment(member))
                        continue;
                join_path(key_path, sizeof(key_path), path, member);
                int key = agent_key_index(member);
                if (key < 0 && (!strcmp(member, "token") || !strcmp(member, "bearer_token"))) {
                        report(parser, true, key_path,
                               "a token never goes in the policy (it is published to backlog.policy and printed): "
                               "put it in an environment variable and name the variable in token_env");
                        ok = false;
                } else if (key < 0) {
                        report_unknown(parser, key_path, member, key_names, AGENT_KEY__COUNT);
                        ok = false;
                } else {
                        ok = read_agent_value(parser, key_path, key, value, agent) && ok;
                        has_url = has_url || key == AGENT_URL;
                        has_share = has_share || key == AGENT_PILOT_SHARE;
                }
        }
        if (!has_url) {
                join_path(key_path, sizeof(key_path), path, "url");
                report(parser, true, key_path, "missing: where the agent answers (http:// or https://)");
                ok = false;
        }
        if (!has_share) {
                join_path(key_path, sizeof(key_path), path, "pilot_share");
                report(parser, true, key_path, "missing: the share of the domain's tasks the agent governs, in [0, 1]");
                ok = false;
        }
        if (agent->key_location && !agent->certificate_location) {
                join_path(key_path, sizeof(key_path), path, "key_location");
                report(parser, true, key_path, "is set without certificate_location");
                ok = false;
        }
        if (ok)
                warn_about_agent(parser, path, agent);
        bl_agent_policy_destroy(*out);
        *out = agent;
        return ok;
}

/* ---- a domain's failure settings (SPEC §14) ------------------------------------------------ */

static size_t domain_index(const char *const *domains, size_t domain_count, const char *name);

static const char *const breaker_keys[] = {"enabled", "failure_share", "window_ms", "min_results", "cooldown_ms",
                                           "probes"};
static const char *const rule_keys[] = {"reason", "task_type", "error_code", "domain", "remediation_task_type",
                                        "max_rounds"};

/* The domain's resilience settings to write into, made on first use. NULL with the problem reported. */
static bl_resilience_policy_t *resilience_of(parser_t *parser, const char *path, bl_domain_policy_t *settings) {
        if (!settings->resilience && !(settings->resilience = bl_resilience_policy_new()))
                report(parser, true, path, "out of memory");
        return settings->resilience;
}

/* "max_runtime_ms_by_task_type": {"<task_type>": ms, ...}, replacing any list the defaults gave. */
static bool read_runtime_by_task_type(parser_t *parser, const char *path, const json_t *value,
                                      bl_resilience_policy_t *resilience) {
        const char *member;
        const json_t *bound;
        bool ok = true;
        if (!json_is_object(value)) {
                report(parser, true, path, "expected an object {\"<task_type>\": milliseconds, ...}, got %s",
                       json_type_name(value));
                return false;
        }
        for (size_t i = 0; i < resilience->runtime_by_task_type_count; i++)
                free(resilience->runtime_by_task_type[i].task_type);
        free(resilience->runtime_by_task_type);
        resilience->runtime_by_task_type_count = 0;
        resilience->runtime_by_task_type = calloc(json_object_size(value) + 1, sizeof(bl_runtime_bound_t));
        if (!resilience->runtime_by_task_type) {
                report(parser, true, path, "out of memory");
                return false;
        }
        json_object_foreach((json_t *)value, member, bound) {
                char member_path[512];
                int64_t number;
                if (is_comment(member))
                        continue;
                join_path(member_path, sizeof(member_path), path, member);
                if (!read_int(parser, member_path, bound, 1, RUNTIME_MS_MAX, &number)) {
                        ok = false;
                        continue;
                }
                bl_runtime_bound_t *entry = &resilience->runtime_by_task_type[resilience->runtime_by_task_type_count];
                if (!(entry->task_type = strdup(member))) {
                        report(parser, true, member_path, "out of memory");
                        return false;
                }
                entry->max_runtime_ms = number;
                resilience->runtime_by_task_type_count++;
        }
        return ok;
}

/* A member reader of read_members: the member @p key (an index into the caller's key table) into @p target. */
typedef bool (*member_reader_t)(parser_t *parser, const char *path, size_t key, const json_t *value, void *target);

/* Each member of the object @p value: comments skipped, unknown keys reported, the others read; false on any problem. */
static bool read_members(parser_t *parser, const char *path, const json_t *value, const char *const *keys,
                         size_t key_count, member_reader_t read_member, void *target) {
        const char *member;
        const json_t *entry;
        bool ok = true;
        json_object_foreach((json_t *)value, member, entry) {
                char member_path[512];
                size_t key;
                if (is_comment(member))
                        continue;
                join_path(member_path, sizeof(member_path), path, member);
                for (key = 0; key < key_count && strcmp(member, keys[key]); key++)
                        ;
                if (key == key_count) {
                        report_unknown(parser, member_path, member, keys, key_count);
                        ok = false;
                } else {
                        ok = read_member(parser, member_path, key, entry, target) && ok;
                }
        }
        return ok;
}

/* One key of a "breaker" object into @p breaker; false with the problem reported. */
static bool read_breaker_value(parser_t *parser, const char *path, size_t key, const json_t *value,
                               bl_breaker_policy_t *breaker) {
        static const int64_t bounds[][2] = {{0, 0}, {0, 0}, {1000, 86400000}, {1, 1000000}, {100, 86400000},
                                            {1, BL_BREAKER_PROBES_MAX}};
        int64_t number;
        if (key == 0) {
                if (!json_is_boolean(value)) {
                        report(parser, true, path, "expected true or false, got %s", json_type_name(value));
                        return false;
                }
                breaker->enabled = json_is_true(value);
                return true;
        }
        if (key == 1) {
                if (!read_number(parser, path, value, 0.0, 1.0, &breaker->failure_share))
                        return false;
                if (breaker->failure_share > 0)
                        return true;
                report(parser, true, path, "must be above 0: at 0 the breaker would open on successes alone");
                return false;
        }
        if (!read_int(parser, path, value, bounds[key][0], bounds[key][1], &number))
                return false;
        if (key == 2)
                breaker->window_ms = number;
        else if (key == 3)
                breaker->min_results = (int32_t)number;
        else if (key == 4)
                breaker->cooldown_ms = number;
        else
                breaker->probes = (int32_t)number;
        return true;
}

static bool read_breaker_member(parser_t *parser, const char *path, size_t key, const json_t *value, void *target) {
        return read_breaker_value(parser, path, key, value, target);
}

/* "breaker": {...} over the settings the defaults gave (on unless "enabled": false), or null: off. */
static bool read_breaker(parser_t *parser, const char *path, const json_t *value, bl_breaker_policy_t *breaker) {
        if (json_is_null(value)) {
                breaker->enabled = false;
                return true;
        }
        if (!json_is_object(value)) {
                report(parser, true, path, "expected an object of breaker settings or null, got %s",
                       json_type_name(value));
                return false;
        }
        breaker->enabled = true;
        return read_members(parser, path, value, breaker_keys, COUNT(breaker_keys), read_breaker_member, breaker);
}

/* A text of a remediation rule (a task type, an error code, a domain), copied into *@p out. */
static bool read_rule_text(parser_t *parser, const char *path, const json_t *value, char **out) {
        if (!json_is_string(value) || !*json_string_value(value) || strlen(json_string_value(value)) > 200) {
                report(parser, true, path, "expected a non-empty string of at most 200 characters, got %s",
                       json_type_name(value));
                return false;
        }
        free(*out);
        if (!(*out = strdup(json_string_value(value)))) {
                report(parser, true, path, "out of memory");
                return false;
        }
        return true;
}

static bool read_rule_member(parser_t *parser, const char *path, size_t key, const json_t *value,
                             bl_remediation_rule_t *rule) {
        int64_t number;
        switch (key) {
        case 0:
                if (json_is_string(value) && !strcmp(json_string_value(value), "retries.exhausted"))
                        return true;
                report(parser, true, path, "only \"retries.exhausted\" can be remediated: the other letters are of "
                                           "records, or of tasks that did not fail");
                return false;
        case 1: return read_rule_text(parser, path, value, &rule->task_type);
        case 2: return read_rule_text(parser, path, value, &rule->error_code);
        case 3: return read_rule_text(parser, path, value, &rule->remediation_domain);
        case 4: return read_rule_text(parser, path, value, &rule->remediation_task_type);
        default:
                if (!read_int(parser, path, value, 1, 100, &number))
                        return false;
                rule->max_rounds = (int32_t)number;
                return true;
        }
}

static bool read_rule_entry(parser_t *parser, const char *path, size_t key, const json_t *value, void *target) {
        return read_rule_member(parser, path, key, value, target);
}

/* One rule of "remediation" into @p rule (zeroed by the caller); false with the problems reported. */
static bool read_rule(parser_t *parser, const char *path, const json_t *value, bl_remediation_rule_t *rule) {
        rule->max_rounds = 1;
        if (!json_is_object(value)) {
                report(parser, true, path, "expected a rule object {\"reason\": \"retries.exhausted\", ...}, got %s",
                       json_type_name(value));
                return false;
        }
        bool ok = read_members(parser, path, value, rule_keys, COUNT(rule_keys), read_rule_entry, rule);
        if (!rule->remediation_domain && !(rule->remediation_domain = strdup(BL_REMEDIATION_DEFAULT_DOMAIN)))
                ok = false;
        if (!rule->remediation_task_type && !(rule->remediation_task_type = strdup(BL_REMEDIATION_DEFAULT_TASK_TYPE)))
                ok = false;
        return ok;
}

/* "remediation": [rule, ...], replacing any rules the defaults gave. */
static bool read_rules(parser_t *parser, const char *path, const json_t *value, bl_resilience_policy_t *resilience) {
        bool ok = true;
        if (!json_is_array(value)) {
                report(parser, true, path, "expected an array of rules, got %s", json_type_name(value));
                return false;
        }
        for (size_t i = 0; i < resilience->rule_count; i++) {
                bl_remediation_rule_t *rule = &resilience->rules[i];
                free(rule->task_type);
                free(rule->error_code);
                free(rule->remediation_domain);
                free(rule->remediation_task_type);
        }
        free(resilience->rules);
        resilience->rule_count = 0;
        if (!(resilience->rules = calloc(json_array_size(value) + 1, sizeof(*resilience->rules)))) {
                report(parser, true, path, "out of memory");
                return false;
        }
        for (size_t i = 0; i < json_array_size(value); i++) {
                char rule_path[512], index[32];
                snprintf(index, sizeof(index), "%zu", i);
                join_path(rule_path, sizeof(rule_path), path, index);
                ok = read_rule(parser, rule_path, json_array_get(value, i), &resilience->rules[i]) && ok;
                resilience->rule_count++; /* freed with the policy, whole or not */
        }
        return ok;
}

/* max_runtime_ms, max_runtime_ms_by_task_type, breaker or remediation of a domain section. */
static bool read_resilience_key(parser_t *parser, const char *path, int key, const json_t *value,
                                bl_domain_policy_t *settings) {
        bl_resilience_policy_t *resilience = resilience_of(parser, path, settings);
        if (!resilience)
                return false;
        switch (key) {
        case KEY_MAX_RUNTIME_MS:
                return read_int(parser, path, value, 0, RUNTIME_MS_MAX, &resilience->max_runtime_ms);
        case KEY_MAX_RUNTIME_BY_TASK_TYPE: return read_runtime_by_task_type(parser, path, value, resilience);
        case KEY_BREAKER: return read_breaker(parser, path, value, &resilience->breaker);
        default: return read_rules(parser, path, value, resilience);
        }
}

/* Every rule's remediation domain must be a configured one (its tasks are dispatched there). */
static void check_remediation_domains(parser_t *parser, const bl_policy_t *policy, const char *const *domains,
                                      size_t domain_count, const char *prefix) {
        char path[512];
        for (size_t d = 0; d < policy->domain_count; d++) {
                const bl_resilience_policy_t *resilience = policy->domains[d].resilience;
                for (size_t i = 0; resilience && i < resilience->rule_count; i++) {
                        const char *target = resilience->rules[i].remediation_domain;
                        char domains_path[512], domain_path[512], rule_path[512], index[32];
                        if (!target)
                                continue;
                        join_path(domains_path, sizeof(domains_path), prefix, "domains");
                        join_path(domain_path, sizeof(domain_path), domains_path, policy->domains[d].domain);
                        join_path(rule_path, sizeof(rule_path), domain_path, "remediation");
                        snprintf(index, sizeof(index), "%zu", i);
                        join_path(path, sizeof(path), rule_path, index);
                        if (domains && domain_index(domains, domain_count, target) == SIZE_MAX)
                                report(parser, true, path,
                                       "remediation domain %s is not a configured domain: add it to the config's "
                                       "domains (its tasks are dispatched to dispatch.%s)",
                                       target, target);
                        else if (!strcmp(target, policy->domains[d].domain))
                                report(parser, false, path,
                                       "remediates into its own domain: its remediation tasks go to the workers "
                                       "whose failures they are to fix");
                }
        }
}

/* ---- domain settings ------------------------------------------------------------------- */

/* "expire", "dispatch_late" or "escalate" (SPEC §14) into @p out. */
static bool read_on_deadline(parser_t *parser, const char *path, const json_t *value, bl_on_deadline_t *out) {
        const char *names[BL_ON_DEADLINE__COUNT];
        for (int i = 0; i < BL_ON_DEADLINE__COUNT; i++)
                names[i] = bl_on_deadline_name((bl_on_deadline_t)i);
        if (!json_is_string(value)) {
                report(parser, true, path, "expected one of \"%s\", \"%s\", \"%s\", got %s", names[0], names[1],
                       names[2], json_type_name(value));
                return false;
        }
        for (int i = 0; i < BL_ON_DEADLINE__COUNT; i++)
                if (!strcmp(json_string_value(value), names[i])) {
                        *out = (bl_on_deadline_t)i;
                        return true;
                }
        report(parser, true, path, "\"%s\" is not one of \"%s\", \"%s\", \"%s\"", json_string_value(value),
               names[0], names[1], names[2]);
        return false;
}

static int domain_key_index(const char *name) {
        for (int i = 0; i < KEY__COUNT; i++)
                if (!strcmp(name, domain_keys[i].name))
                        return i;
        return -1;
}

/*
 * Reads a "defaults" or "domains.<name>" section over @p settings, which
 * holds what applies when the section is silent. Returns the keys it set
 * (BIT(KEY_...)). A worker group read here replaces settings->worker_group
 * (owned); @p canary says the domain-level keys are ignored (with a warning).
 */
static unsigned read_domain_section(parser_t *parser, const json_t *section, const char *path,
                                    bl_domain_policy_t *settings, bool canary, bool in_domain) {
        const char *member;
        const json_t *value;
        unsigned set = 0;
        const char *key_names[KEY__COUNT];
        for (int i = 0; i < KEY__COUNT; i++)
                key_names[i] = domain_keys[i].name;
        if (!json_is_object(section)) {
                report(parser, true, path, "expected an object of domain settings, got %s", json_type_name(section));
                return 0;
        }
        json_object_foreach((json_t *)section, member, value) {
                char key_path[512];
                int key;
                if (is_comment(member))
                        continue;
                join_path(key_path, sizeof(key_path), path, member);
                key = domain_key_index(member);
                if (key < 0) {
                        report_unknown(parser, key_path, member, key_names, KEY__COUNT);
                        continue;
                }
                if (canary && domain_keys[key].of_domain) {
                        report(parser, false, key_path,
                               "ignored: worker groups, lag bounds, quota shares and agents belong to the domain, "
                               "so a canary always has the main policy's");
                        continue;
                }
                if (key == KEY_AGENT && !in_domain) {
                        report(parser, true, key_path,
                               "an agent belongs to one domain: put it under domains.<domain>.agent");
                        continue;
                }
                bool ok = false;
                switch (key) {
                case KEY_WORKER_GROUP: {
                        char *group = read_worker_group(parser, key_path, value);
                        if (group) {
                                free((char *)settings->worker_group);
                                settings->worker_group = group;
                                ok = true;
                        }
                        break;
                }
                case KEY_MAX_LAG:
                case KEY_RESUME_LAG:
                case KEY_RETRY_BASE_MS:
                case KEY_RETRY_CAP_MS:
                case KEY_MAX_ATTEMPTS: {
                        int64_t number;
                        ok = read_int(parser, key_path, value, domain_keys[key].min, domain_keys[key].max, &number);
                        if (!ok)
                                break;
                        if (key == KEY_MAX_LAG)
                                settings->max_lag = number;
                        else if (key == KEY_RESUME_LAG)
                                settings->resume_lag = number;
                        else if (key == KEY_RETRY_BASE_MS)
                                settings->retry_base_ms = number;
                        else if (key == KEY_RETRY_CAP_MS)
                                settings->retry_cap_ms = number;
                        else
                                settings->max_attempts = (int32_t)number;
                        break;
                }
                case KEY_QUOTA_SHARE:
                        ok = read_fraction_or_null(parser, key_path, value, &settings->has_quota,
                                                   &settings->quota_share);
                        break;
                case KEY_APPROVAL_RISK_THRESHOLD:
                        ok = read_fraction_or_null(parser, key_path, value, &settings->has_approval,
                                                   &settings->approval_risk_threshold);
                        break;
                case KEY_ON_DEADLINE: ok = read_on_deadline(parser, key_path, value, &settings->on_deadline); break;
                case KEY_DECISION_DEADLINE_MS:
                        ok = read_int(parser, key_path, value, domain_keys[key].min, domain_keys[key].max,
                                      &settings->decision_deadline_ms);
                        break;
                case KEY_AGENT: ok = read_agent(parser, key_path, value, &settings->agent); break;
                default: ok = read_resilience_key(parser, key_path, key, value, settings); break;
                }
                if (ok)
                        set |= BIT(key);
        }
        return set;
}

/* " (from defaults)" and the like, for a value that was not set in the section at fault. */
static const char *origin_note(unsigned set_here, unsigned set_in_defaults, int key, bool in_domain) {
        if (set_here & BIT(key))
                return "";
        if (in_domain && (set_in_defaults & BIT(key)))
                return " (from defaults)";
        if (key == KEY_RETRY_BASE_MS || key == KEY_RETRY_CAP_MS || key == KEY_MAX_ATTEMPTS)
                return " (from the config's backlog settings)";
        return " (built in)";
}

/*
 * The rules between keys of one resolved section: resume_lag < max_lag,
 * retry_base_ms <= retry_cap_ms. A pair is judged where one of its keys was
 * set: a domain whose section names neither was judged with the defaults.
 */
static void check_pairs(parser_t *parser, const char *path, const bl_domain_policy_t *settings, unsigned set_here,
                        unsigned set_in_defaults, bool in_domain) {
        char key_path[512];
        if ((set_here & (BIT(KEY_MAX_LAG) | BIT(KEY_RESUME_LAG))) && settings->resume_lag >= settings->max_lag) {
                join_path(key_path, sizeof(key_path), path, set_here & BIT(KEY_RESUME_LAG) ? "resume_lag" : "max_lag");
                report(parser, true, key_path,
                       "resume_lag %lld%s must be below max_lag %lld%s, or the domain would never open again",
                       (long long)settings->resume_lag,
                       origin_note(set_here, set_in_defaults, KEY_RESUME_LAG, in_domain), (long long)settings->max_lag,
                       origin_note(set_here, set_in_defaults, KEY_MAX_LAG, in_domain));
        }
        if ((set_here & (BIT(KEY_RETRY_BASE_MS) | BIT(KEY_RETRY_CAP_MS))) &&
            settings->retry_base_ms > settings->retry_cap_ms) {
                join_path(key_path, sizeof(key_path), path,
                          set_here & BIT(KEY_RETRY_CAP_MS) ? "retry_cap_ms" : "retry_base_ms");
                report(parser, true, key_path, "retry_base_ms %lld%s exceeds retry_cap_ms %lld%s",
                       (long long)settings->retry_base_ms,
                       origin_note(set_here, set_in_defaults, KEY_RETRY_BASE_MS, in_domain),
                       (long long)settings->retry_cap_ms,
                       origin_note(set_here, set_in_defaults, KEY_RETRY_CAP_MS, in_domain));
        }
}

/* ---- the document ---------------------------------------------------------------------- */

static void read_weights(parser_t *parser, bl_policy_t *policy, const json_t *weights, const char *prefix) {
        char path[512], member_path[512];
        const char *member;
        const json_t *value;
        const char *criterion_names[BL_POLICY_CRITERIA];
        criterion_names_of(criterion_names);
        join_path(path, sizeof(path), prefix, "weights");
        if (!weights) {
                report(parser, true, path,
                       "missing: a policy must weigh at least one criterion (%s, %s, %s, %s, %s, %s, %s)",
                       criterion_names[0], criterion_names[1], criterion_names[2], criterion_names[3],
                       criterion_names[4], criterion_names[5], criterion_names[6]);
                return;
        }
        if (!json_is_object(weights)) {
                report(parser, true, path, "expected an object of criterion weights, got %s", json_type_name(weights));
                return;
        }
        bool any_set = false, all_ok = true;
        json_object_foreach((json_t *)weights, member, value) {
                if (is_comment(member))
                        continue;
                join_path(member_path, sizeof(member_path), path, member);
                size_t i;
                for (i = 0; i < BL_POLICY_CRITERIA && strcmp(member, criterion_names[i]); i++)
                        ;
                if (i == BL_POLICY_CRITERIA) {
                        report_unknown(parser, member_path, member, criterion_names, BL_POLICY_CRITERIA);
                        all_ok = false;
                        continue;
                }
                if (read_number(parser, member_path, value, BL_POLICY_WEIGHT_MIN, BL_POLICY_WEIGHT_MAX,
                                &policy->weights[i]))
                        any_set = any_set || policy->weights[i] != 0;
                else
                        all_ok = false;
        }
        if (all_ok && !any_set)
                report(parser, true, path, "every weight is 0: every task would score 0");
}

static void read_criteria(parser_t *parser, bl_policy_t *policy, const json_t *criteria, const char *prefix) {
        char path[512], member_path[512];
        const char *member;
        const json_t *value;
        const char *names[BL_POLICY_HORIZONS];
        for (size_t i = 0; i < BL_POLICY_HORIZONS; i++)
                names[i] = horizon_keys[i];
        if (!criteria)
                return;
        join_path(path, sizeof(path), prefix, "criteria");
        if (!json_is_object(criteria)) {
                report(parser, true, path, "expected an object of horizons, got %s", json_type_name(criteria));
                return;
        }
        json_object_foreach((json_t *)criteria, member, value) {
                if (is_comment(member))
                        continue;
                join_path(member_path, sizeof(member_path), path, member);
                size_t i;
                for (i = 0; i < BL_POLICY_HORIZONS && strcmp(member, horizon_keys[i]); i++)
                        ;
                if (i == BL_POLICY_HORIZONS)
                        report_unknown(parser, member_path, member, names, BL_POLICY_HORIZONS);
                else
                        read_int(parser, member_path, value, HORIZON_MIN_MS, HORIZON_MAX_MS, &policy->horizons_ms[i]);
        }
}

/* Warns when the aging weight cannot outgrow the other criteria: then a task can wait forever. */
static void check_aging(parser_t *parser, const bl_policy_t *policy, const char *prefix) {
        char path[512];
        double others = 0;
        for (size_t i = 0; i < BL_POLICY_CRITERIA; i++)
                if (i != BL_CRITERION_AGING)
                        others += fabs(policy->weights[i]);
        if (policy->weights[BL_CRITERION_AGING] > others)
                return;
        join_path(path, sizeof(path), prefix, "weights.aging");
        report(parser, false, path,
               "%g does not exceed %g, the sum of the other weights' magnitudes: under a steady stream of "
               "better tasks a task can wait forever; above it, a task READY for aging_horizon_ms outranks "
               "every task that has just become READY",
               policy->weights[BL_CRITERION_AGING], others);
}

/* The position of @p name among @p domains, or SIZE_MAX. */
static size_t domain_index(const char *const *domains, size_t domain_count, const char *name) {
        for (size_t i = 0; i < domain_count; i++)
                if (!strcmp(domains[i], name))
                        return i;
        return SIZE_MAX;
}

/*
 * The "domains" section against the configured domains: reports unknown
 * ones and non-objects, and fills @p sections (one per configured domain,
 * NULL when it has none). With no configured domains, the names in the
 * section become the domains (*names, allocated).
 */
static bool index_domain_sections(parser_t *parser, const json_t *section, const char *path, const char *const *domains,
                                  size_t domain_count, const json_t ***sections, const char ***names, size_t *count) {
        const char *member;
        const json_t *value;
        size_t listed_count = 0;
        if (section && !json_is_object(section)) {
                report(parser, true, path, "expected an object with one member per domain, got %s",
                       json_type_name(section));
                section = NULL;
        }
        if (!domains) {
                json_object_foreach((json_t *)section, member, value) {
                        listed_count += !is_comment(member);
                }
                domain_count = listed_count;
        }
        *sections = calloc(domain_count ? domain_count : 1, sizeof(**sections));
        *names = calloc(domain_count ? domain_count : 1, sizeof(**names));
        if (!*sections || !*names) {
                report(parser, true, path, "out of memory");
                return false;
        }
        *count = domain_count;
        if (domains)
                for (size_t i = 0; i < domain_count; i++)
                        (*names)[i] = domains[i];
        listed_count = 0;
        if (!section)
                return true;
        json_object_foreach((json_t *)section, member, value) {
                char member_path[512];
                size_t index;
                if (is_comment(member))
                        continue;
                join_path(member_path, sizeof(member_path), path, member);
                if (!domains) {
                        index = listed_count++;
                        (*names)[index] = member;
                } else if ((index = domain_index(domains, domain_count, member)) == SIZE_MAX) {
                        const char *suggestion = closest(member, domains, domain_count);
                        char known[512];
                        size_t used = 0;
                        known[0] = '\0';
                        for (size_t i = 0; i < domain_count && used < sizeof(known); i++)
                                used += (size_t)snprintf(known + used, sizeof(known) - used, "%s%s", i ? ", " : "",
                                                         domains[i]);
                        if (suggestion)
                                report(parser, true, member_path, "unknown domain (did you mean %s?)", suggestion);
                        else
                                report(parser, true, member_path, "unknown domain: the configured domains are %s",
                                       known);
                        continue;
                }
                (*sections)[index] = value;
        }
        return true;
}

/* Shares of the domains that have a quota must leave room for each other: at most 1 in all. */
static void check_quota_sum(parser_t *parser, const bl_policy_t *policy, bool any_domain_sets_quota,
                            const char *prefix) {
        char path[512], detail[400];
        double sum = 0;
        size_t used = 0;
        detail[0] = '\0';
        for (size_t i = 0; i < policy->domain_count; i++) {
                const bl_domain_policy_t *settings = &policy->domains[i];
                if (!settings->has_quota)
                        continue;
                sum += settings->quota_share;
                if (used < sizeof(detail))
                        used += (size_t)snprintf(detail + used, sizeof(detail) - used, "%s%s %g", used ? ", " : "",
                                                 settings->domain, settings->quota_share);
        }
        if (sum <= 1.0 + 1e-9)
                return;
        join_path(path, sizeof(path), prefix, any_domain_sets_quota ? "domains" : "defaults.quota_share");
        report(parser, true, path, "quota shares sum to %g (%s): they must sum to at most 1", sum, detail);
}

static bl_policy_t *parse_policy(parser_t *parser, const json_t *root, const char *prefix, const char *const *domains,
                                 size_t domain_count, const bl_policy_fallback_t *fallback, bool is_canary);

static bool finish_canary(parser_t *parser, bl_policy_t *policy, bl_policy_t *canary, double fraction);

/* The "canary" section: {"fraction": f, "policy": {...}}. False only when out of memory. */
static bool read_canary(parser_t *parser, bl_policy_t *policy, const json_t *canary,
                        const bl_policy_fallback_t *fallback) {
        const char *member;
        const json_t *value, *fraction = NULL, *document = NULL;
        double fraction_value = 0.0;
        if (!json_is_object(canary)) {
                report(parser, true, "canary", "expected an object {\"fraction\": ..., \"policy\": {...}}, got %s",
                       json_type_name(canary));
                return true;
        }
        json_object_foreach((json_t *)canary, member, value) {
                char path[512];
                if (is_comment(member))
                        continue;
                join_path(path, sizeof(path), "canary", member);
                if (!strcmp(member, "fraction"))
                        fraction = value;
                else if (!strcmp(member, "policy"))
                        document = value;
                else
                        report_unknown(parser, path, member, canary_keys, COUNT(canary_keys));
        }
        if (!fraction)
                report(parser, true, "canary.fraction", "missing: the fraction of tasks the canary scores, in [0, 1]");
        else if (read_number(parser, "canary.fraction", fraction, 0.0, 1.0, &fraction_value)) {
                if (fraction_value == 0)
                        report(parser, false, "canary.fraction", "0: the canary scores no task");
                else if (fraction_value == 1)
                        report(parser, false, "canary.fraction", "1: the canary scores every task; promote it instead");
        }
        if (!document) {
                report(parser, true, "canary.policy", "missing: the candidate policy, a full policy document");
                return true;
        }
        if (!json_is_object(document)) {
                report(parser, true, "canary.policy", "expected a policy document (an object), got %s",
                       json_type_name(document));
                return true;
        }
        /* The canary knows the main policy's domains, whether configured or named by the document. */
        const char **domains = calloc(policy->domain_count ? policy->domain_count : 1, sizeof(*domains));
        if (!domains)
                return false;
        for (size_t i = 0; i < policy->domain_count; i++)
                domains[i] = policy->domains[i].domain;
        bl_policy_t *canary_policy =
                parse_policy(parser, document, "canary.policy", domains, policy->domain_count, fallback, true);
        free(domains);
        return canary_policy ? finish_canary(parser, policy, canary_policy, fraction_value) : true;
}

static bool same_approval(const bl_domain_policy_t *a, const bl_domain_policy_t *b) {
        return a->has_approval == b->has_approval &&
               (!a->has_approval || a->approval_risk_threshold == b->approval_risk_threshold);
}

/*
 * Joins @p canary (taken over) to @p policy for @p fraction of the tasks,
 * with the problems only the pair shows: the same name@version, an approval
 * guardrail weaker than the main policy's. False only when out of memory.
 */
static bool finish_canary(parser_t *parser, bl_policy_t *policy, bl_policy_t *canary, double fraction) {
        if (policy->label && canary->label && !strcmp(policy->label, canary->label))
                report(parser, true, "canary.policy.version",
                       "the canary is %s like the main policy: give it another version (or name) so that decisions "
                       "and metrics tell them apart",
                       canary->label);
        if (!bl_policy_attach_canary(policy, canary, fraction))
                return false;
        if (bl_policy_approval_weaker(&canary->defaults, &policy->defaults))
                report(parser, false, "canary.policy.defaults.approval_risk_threshold",
                       "weaker than the main policy's %g: tasks that the main policy holds for approval would be "
                       "dispatched without it when the canary scores them",
                       policy->defaults.approval_risk_threshold);
        for (size_t i = 0; i < canary->domain_count; i++) {
                const bl_domain_policy_t *main_settings = bl_policy_domain(policy, canary->domains[i].domain);
                const bl_domain_policy_t *settings = &canary->domains[i];
                /* A domain that only repeats the defaults was judged with them. */
                bool own =
                        !same_approval(settings, &canary->defaults) || !same_approval(main_settings, &policy->defaults);
                if (own && bl_policy_approval_weaker(settings, main_settings)) {
                        char domain_path[512], path[512];
                        join_path(domain_path, sizeof(domain_path), "canary.policy.domains", settings->domain);
                        join_path(path, sizeof(path), domain_path, "approval_risk_threshold");
                        report(parser, false, path,
                               "weaker than the main policy's %g: tasks of %s that the main policy holds for "
                               "approval would be dispatched without it when the canary scores them",
                               main_settings->approval_risk_threshold, settings->domain);
                }
        }
        return true;
}

static bl_policy_t *parse_policy(parser_t *parser, const json_t *root, const char *prefix, const char *const *domains,
                                 size_t domain_count, const bl_policy_fallback_t *fallback, bool is_canary) {
        const json_t *sections_by_key[COUNT(root_keys)] = {NULL};
        const json_t **domain_sections = NULL;
        const char **domain_names = NULL;
        const char *member;
        const json_t *value;
        char path[512];
        unsigned defaults_set = 0;
        bool any_domain_sets_quota = false;
        bl_policy_t *policy = bl_policy_new(fallback);
        if (!policy) {
                report(parser, true, prefix, "out of memory");
                return NULL;
        }
        policy->is_canary = is_canary;

        json_object_foreach((json_t *)root, member, value) {
                if (is_comment(member))
                        continue;
                join_path(path, sizeof(path), prefix, member);
                size_t i;
                for (i = 0; i < COUNT(root_keys) && strcmp(member, root_keys[i]); i++)
                        ;
                if (i == COUNT(root_keys))
                        report_unknown(parser, path, member, root_keys, COUNT(root_keys));
                else
                        sections_by_key[i] = value;
        }

        /* name, version, description */
        join_path(path, sizeof(path), prefix, "name");
        if (!sections_by_key[0])
                report(parser, true, path, "missing: a policy needs a name");
        else
                policy->name = read_label(parser, path, sections_by_key[0], NAME_MAX_LEN, false);
        join_path(path, sizeof(path), prefix, "version");
        if (!sections_by_key[1])
                report(parser, true, path, "missing: a policy needs a version");
        else
                policy->version = read_label(parser, path, sections_by_key[1], VERSION_MAX_LEN, true);
        if (sections_by_key[2]) {
                join_path(path, sizeof(path), prefix, "description");
                if (!json_is_string(sections_by_key[2]))
                        report(parser, true, path, "expected a string, got %s", json_type_name(sections_by_key[2]));
                else if (strlen(json_string_value(sections_by_key[2])) > DESCRIPTION_MAX_LEN)
                        report(parser, true, path, "is longer than %d characters", DESCRIPTION_MAX_LEN);
                else {
                        free(policy->description);
                        if (!(policy->description = strdup(json_string_value(sections_by_key[2]))))
                                goto oom;
                }
        }
        read_weights(parser, policy, sections_by_key[3], prefix);
        read_criteria(parser, policy, sections_by_key[4], prefix);
        if (!bl_policy_finish(policy)) /* the label name@version, which the canary's check reads */
                goto oom;

        /* defaults, then each domain over them */
        join_path(path, sizeof(path), prefix, "defaults");
        if (sections_by_key[5]) {
                defaults_set = read_domain_section(parser, sections_by_key[5], path, &policy->defaults, is_canary,
                                                   false);
                check_pairs(parser, path, &policy->defaults, defaults_set, 0, false);
        }
        join_path(path, sizeof(path), prefix, "domains");
        if (!index_domain_sections(parser, sections_by_key[6], path, domains, domain_count, &domain_sections,
                                   &domain_names, &policy->domain_count))
                goto oom;
        policy->domains = calloc(policy->domain_count ? policy->domain_count : 1, sizeof(*policy->domains));
        if (!policy->domains)
                goto oom;
        for (size_t i = 0; i < policy->domain_count; i++) {
                bl_domain_policy_t *settings = &policy->domains[i];
                char domain_path[512];
                unsigned set = 0;
                *settings = policy->defaults;
                settings->domain = strdup(domain_names[i]);
                settings->worker_group = NULL;
                settings->agent = NULL; /* never in the defaults: an agent belongs to one domain */
                bool resilience_oom;
                settings->resilience = bl_resilience_policy_copy(policy->defaults.resilience, &resilience_oom);
                if (!settings->domain || resilience_oom)
                        goto oom;
                join_path(domain_path, sizeof(domain_path), path, domain_names[i]);
                if (domain_sections[i])
                        set = read_domain_section(parser, domain_sections[i], domain_path, settings, is_canary,
                                                  true);
                if (!(set & BIT(KEY_WORKER_GROUP)))
                        settings->worker_group = expand_group(policy->defaults.worker_group, settings->domain);
                else {
                        char *own = (char *)settings->worker_group;
                        settings->worker_group = expand_group(own, settings->domain);
                        free(own);
                }
                if (!settings->worker_group)
                        goto oom;
                any_domain_sets_quota = any_domain_sets_quota || (set & BIT(KEY_QUOTA_SHARE));
                check_pairs(parser, domain_path, settings, set, defaults_set, true);
        }
        if (!is_canary) {
                check_quota_sum(parser, policy, any_domain_sets_quota, prefix);
                check_remediation_domains(parser, policy, domains, domain_count, prefix);
        }
        if (parser->fatal_count == 0)
                check_aging(parser, policy, prefix);

        if (sections_by_key[7]) {
                if (is_canary) {
                        join_path(path, sizeof(path), prefix, "canary");
                        report(parser, true, path, "a canary cannot carry a canary of its own");
                } else {
                        if (!read_canary(parser, policy, sections_by_key[7], fallback))
                                goto oom;
                }
        }
        free(domain_sections);
        free(domain_names);
        return policy;

oom:
        report(parser, true, prefix, "out of memory");
        free(domain_sections);
        free(domain_names);
        bl_policy_destroy(policy);
        return NULL;
}

bl_policy_t *bl_policy_parse_with(const char *text, size_t len, const char *const *domains, size_t domain_count,
                                  const bl_policy_fallback_t *fallback, bl_policy_problem_cb *cb, void *opaque) {
        parser_t parser = {cb, opaque, 0};
        json_error_t error;
        json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &error);
        bl_policy_t *policy = NULL;
        if (!root) {
                if (error.line > 0)
                        report(&parser, true, "", "line %d, column %d: %s", error.line, error.column, error.text);
                else
                        report(&parser, true, "", "%s", error.text);
                return NULL;
        }
        if (!json_is_object(root))
                report(&parser, true, "", "a policy is one JSON object, this is %s", json_type_name(root));
        else
                policy = parse_policy(&parser, root, "", domains, domain_count,
                                      fallback ? fallback : &bl_policy_builtin_fallback, false);
        json_decref(root);
        if (parser.fatal_count > 0) {
                bl_policy_destroy(policy);
                return NULL;
        }
        return policy;
}

bl_policy_t *bl_policy_parse(const char *text, size_t len, const char *const *domains, size_t domain_count,
                             bl_policy_problem_cb *cb, void *opaque) {
        return bl_policy_parse_with(text, len, domains, domain_count, NULL, cb, opaque);
}

bl_policy_t *bl_policy_load_file(const char *path, const char *const *domains, size_t domain_count,
                                 const bl_policy_fallback_t *fallback, bl_policy_problem_cb *cb, void *opaque) {
        char reason[512];
        FILE *file = fopen(path, "rb");
        char *text = NULL;
        size_t size = 0;
        bl_policy_t *policy = NULL;
        if (!file) {
                snprintf(reason, sizeof(reason), "cannot open: %s", strerror(errno));
                goto fail;
        }
        if (fseek(file, 0, SEEK_END) || ftell(file) < 0) {
                snprintf(reason, sizeof(reason), "cannot read: %s", strerror(errno));
                goto fail;
        }
        if (ftell(file) > FILE_MAX_BYTES) {
                snprintf(reason, sizeof(reason), "larger than %ld bytes: not a policy", FILE_MAX_BYTES);
                goto fail;
        }
        size = (size_t)ftell(file);
        rewind(file);
        text = malloc(size ? size : 1);
        if (!text || fread(text, 1, size, file) != size) {
                snprintf(reason, sizeof(reason), "cannot read: %s", text ? strerror(errno) : "out of memory");
                goto fail;
        }
        fclose(file);
        policy = bl_policy_parse_with(text, size, domains, domain_count, fallback, cb, opaque);
        free(text);
        return policy;

fail:
        if (cb)
                cb("", reason, true, opaque);
        if (file)
                fclose(file);
        free(text);
        return NULL;
}

/* ---- describing it ----------------------------------------------------------------------- */

static json_t *fraction_or_null(bool present, double value) {
        return present ? json_real(value) : json_null();
}

/* A domain's agent as its document: the token's variable by name, never the token. */
static json_t *describe_agent(const bl_agent_policy_t *agent) {
        json_t *object = json_object();
        const char *texts[] = {agent->url, agent->ca_location, agent->certificate_location, agent->key_location,
                               agent->token_env};
        for (int key = AGENT_URL; key <= AGENT_TOKEN_ENV; key++)
                if (texts[key])
                        json_object_set_new(object, agent_keys[key].name, json_string(texts[key]));
        json_object_set_new(object, "timeout_ms", json_integer(agent->timeout_ms));
        json_object_set_new(object, "pilot_share", json_real(agent->pilot_share));
        json_object_set_new(object, "max_candidates", json_integer(agent->max_candidates));
        json_object_set_new(object, "hold_max_ms", json_integer(agent->hold_max_ms));
        json_object_set_new(object, "max_held_share", json_real(agent->max_held_share));
        json_object_set_new(object, "deadline_margin_ms", json_integer(agent->deadline_margin_ms));
        json_object_set_new(object, "send_payload", json_boolean(agent->send_payload));
        json_object_set_new(object, "max_response_bytes", json_integer(agent->max_response_bytes));
        json_object_set_new(object, "breaker_failures", json_integer(agent->breaker_failures));
        json_object_set_new(object, "breaker_cooldown_ms", json_integer(agent->breaker_cooldown_ms));
        return object;
}

/* A domain's failure settings into its section of the document, as the parser reads them. */
static void describe_resilience(json_t *object, const bl_resilience_policy_t *resilience) {
        json_t *by_type = json_object(), *rules = json_array();
        const bl_breaker_policy_t *breaker = &resilience->breaker;
        json_object_set_new(object, "max_runtime_ms", json_integer(resilience->max_runtime_ms));
        for (size_t i = 0; i < resilience->runtime_by_task_type_count; i++)
                json_object_set_new(by_type, resilience->runtime_by_task_type[i].task_type,
                                    json_integer(resilience->runtime_by_task_type[i].max_runtime_ms));
        json_object_set_new(object, "max_runtime_ms_by_task_type", by_type);
        json_object_set_new(object, "breaker",
                            json_pack("{s:b, s:f, s:I, s:i, s:I, s:i}", "enabled", breaker->enabled, "failure_share",
                                      breaker->failure_share, "window_ms", (json_int_t)breaker->window_ms,
                                      "min_results", (int)breaker->min_results, "cooldown_ms",
                                      (json_int_t)breaker->cooldown_ms, "probes", (int)breaker->probes));
        for (size_t i = 0; i < resilience->rule_count; i++) {
                const bl_remediation_rule_t *rule = &resilience->rules[i];
                json_t *entry = json_pack("{s:s, s:s, s:s, s:i}", "reason", "retries.exhausted", "domain",
                                          rule->remediation_domain ? rule->remediation_domain : "",
                                          "remediation_task_type",
                                          rule->remediation_task_type ? rule->remediation_task_type : "",
                                          "max_rounds", (int)rule->max_rounds);
                if (rule->task_type)
                        json_object_set_new(entry, "task_type", json_string(rule->task_type));
                if (rule->error_code)
                        json_object_set_new(entry, "error_code", json_string(rule->error_code));
                json_array_append_new(rules, entry);
        }
        json_object_set_new(object, "remediation", rules);
}

static json_t *describe_settings(const bl_domain_policy_t *settings, bool is_canary) {
        json_t *object = json_object();
        if (!is_canary) {
                json_object_set_new(object, "worker_group", json_string(settings->worker_group));
                json_object_set_new(object, "max_lag", json_integer(settings->max_lag));
                json_object_set_new(object, "resume_lag", json_integer(settings->resume_lag));
        }
        json_object_set_new(object, "retry_base_ms", json_integer(settings->retry_base_ms));
        json_object_set_new(object, "retry_cap_ms", json_integer(settings->retry_cap_ms));
        json_object_set_new(object, "max_attempts", json_integer(settings->max_attempts));
        if (!is_canary)
                json_object_set_new(object, "quota_share",
                                    fraction_or_null(settings->has_quota, settings->quota_share));
        json_object_set_new(object, "approval_risk_threshold",
                            fraction_or_null(settings->has_approval, settings->approval_risk_threshold));
        json_object_set_new(object, "on_deadline", json_string(bl_on_deadline_name(settings->on_deadline)));
        json_object_set_new(object, "decision_deadline_ms", json_integer(settings->decision_deadline_ms));
        if (settings->agent)
                json_object_set_new(object, "agent", describe_agent(settings->agent));
        if (settings->resilience && !is_canary)
                describe_resilience(object, settings->resilience);
        return object;
}

json_t *bl_policy_describe(const bl_policy_t *policy) {
        json_t *root = json_object(), *weights = json_object(), *criteria = json_object(), *domains = json_object();
        const char *criterion_names[BL_POLICY_CRITERIA];
        criterion_names_of(criterion_names);
        json_object_set_new(root, "name", json_string(policy->name));
        json_object_set_new(root, "version", json_string(policy->version));
        if (*policy->description)
                json_object_set_new(root, "description", json_string(policy->description));
        for (size_t i = 0; i < BL_POLICY_CRITERIA; i++)
                json_object_set_new(weights, criterion_names[i], json_real(policy->weights[i]));
        json_object_set_new(root, "weights", weights);
        for (size_t i = 0; i < BL_POLICY_HORIZONS; i++)
                json_object_set_new(criteria, horizon_keys[i], json_integer(policy->horizons_ms[i]));
        json_object_set_new(root, "criteria", criteria);
        json_object_set_new(root, "defaults", describe_settings(&policy->defaults, policy->is_canary));
        for (size_t i = 0; i < policy->domain_count; i++)
                json_object_set_new(domains, policy->domains[i].domain,
                                    describe_settings(&policy->domains[i], policy->is_canary));
        json_object_set_new(root, "domains", domains);
        if (policy->canary) {
                json_t *canary = json_object();
                json_object_set_new(canary, "fraction", json_real(policy->canary_fraction));
                json_object_set_new(canary, "policy", bl_policy_describe(policy->canary));
                json_object_set_new(root, "canary", canary);
        }
        return root;
}
