/*
 * load.h: the scheduling policy's JSON document (SPEC §4, docs/policy.md)
 * read into core's bl_policy_t (core/policy.h), with every problem reported
 * by its path, and the effective policy written back as a document.
 *
 * The one place that knows the document's keys: core scores with the plain
 * structs and sees no JSON. Above core, below the pipeline and the
 * commands; no Kafka. Any thread: no state outside the call.
 */
#ifndef BL_POLICY_LOAD_H
#define BL_POLICY_LOAD_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/policy.h"

/**
 * Called once for every problem found while parsing. @p path is the JSON
 * path of the member at fault ("domains.evaluation.max_lag",
 * "canary.policy.weights.aging"), "" for the document as a whole; @p reason
 * says what is wrong. @p fatal is false for warnings, which do not stop the
 * policy (an aging weight too small to rule out starvation).
 */
typedef void(bl_policy_problem_cb)(const char *path, const char *reason, bool fatal, void *opaque);

/**
 * Parses and checks a policy document of @p len bytes. @p domains (@p
 * domain_count of them) are the configured domains: a section for any other
 * domain is an error, and every one of them gets settings (its own section
 * over the defaults). With @p domains NULL, any domain name is accepted and
 * the domains are those the document names. Retry settings the defaults
 * leave out come from @p fallback (NULL: bl_policy_builtin_fallback).
 * Every problem goes to @p cb (may be NULL), not only the first. Returns the
 * policy, or NULL when anything fatal was found (or on out of memory, which
 * is reported too).
 */
bl_policy_t *bl_policy_parse_with(const char *text, size_t len, const char *const *domains, size_t domain_count,
                                  const bl_policy_fallback_t *fallback, bl_policy_problem_cb *cb, void *opaque);

/** bl_policy_parse_with and the built-in fallback. */
bl_policy_t *bl_policy_parse(const char *text, size_t len, const char *const *domains, size_t domain_count,
                             bl_policy_problem_cb *cb, void *opaque);

/**
 * Reads the file at @p path and parses it like bl_policy_parse_with. A file
 * that cannot be read is reported with path "" (the file as a whole) and
 * the reason ("cannot open: No such file or directory"). For the SIGHUP
 * path: on NULL the caller keeps its running policy.
 */
bl_policy_t *bl_policy_load_file(const char *path, const char *const *domains, size_t domain_count,
                                 const bl_policy_fallback_t *fallback, bl_policy_problem_cb *cb, void *opaque);

/**
 * The effective policy as a JSON document of the same format (a new
 * reference): every weight, horizon and domain setting resolved, the
 * canary included. It parses again to the same policy.
 */
json_t *bl_policy_describe(const bl_policy_t *policy);

#endif
