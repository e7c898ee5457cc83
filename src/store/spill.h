/*
 * spill.h: the spill store, an append-only file of opaque blobs that lives
 * outside the process's heap and RSS (read with pread, written with pwrite,
 * never mapped), for the tasks at rest that the backlog need not keep whole.
 *
 * A cache of backlog.state: the file is unlinked as soon as it is made, so
 * nothing in it survives the process; restore rebuilds it. Not thread-safe:
 * one owner (the backlog of one pipeline) calls it from one thread.
 */
#ifndef BL_SPILL_H
#define BL_SPILL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

typedef struct bl_spill_s bl_spill_t;

/** Where one blob is: its offset in the store and its size. len 0: no blob. */
typedef struct bl_spill_ref_s {
        uint64_t offset;
        uint32_t len;
} bl_spill_ref_t;

/** What the store holds, for metrics and the compaction rule. */
typedef struct bl_spill_stats_s {
        uint64_t file_bytes;      /* written to the file or waiting in the append buffer */
        uint64_t live_bytes;      /* of blobs appended and not released */
        uint64_t dead_bytes;      /* of blobs released since the last compaction */
        uint64_t blobs_live;      /* blobs appended and not released */
        uint64_t appends_total;   /* blobs appended since the store was made */
        uint64_t reads_total;     /* blobs read */
        uint64_t compactions_total;
        uint64_t write_errors_total; /* failed writes: appends refused, flushes, compactions */
} bl_spill_stats_t;

/** The size of the append buffer: one pwrite per this many bytes of blobs. */
#define BL_SPILL_BUFFER_BYTES ((size_t)256 * 1024)
/** A file smaller than this is never compacted, however many of its bytes are dead. */
#define BL_SPILL_COMPACT_MIN_BYTES ((uint64_t)64 * 1024 * 1024)

/**
 * A new, empty store: a file made and unlinked at once in @p dir (NULL or
 * "": $TMPDIR, else /tmp). BL_ERR_IO (errstr names the directory and the
 * reason) when the file cannot be made there; BL_ERR_NOMEM.
 */
bl_err_t bl_spill_new(const char *dir, bl_spill_t **out, char *errstr, size_t errstr_size);
/** Closes the file (its bytes go with it) and frees the store. NULL is a no-op. */
void bl_spill_destroy(bl_spill_t *spill);

/**
 * Appends the @p len bytes at @p bytes (1 to UINT32_MAX) and sets *@p ref to
 * where they are. The bytes are copied into the append buffer, written to the
 * file when it fills (a blob larger than the buffer is written at once).
 * BL_ERR_IO when the buffer could not be written (disk full, a file size
 * limit, a device error): the blob is then not stored and *@p ref is no blob (len 0),
 * but nothing appended before is lost (the buffer is kept and written by a
 * later append or flush), so the caller keeps the bytes itself and may try
 * again later.
 */
bl_err_t bl_spill_append(bl_spill_t *spill, const void *bytes, size_t len, bl_spill_ref_t *ref, char *errstr,
                         size_t errstr_size);
/** Writes the append buffer to the file. BL_ERR_IO as bl_spill_append's; the buffer then stays. */
bl_err_t bl_spill_flush(bl_spill_t *spill, char *errstr, size_t errstr_size);

/**
 * Copies the blob at @p ref into @p out (at least ref.len bytes), from the
 * append buffer or the file. BL_ERR_IO when it cannot be read whole (a device
 * error, a file cut short): the owner has lost the blob's bytes and must not
 * go on as if it had them. BL_ERR_INVALID_ARG when @p ref lies outside the store.
 */
bl_err_t bl_spill_read(bl_spill_t *spill, bl_spill_ref_t ref, void *out, char *errstr, size_t errstr_size);

/** Counts the blob at @p ref dead: the owner no longer needs it. A ref of len 0 is a no-op. */
void bl_spill_release(bl_spill_t *spill, bl_spill_ref_t ref);

/** Whether a compaction would pay: dead bytes above live bytes in a file of at least @p min_file_bytes. */
bool bl_spill_wants_compaction(const bl_spill_t *spill, uint64_t min_file_bytes);

/**
 * How a compaction visits the owner's live blobs: start() begins a walk,
 * each next() hands the place of one live blob (*@p offset points at where
 * the owner keeps its offset, *@p len is its size) and returns false after
 * the last. Every walk must visit the same blobs in the same order (the
 * owner changes nothing between them), so that no array of refs is needed.
 */
typedef struct bl_spill_walk_s {
        void *opaque;
        void (*start)(void *opaque);
        bool (*next)(void *opaque, uint64_t **offset, uint32_t *len);
} bl_spill_walk_t;

/**
 * Copies the live blobs that @p walk visits into a new file (in the same
 * directory), in that order, replaces the old file by it, then walks again
 * and writes each blob's new offset where the owner keeps it. Every live
 * blob must be visited (one that is not is lost). On any failure (BL_ERR_IO,
 * BL_ERR_NOMEM) nothing changes: the old file and every offset stay valid.
 * It takes the time of reading and writing every live byte once (about
 * 0.35 s for 1M blobs of 500 B from the page cache; bench_spill), on the
 * owner's thread.
 */
bl_err_t bl_spill_compact(bl_spill_t *spill, const bl_spill_walk_t *walk, char *errstr, size_t errstr_size);

void bl_spill_stats(const bl_spill_t *spill, bl_spill_stats_t *out);
/** The directory the store's file was made in. */
const char *bl_spill_dir(const bl_spill_t *spill);

#endif
