/*
 * kind.h: what kind of task an item is (its task_type, domain, tenant and
 * SLA class), held once for all the items alike. Items point at a shared,
 * reference-counted kind instead of owning four strings each: a million READY
 * tasks usually come in a few hundred kinds. Pure C.
 */
#ifndef BL_KIND_H
#define BL_KIND_H

#include <stdbool.h>
#include <stddef.h>

/** Read-only once made; every field NULL when absent. */
typedef struct bl_kind_s {
        const char *task_type;
        const char *domain;
        const char *tenant;
        const char *sla_class;
} bl_kind_t;

/**
 * The shared kind with these four fields (each may be NULL), with one more
 * reference that the caller owns and gives back with bl_kind_release. NULL
 * when out of memory. Any thread.
 */
const bl_kind_t *bl_kind_intern(const char *task_type, const char *domain, const char *tenant, const char *sla_class);
/** One more reference to @p kind, which must come from bl_kind_intern. */
const bl_kind_t *bl_kind_hold(const bl_kind_t *kind);
/** Gives back one reference; the last one frees the kind. NULL is a no-op. */
void bl_kind_release(const bl_kind_t *kind);
/** Whether @p kind has exactly these fields (NULL apart from ""). No lock: a kind does not change. */
bool bl_kind_is(const bl_kind_t *kind, const char *task_type, const char *domain, const char *tenant,
                const char *sla_class);
/** Distinct kinds alive now (for tests and the memory benchmark). */
size_t bl_kind_count(void);

#endif
