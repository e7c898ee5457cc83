/*
 * answer.h: an agent's response body decoded into core's plain answer
 * (core/agent.h), checked against schemas/agent/response-v1.json.
 */
#ifndef BL_AGENT_ANSWER_H
#define BL_AGENT_ANSWER_H

#include <stddef.h>

#include "base/err.h"
#include "core/agent.h"

/** The response schema's name and version, the value of its "schema" member. */
#define BL_AGENT_RESPONSE_SCHEMA "backlogd.agent.response.v1"

/**
 * Decodes the @p length bytes of @p body into @p answer (zeroed first; the
 * caller clears it with bl_agent_answer_clear), accepting exactly what the
 * response schema allows, and an answer to @p consultation_id only:
 *   BL_OK                 decoded
 *   BL_ERR_REFUSED        not JSON (or a duplicate key, or a NUL in a string): "malformed"
 *   BL_ERR_MISMATCH       JSON that the schema does not allow, or another consultation's: "invalid"
 *   BL_ERR_NOMEM
 * errstr says what and where ("holds[3].hold_ms: 0 is below 1"), never
 * quoting more than a short piece of the body. Nothing is kept of a
 * refused answer. Any thread; no state outside the call.
 */
bl_err_t bl_agent_answer_decode(const char *body, size_t length, const char *consultation_id,
                                bl_agent_answer_t *answer, char *errstr, size_t errstr_size);

#endif
