/*
 * err.h: backlogd's one error enum.
 *
 * 0 is success, negatives are local failures. Every value has one entry in
 * the table behind bl_err_str() and bl_err_name(). Calls that can fail at set-up
 * also fill a caller's buffer (char *errstr, size_t errstr_size) with the key
 * or object at fault and the reason.
 */
#ifndef BL_ERR_H
#define BL_ERR_H

#include <stdbool.h>
#include <stddef.h>

typedef enum {
        BL_OK = 0,
        BL_ERR_INVALID_ARG = -1, /* a caller passed something unusable */
        BL_ERR_NOMEM = -2,       /* allocation failed */
        BL_ERR_IO = -3,          /* file or socket I/O failed */
        BL_ERR_CONFIG = -4,      /* configuration is unusable */
        BL_ERR_KAFKA = -5,       /* a Kafka client or broker error */
        BL_ERR_TIMEOUT = -6,     /* an operation ran out of time */
        BL_ERR_NOT_FOUND = -7,   /* a named object does not exist */
        BL_ERR_MISMATCH = -8,    /* an existing object differs from what is required */
        BL_ERR_UNSUPPORTED = -9, /* not available in this build or on this peer */
        BL_ERR_UNAVAILABLE = -10, /* a peer is unreachable, overloaded or slow: transient, retry later */
        BL_ERR_REFUSED = -11,    /* a peer answered and refused: permanent for this request */
        BL_ERR_PENDING = -12,    /* asked of a peer, the answer not in yet: ask again shortly */
        BL_ERR__COUNT = 13       /* number of codes, for tables */
} bl_err_t;

/** Short description of @p err, e.g. "configuration is unusable". */
const char *bl_err_str(bl_err_t err);

/** Symbolic name of @p err, e.g. "BL_ERR_CONFIG". */
const char *bl_err_name(bl_err_t err);

/** Formats into errstr (never overflows, always terminated) and returns @p err. */
bl_err_t bl_err_set(char *errstr, size_t errstr_size, bl_err_t err, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

#endif
