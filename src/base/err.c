/*
 * err.c: the table behind bl_err_t.
 *
 * One row per code, indexed by the code's negation, so adding a code means
 * adding one row here and one line in err.h; a unit test checks that every
 * code has a name. Safe from any thread: the table is read-only.
 */
#include "base/err.h"

#include <stdarg.h>
#include <stdio.h>

static const struct {
        const char *name;
        const char *desc;
} err_table[BL_ERR__COUNT] = {
        [0] = {"BL_OK", "success"},
        [-BL_ERR_INVALID_ARG] = {"BL_ERR_INVALID_ARG", "invalid argument"},
        [-BL_ERR_NOMEM] = {"BL_ERR_NOMEM", "out of memory"},
        [-BL_ERR_IO] = {"BL_ERR_IO", "input/output error"},
        [-BL_ERR_CONFIG] = {"BL_ERR_CONFIG", "configuration is unusable"},
        [-BL_ERR_KAFKA] = {"BL_ERR_KAFKA", "Kafka error"},
        [-BL_ERR_TIMEOUT] = {"BL_ERR_TIMEOUT", "timed out"},
        [-BL_ERR_NOT_FOUND] = {"BL_ERR_NOT_FOUND", "not found"},
        [-BL_ERR_MISMATCH] = {"BL_ERR_MISMATCH", "differs from what is required"},
        [-BL_ERR_UNSUPPORTED] = {"BL_ERR_UNSUPPORTED", "not supported"},
        [-BL_ERR_UNAVAILABLE] = {"BL_ERR_UNAVAILABLE", "temporarily unavailable"},
        [-BL_ERR_REFUSED] = {"BL_ERR_REFUSED", "refused by the peer"},
        [-BL_ERR_PENDING] = {"BL_ERR_PENDING", "answer pending"},
};

static int err_index(bl_err_t err) {
        int idx = -(int)err;
        if (idx < 0 || idx >= BL_ERR__COUNT || !err_table[idx].name)
                return -1;
        return idx;
}

const char *bl_err_str(bl_err_t err) {
        int idx = err_index(err);
        return idx < 0 ? "unknown error" : err_table[idx].desc;
}

const char *bl_err_name(bl_err_t err) {
        int idx = err_index(err);
        return idx < 0 ? "BL_ERR_UNKNOWN" : err_table[idx].name;
}

bl_err_t bl_err_set(char *errstr, size_t errstr_size, bl_err_t err, const char *fmt, ...) {
        if (errstr && errstr_size > 0) {
                va_list ap;
                va_start(ap, fmt);
                vsnprintf(errstr, errstr_size, fmt, ap);
                va_end(ap);
        }
        return err;
}
