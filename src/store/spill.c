/*
 * spill.c: the spill store, an append-only file of opaque blobs outside the
 * heap and outside RSS.
 *
 * The file is made with mkstemp in the directory the caller names and
 * unlinked at once, so it has no name to clean up and goes with the last
 * close (a crash included). Blobs are read with pread and written with
 * pwrite, never mapped: a mapped page that the process touches counts in its
 * RSS (RssFile), while pread'd bytes sit in the kernel's page cache, which the
 * kernel reclaims under pressure, as it does RocksDB's SST blocks.
 *
 * Appends go through one buffer of BL_SPILL_BUFFER_BYTES written with one
 * pwrite when it fills, so a batch of blobs costs one system call, not one
 * each. The offsets handed out count the buffer's bytes as if they were in
 * the file already (file_end + buffered): a read of a blob still in the
 * buffer is served from it. When a write fails the buffer stays whole and is
 * written by the next append or flush, so a transient fault (disk full, a
 * file size limit) refuses the new blob and loses none of the old ones.
 *
 * Invariants: file_end is the file's size; every byte below file_end +
 * buffered belongs to a blob appended once; live_bytes + dead_bytes is the
 * sum of the blobs appended since the last compaction (or the store's
 * start). Not thread-safe: one owner, one thread.
 */
#define _GNU_SOURCE
#include "store/spill.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SPILL_FILE_PREFIX "backlogd-spill-"

struct bl_spill_s {
        int fd;
        char *dir;
        uint64_t file_end;       /* bytes written to the file */
        unsigned char *buffer;   /* BL_SPILL_BUFFER_BYTES, the blobs not written yet */
        size_t buffered;
        bl_spill_stats_t stats;  /* file_bytes is derived, the rest kept here */
};

/* The directory a store goes in: @p dir, else $TMPDIR, else /tmp. */
static const char *spill_dir_or_default(const char *dir) {
        if (dir && dir[0])
                return dir;
        const char *tmpdir = getenv("TMPDIR");
        return tmpdir && tmpdir[0] ? tmpdir : "/tmp";
}

/* Makes and unlinks a file in @p dir; its descriptor in *@p fd_out. */
static bl_err_t open_unlinked_file(const char *dir, int *fd_out, char *errstr, size_t errstr_size) {
        size_t path_size = strlen(dir) + sizeof("/" SPILL_FILE_PREFIX "XXXXXX");
        char *path = malloc(path_size);
        if (!path)
                return bl_err_set(errstr, errstr_size, BL_ERR_NOMEM, "spill store: out of memory");
        snprintf(path, path_size, "%s/" SPILL_FILE_PREFIX "XXXXXX", dir);
        int fd = mkostemp(path, O_CLOEXEC);
        if (fd < 0) {
                int saved = errno;
                free(path);
                return bl_err_set(errstr, errstr_size, BL_ERR_IO,
                                  "spill store: cannot make a file in backlog.spill_dir \"%s\": %s", dir,
                                  strerror(saved));
        }
        if (unlink(path) != 0) {
                int saved = errno;
                close(fd);
                bl_err_set(errstr, errstr_size, BL_ERR_IO, "spill store: cannot unlink %s: %s", path,
                           strerror(saved));
                free(path);
                return BL_ERR_IO;
        }
        free(path);
        *fd_out = fd;
        return BL_OK;
}

/* Writes all @p len bytes at @p offset, through short writes and EINTR. */
static bl_err_t write_all(int fd, const void *bytes, size_t len, uint64_t offset, char *errstr,
                          size_t errstr_size) {
        const unsigned char *next = bytes;
        while (len > 0) {
                ssize_t written = pwrite(fd, next, len, (off_t)offset);
                if (written < 0 && errno == EINTR)
                        continue;
                if (written <= 0)
                        return bl_err_set(errstr, errstr_size, BL_ERR_IO,
                                          "spill store: cannot write %zu bytes at offset %llu: %s", len,
                                          (unsigned long long)offset,
                                          written < 0 ? strerror(errno) : "no progress");
                next += written;
                len -= (size_t)written;
                offset += (uint64_t)written;
        }
        return BL_OK;
}

/* Reads all @p len bytes at @p offset; a file that ends first is an error. */
static bl_err_t read_all(int fd, void *out, size_t len, uint64_t offset, char *errstr, size_t errstr_size) {
        unsigned char *next = out;
        while (len > 0) {
                ssize_t got = pread(fd, next, len, (off_t)offset);
                if (got < 0 && errno == EINTR)
                        continue;
                if (got <= 0)
                        return bl_err_set(errstr, errstr_size, BL_ERR_IO,
                                          "spill store: cannot read %zu bytes at offset %llu: %s", len,
                                          (unsigned long long)offset,
                                          got < 0 ? strerror(errno) : "the file ends first");
                next += got;
                len -= (size_t)got;
                offset += (uint64_t)got;
        }
        return BL_OK;
}

bl_err_t bl_spill_new(const char *dir, bl_spill_t **out, char *errstr, size_t errstr_size) {
        *out = NULL;
        bl_spill_t *spill = calloc(1, sizeof(*spill));
        if (!spill)
                return bl_err_set(errstr, errstr_size, BL_ERR_NOMEM, "spill store: out of memory");
        spill->fd = -1;
        spill->dir = strdup(spill_dir_or_default(dir));
        spill->buffer = malloc(BL_SPILL_BUFFER_BYTES);
        if (!spill->dir || !spill->buffer) {
                bl_spill_destroy(spill);
                return bl_err_set(errstr, errstr_size, BL_ERR_NOMEM, "spill store: out of memory");
        }
        bl_err_t err = open_unlinked_file(spill->dir, &spill->fd, errstr, errstr_size);
        if (err != BL_OK) {
                bl_spill_destroy(spill);
                return err;
        }
        *out = spill;
        return BL_OK;
}

void bl_spill_destroy(bl_spill_t *spill) {
        if (!spill)
                return;
        if (spill->fd >= 0)
                close(spill->fd);
        free(spill->buffer);
        free(spill->dir);
        free(spill);
}

bl_err_t bl_spill_flush(bl_spill_t *spill, char *errstr, size_t errstr_size) {
        if (spill->buffered == 0)
                return BL_OK;
        bl_err_t err = write_all(spill->fd, spill->buffer, spill->buffered, spill->file_end, errstr, errstr_size);
        if (err != BL_OK) {
                spill->stats.write_errors_total++;
                return err;
        }
        spill->file_end += spill->buffered;
        spill->buffered = 0;
        return BL_OK;
}

bl_err_t bl_spill_append(bl_spill_t *spill, const void *bytes, size_t len, bl_spill_ref_t *ref, char *errstr,
                         size_t errstr_size) {
        if (len == 0 || len > UINT32_MAX)
                return bl_err_set(errstr, errstr_size, BL_ERR_INVALID_ARG,
                                  "spill store: a blob of %zu bytes (1 to %u)", len, UINT32_MAX);
        *ref = (bl_spill_ref_t){0};
        bl_err_t err = BL_OK;
        if (spill->buffered + len > BL_SPILL_BUFFER_BYTES) {
                err = bl_spill_flush(spill, errstr, errstr_size); /* counts its own failure */
                if (err != BL_OK)
                        return err;
        }
        uint64_t offset = spill->file_end + spill->buffered;
        if (len > BL_SPILL_BUFFER_BYTES) {
                err = write_all(spill->fd, bytes, len, offset, errstr, errstr_size);
                if (err != BL_OK) {
                        spill->stats.write_errors_total++;
                        return err;
                }
                spill->file_end += len;
        } else {
                memcpy(spill->buffer + spill->buffered, bytes, len);
                spill->buffered += len;
        }
        ref->offset = offset;
        ref->len = (uint32_t)len;
        spill->stats.live_bytes += len;
        spill->stats.blobs_live++;
        spill->stats.appends_total++;
        return BL_OK;
}

bl_err_t bl_spill_read(bl_spill_t *spill, bl_spill_ref_t ref, void *out, char *errstr, size_t errstr_size) {
        uint64_t end = spill->file_end + spill->buffered;
        if (ref.len == 0 || ref.offset > end || ref.len > end - ref.offset)
                return bl_err_set(errstr, errstr_size, BL_ERR_INVALID_ARG,
                                  "spill store: a blob of %u bytes at offset %llu lies past its end (%llu bytes)", ref.len,
                                  (unsigned long long)ref.offset, (unsigned long long)end);
        spill->stats.reads_total++;
        if (ref.offset >= spill->file_end) {
                memcpy(out, spill->buffer + (ref.offset - spill->file_end), ref.len);
                return BL_OK;
        }
        /* A blob never straddles the file's end and the buffer: the buffer starts where a blob starts. */
        return read_all(spill->fd, out, ref.len, ref.offset, errstr, errstr_size);
}

void bl_spill_release(bl_spill_t *spill, bl_spill_ref_t ref) {
        if (ref.len == 0)
                return;
        spill->stats.live_bytes -= ref.len;
        spill->stats.dead_bytes += ref.len;
        spill->stats.blobs_live--;
}

bool bl_spill_wants_compaction(const bl_spill_t *spill, uint64_t min_file_bytes) {
        uint64_t file_bytes = spill->file_end + spill->buffered;
        return file_bytes >= min_file_bytes && spill->stats.dead_bytes > spill->stats.live_bytes;
}

/* The new file being written by a compaction: its descriptor, size and append buffer. */
typedef struct compact_target_s {
        int fd;
        uint64_t file_end;
        unsigned char *buffer;
        size_t buffered;
} compact_target_t;

/* Copies one blob of the old store into @p target at target->file_end + buffered. */
static bl_err_t copy_blob(bl_spill_t *spill, bl_spill_ref_t ref, compact_target_t *target, char *errstr,
                          size_t errstr_size) {
        if (target->buffered + ref.len > BL_SPILL_BUFFER_BYTES) {
                bl_err_t err = write_all(target->fd, target->buffer, target->buffered, target->file_end, errstr,
                                         errstr_size);
                if (err != BL_OK)
                        return err;
                target->file_end += target->buffered;
                target->buffered = 0;
        }
        if (ref.len <= BL_SPILL_BUFFER_BYTES) {
                bl_err_t err = bl_spill_read(spill, ref, target->buffer + target->buffered, errstr, errstr_size);
                if (err == BL_OK)
                        target->buffered += ref.len;
                return err;
        }
        unsigned char *large = malloc(ref.len);
        if (!large)
                return bl_err_set(errstr, errstr_size, BL_ERR_NOMEM, "spill store: out of memory");
        bl_err_t err = bl_spill_read(spill, ref, large, errstr, errstr_size);
        if (err == BL_OK)
                err = write_all(target->fd, large, ref.len, target->file_end, errstr, errstr_size);
        if (err == BL_OK)
                target->file_end += ref.len;
        free(large);
        return err;
}

/* Copies every blob that @p walk visits into @p target; their bytes in *live_bytes, their count in *blobs. */
static bl_err_t copy_blobs(bl_spill_t *spill, const bl_spill_walk_t *walk, compact_target_t *target,
                           uint64_t *live_bytes, uint64_t *blobs, char *errstr, size_t errstr_size) {
        uint64_t *offset;
        uint32_t len;
        walk->start(walk->opaque);
        while (walk->next(walk->opaque, &offset, &len)) {
                bl_err_t err = copy_blob(spill, (bl_spill_ref_t){*offset, len}, target, errstr, errstr_size);
                if (err != BL_OK)
                        return err;
                *live_bytes += len;
                ++*blobs;
        }
        bl_err_t err = write_all(target->fd, target->buffer, target->buffered, target->file_end, errstr,
                                 errstr_size);
        if (err == BL_OK) {
                target->file_end += target->buffered;
                target->buffered = 0;
        }
        return err;
}

/* The second walk: each blob's new offset is the sum of the sizes before it, in the walk's order. */
static void write_new_offsets(const bl_spill_walk_t *walk) {
        uint64_t *offset, next_offset = 0;
        uint32_t len;
        walk->start(walk->opaque);
        while (walk->next(walk->opaque, &offset, &len)) {
                *offset = next_offset;
                next_offset += len;
        }
}

bl_err_t bl_spill_compact(bl_spill_t *spill, const bl_spill_walk_t *walk, char *errstr, size_t errstr_size) {
        compact_target_t target = {.fd = -1};
        uint64_t live_bytes = 0, blobs = 0;
        target.buffer = malloc(BL_SPILL_BUFFER_BYTES);
        bl_err_t err = BL_OK;
        if (!target.buffer)
                err = bl_err_set(errstr, errstr_size, BL_ERR_NOMEM, "spill store: out of memory");
        if (err == BL_OK)
                err = open_unlinked_file(spill->dir, &target.fd, errstr, errstr_size);
        if (err == BL_OK)
                err = copy_blobs(spill, walk, &target, &live_bytes, &blobs, errstr, errstr_size);
        if (err == BL_OK) {
                write_new_offsets(walk);
                close(spill->fd);
                spill->fd = target.fd;
                target.fd = -1;
                spill->file_end = target.file_end;
                spill->buffered = 0;
                spill->stats.live_bytes = live_bytes;
                spill->stats.dead_bytes = 0;
                spill->stats.blobs_live = blobs;
                spill->stats.compactions_total++;
        }
        if (err == BL_ERR_IO)
                spill->stats.write_errors_total++;
        if (target.fd >= 0)
                close(target.fd);
        free(target.buffer);
        return err;
}

void bl_spill_stats(const bl_spill_t *spill, bl_spill_stats_t *out) {
        *out = spill->stats;
        out->file_bytes = spill->file_end + spill->buffered;
}

const char *bl_spill_dir(const bl_spill_t *spill) {
        return spill->dir;
}
