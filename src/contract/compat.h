/*
 * compat.h: Avro schema resolution, as a yes-or-no question with a reason:
 * can data written with one schema be read with another?
 *
 * Our own implementation of the Avro specification's "Schema Resolution"
 * rules on jansson-parsed schema JSON. avro-c's resolver is not used: it
 * cannot add a reader field and crashes on some schema pairs (PITFALLS.md).
 * `backlogd contracts check` builds on it to prove that every version of a
 * contract can read the data of every earlier one (BACKWARD, transitive).
 *
 * Pure: no I/O, no globals; any thread may call it.
 */
#ifndef BL_COMPAT_H
#define BL_COMPAT_H

#include <jansson.h>
#include <stddef.h>

#include "base/err.h"

/**
 * BL_OK when data written with @p writer can be read with @p reader.
 * BL_ERR_MISMATCH when it cannot: errstr names the path and the reason, e.g.
 * "TaskEvent.tier: reader field has no default and the writer has no such field".
 * BL_ERR_INVALID_ARG when either schema is malformed (unknown type name,
 * duplicate field, bad default, ...): errstr says which schema and what.
 * BL_ERR_NOMEM when out of memory. Neither schema is modified or kept.
 */
bl_err_t bl_compat_can_read(const json_t *reader, const json_t *writer, char *errstr, size_t errstr_size);

/**
 * Every version in @p versions (oldest first, @p count of them) must read
 * the data of every earlier one: BACKWARD_TRANSITIVE. Each version is also
 * checked to be a valid schema on its own, so one version passes when it is
 * well-formed. Returns the first failure, its errstr naming the pair, e.g.
 * "version 3 cannot read version 1: TaskEvent.tier: ..." (versions count
 * from 1), or "version 2: malformed schema: ...".
 */
bl_err_t bl_compat_check_backward_transitive(const json_t *const *versions, size_t count, char *errstr,
                                             size_t errstr_size);

/** One failing pair found by bl_compat_check_each_backward(). */
typedef struct bl_compat_failure_s {
        size_t reader_index; /* the newer version, 0-based */
        size_t writer_index; /* the older one it cannot read; == reader_index when that version is malformed */
        bl_err_t err;        /* BL_ERR_MISMATCH or BL_ERR_INVALID_ARG */
        const char *reason;  /* valid during the call only */
} bl_compat_failure_t;

typedef void(bl_compat_failure_cb)(const bl_compat_failure_t *failure, void *opaque);

/**
 * The same check as bl_compat_check_backward_transitive(), but it does not
 * stop at the first failure: @p on_failure is called for every malformed
 * version and every failing (newer, older) pair, newer versions first in
 * order, then older ones from the newest down. Returns BL_OK,
 * BL_ERR_INVALID_ARG when any version is malformed (pairs involving it are
 * skipped), else BL_ERR_MISMATCH when any pair failed, or BL_ERR_NOMEM.
 */
bl_err_t bl_compat_check_each_backward(const json_t *const *versions, size_t count, bl_compat_failure_cb *on_failure,
                                       void *opaque);

#endif
