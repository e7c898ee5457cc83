/*
 * request.h: a consultation as the JSON body backlogd POSTs to an agent
 * (schemas/agent/request-v1.json, docs/agents.md).
 */
#ifndef BL_AGENT_REQUEST_H
#define BL_AGENT_REQUEST_H

#include <stddef.h>

#include "base/err.h"
#include "core/agent.h"

/** The request schema's name and version, the value of its "schema" member. */
#define BL_AGENT_REQUEST_SCHEMA "backlogd.agent.request.v1"
/** The most candidates a request carries, whatever max_candidates says (the schema's maxItems). */
#define BL_AGENT_CANDIDATES_MAX 500
/** The longest consultation id. */
#define BL_AGENT_CONSULTATION_ID_MAX 128

/** Whether @p id may name a consultation: 1 to 128 printable ASCII characters, no space. */
bool bl_agent_consultation_id_ok(const char *id);

/**
 * The body of @p request to the agent @p agent (its limits go in; its
 * send_payload says whether the payloads do), compact JSON, malloc'd and
 * NUL-terminated into *body, its length in *length; the caller frees it.
 * BL_ERR_INVALID_ARG for a consultation id that is not one (see above), no
 * domain, more candidates than the agent's max_candidates, or a candidate
 * without a task_id; BL_ERR_NOMEM. A number that is not finite (never from
 * a policy's score) is sent as 0. Any thread; reads only its arguments.
 */
bl_err_t bl_agent_request_encode(const bl_agent_request_t *request, const bl_agent_policy_t *agent, char **body,
                                 size_t *length, char *errstr, size_t errstr_size);

#endif
