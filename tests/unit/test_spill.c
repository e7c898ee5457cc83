/*
 * test_spill.c: the spill store. Blobs read back as appended, from the append
 * buffer and from the file, small and larger than the buffer; the file has no
 * name in its directory; released blobs are counted dead and a compaction
 * moves the live ones and rewrites their refs; a directory where no file can
 * be made is a clear error; a write refused by the file system (a file size
 * limit standing in for a full disk) refuses the new blob and loses none of
 * the others, and a compaction that fails so changes nothing; a file cut
 * short under a blob is a read error, not bytes made up.
 */
#include "check.h"
#include "random.h"
#include "store/spill.h"

#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

enum { BLOBS = 3000 };

static bl_spill_ref_t refs[BLOBS];
static size_t sizes[BLOBS];

/* The bytes of blob @p index: its index and size, then a pattern of both. */
static void fill_blob(unsigned char *out, size_t index, size_t size) {
        for (size_t i = 0; i < size; i++)
                out[i] = (unsigned char)(index * 31 + i * 7 + size);
}

static bool blob_reads_back(bl_spill_t *spill, size_t index) {
        char errstr[256];
        unsigned char *expected = malloc(sizes[index]), *got = malloc(sizes[index]);
        fill_blob(expected, index, sizes[index]);
        bool same = expected && got && bl_spill_read(spill, refs[index], got, errstr, sizeof(errstr)) == BL_OK &&
                    refs[index].len == sizes[index] && memcmp(expected, got, sizes[index]) == 0;
        if (!same)
                fprintf(stderr, "blob %zu: %s\n", index, errstr);
        free(expected);
        free(got);
        return same;
}

static bl_err_t append_blob(bl_spill_t *spill, size_t index, char *errstr, size_t errstr_size) {
        unsigned char *bytes = malloc(sizes[index]);
        fill_blob(bytes, index, sizes[index]);
        bl_err_t err = bl_spill_append(spill, bytes, sizes[index], &refs[index], errstr, errstr_size);
        free(bytes);
        return err;
}

/* Sizes from 1 byte to a few KiB, and a few larger than the append buffer. */
static void draw_sizes(void) {
        for (size_t i = 0; i < BLOBS; i++)
                sizes[i] = 1 + next_random() % 4000;
        sizes[17] = BL_SPILL_BUFFER_BYTES + 1;
        sizes[1800] = 3 * BL_SPILL_BUFFER_BYTES;
}

static size_t entries_in(const char *dir) {
        size_t count = 0;
        DIR *listing = opendir(dir);
        for (struct dirent *entry; listing && (entry = readdir(listing));)
                count += strcmp(entry->d_name, ".") && strcmp(entry->d_name, "..");
        if (listing)
                closedir(listing);
        return count;
}

static void test_blobs_read_back_as_appended(void) {
        char dir[] = "/tmp/test_spill.XXXXXX", errstr[256];
        CHECK(mkdtemp(dir) != NULL);
        bl_spill_t *spill = NULL;
        CHECK_INT(bl_spill_new(dir, &spill, errstr, sizeof(errstr)), BL_OK);
        CHECK_INT(entries_in(dir), 0); /* unlinked at once */
        CHECK_STR(bl_spill_dir(spill), dir);
        draw_sizes();
        uint64_t total = 0;
        for (size_t i = 0; i < BLOBS; i++) {
                CHECK_INT(append_blob(spill, i, errstr, sizeof(errstr)), BL_OK);
                total += sizes[i];
                if (i % 500 == 0) /* some while they may still be in the buffer */
                        CHECK(blob_reads_back(spill, i));
        }
        for (size_t i = 0; i < BLOBS; i++)
                CHECK(blob_reads_back(spill, i));
        CHECK_INT(bl_spill_flush(spill, errstr, sizeof(errstr)), BL_OK);
        for (size_t i = 0; i < BLOBS; i += 7)
                CHECK(blob_reads_back(spill, i));
        bl_spill_stats_t stats;
        bl_spill_stats(spill, &stats);
        CHECK_INT(stats.live_bytes, total);
        CHECK_INT(stats.file_bytes, total);
        CHECK_INT(stats.dead_bytes, 0);
        CHECK_INT(stats.blobs_live, BLOBS);
        CHECK_INT(stats.appends_total, BLOBS);
        CHECK_INT(stats.write_errors_total, 0);

        unsigned char byte;
        bl_spill_ref_t past_end = {.offset = total, .len = 1};
        CHECK_INT(bl_spill_read(spill, past_end, &byte, errstr, sizeof(errstr)), BL_ERR_INVALID_ARG);
        CHECK_CONTAINS(errstr, "past its end");
        bl_spill_ref_t none;
        CHECK_INT(bl_spill_append(spill, &byte, 0, &none, errstr, sizeof(errstr)), BL_ERR_INVALID_ARG);
        bl_spill_destroy(spill);
        bl_spill_destroy(NULL);
        CHECK_INT(entries_in(dir), 0);
        rmdir(dir);
}

/* A compaction's walk over an array of pointers to refs (the owner's items, in a test). */
typedef struct ref_walk_s {
        bl_spill_ref_t **refs;
        size_t count;
        size_t at;
        size_t starts;
} ref_walk_t;

static void ref_walk_start(void *opaque) {
        ref_walk_t *walk = opaque;
        walk->at = 0;
        walk->starts++;
}

static bool ref_walk_next(void *opaque, uint64_t **offset, uint32_t *len) {
        ref_walk_t *walk = opaque;
        if (walk->at == walk->count)
                return false;
        *offset = &walk->refs[walk->at]->offset;
        *len = walk->refs[walk->at]->len;
        walk->at++;
        return true;
}

static bl_err_t compact_refs(bl_spill_t *spill, bl_spill_ref_t **live, size_t count, size_t *starts, char *errstr,
                             size_t errstr_size) {
        ref_walk_t state = {.refs = live, .count = count};
        bl_spill_walk_t walk = {.opaque = &state, .start = ref_walk_start, .next = ref_walk_next};
        bl_err_t err = bl_spill_compact(spill, &walk, errstr, errstr_size);
        if (starts)
                *starts = state.starts;
        return err;
}

static void test_compaction_moves_the_live_blobs(void) {
        char errstr[256];
        bl_spill_t *spill = NULL;
        CHECK_INT(bl_spill_new("", &spill, errstr, sizeof(errstr)), BL_OK);
        draw_sizes();
        uint64_t total = 0, released = 0;
        for (size_t i = 0; i < BLOBS; i++) {
                CHECK_INT(append_blob(spill, i, errstr, sizeof(errstr)), BL_OK);
                total += sizes[i];
        }
        static bl_spill_ref_t *live[BLOBS];
        size_t live_count = 0;
        for (size_t i = 0; i < BLOBS; i++) {
                if (i % 3 == 0) {
                        live[live_count++] = &refs[i];
                        continue;
                }
                bl_spill_release(spill, refs[i]);
                released += sizes[i];
        }
        bl_spill_release(spill, (bl_spill_ref_t){0}); /* no blob: nothing counted */
        bl_spill_stats_t stats;
        bl_spill_stats(spill, &stats);
        CHECK_INT(stats.dead_bytes, released);
        CHECK_INT(stats.live_bytes, total - released);
        CHECK_INT(stats.blobs_live, live_count);
        CHECK(bl_spill_wants_compaction(spill, 0));
        CHECK(!bl_spill_wants_compaction(spill, total + 1)); /* too small a file to bother */

        size_t starts = 0;
        CHECK_INT(compact_refs(spill, live, live_count, &starts, errstr, sizeof(errstr)), BL_OK);
        CHECK_INT(starts, 2); /* one walk to copy, one to write the new offsets */
        bl_spill_stats(spill, &stats);
        CHECK_INT(stats.dead_bytes, 0);
        CHECK_INT(stats.live_bytes, total - released);
        CHECK_INT(stats.file_bytes, total - released);
        CHECK_INT(stats.compactions_total, 1);
        CHECK(!bl_spill_wants_compaction(spill, 0));
        for (size_t i = 0; i < BLOBS; i += 3)
                CHECK(blob_reads_back(spill, i));
        /* Appends go on after the moved blobs. */
        CHECK_INT(append_blob(spill, 1, errstr, sizeof(errstr)), BL_OK);
        CHECK_INT(refs[1].offset, total - released);
        CHECK(blob_reads_back(spill, 1));
        CHECK(blob_reads_back(spill, 0));

        /* Nothing live: an empty file. */
        for (size_t i = 0; i < live_count; i++)
                bl_spill_release(spill, *live[i]);
        bl_spill_release(spill, refs[1]);
        CHECK_INT(compact_refs(spill, NULL, 0, NULL, errstr, sizeof(errstr)), BL_OK);
        bl_spill_stats(spill, &stats);
        CHECK_INT(stats.file_bytes, 0);
        CHECK_INT(stats.blobs_live, 0);
        bl_spill_destroy(spill);
}

static void test_a_directory_without_room_is_a_clear_error(void) {
        char errstr[256] = "";
        bl_spill_t *spill = (bl_spill_t *)1;
        CHECK_INT(bl_spill_new("/nonexistent/backlogd-spill", &spill, errstr, sizeof(errstr)), BL_ERR_IO);
        CHECK(spill == NULL);
        CHECK_CONTAINS(errstr, "/nonexistent/backlogd-spill");
        CHECK_CONTAINS(errstr, "No such file or directory");
}

/* The file size limit (RLIMIT_FSIZE, with SIGXFSZ ignored) makes pwrite fail with EFBIG past it, as a full disk
 * would with ENOSPC. */
static void limit_file_size(rlim_t bytes) {
        struct rlimit limit;
        getrlimit(RLIMIT_FSIZE, &limit);
        limit.rlim_cur = bytes == RLIM_INFINITY ? limit.rlim_max : bytes;
        CHECK_INT(setrlimit(RLIMIT_FSIZE, &limit), 0);
}

static void test_a_refused_write_loses_nothing(void) {
        char errstr[256];
        bl_spill_t *spill = NULL;
        CHECK_INT(bl_spill_new(NULL, &spill, errstr, sizeof(errstr)), BL_OK);
        signal(SIGXFSZ, SIG_IGN);
        limit_file_size(BL_SPILL_BUFFER_BYTES / 2);
        for (size_t i = 0; i < BLOBS; i++)
                sizes[i] = 1000;
        size_t stored = 0;
        bl_err_t err = BL_OK;
        for (; stored < BLOBS && !err; stored++)
                err = append_blob(spill, stored, errstr, sizeof(errstr));
        stored--; /* the one refused */
        CHECK_INT(err, BL_ERR_IO);
        CHECK_CONTAINS(errstr, "cannot write");
        CHECK_INT(refs[stored].len, 0);
        CHECK(stored > 0 && stored <= BL_SPILL_BUFFER_BYTES / 1000);
        for (size_t i = 0; i < stored; i++)
                CHECK(blob_reads_back(spill, i));
        CHECK_INT(bl_spill_flush(spill, errstr, sizeof(errstr)), BL_ERR_IO);

        /* A compaction that cannot write keeps the old file and refs. */
        static bl_spill_ref_t *live[BLOBS];
        for (size_t i = 0; i < stored; i++)
                live[i] = &refs[i];
        bl_spill_ref_t before = refs[stored - 1];
        size_t starts = 0;
        CHECK_INT(compact_refs(spill, live, stored, &starts, errstr, sizeof(errstr)), BL_ERR_IO);
        CHECK_INT(starts, 1); /* the copy failed: no walk writes offsets */
        CHECK(refs[stored - 1].offset == before.offset && refs[stored - 1].len == before.len);

        bl_spill_stats_t stats;
        bl_spill_stats(spill, &stats);
        CHECK_INT(stats.write_errors_total, 3); /* the append, the flush, the compaction */
        CHECK_INT(stats.blobs_live, stored);
        CHECK_INT(stats.compactions_total, 0);

        /* Room again: the refused blob goes in, everything reads back. */
        limit_file_size(RLIM_INFINITY);
        CHECK_INT(append_blob(spill, stored, errstr, sizeof(errstr)), BL_OK);
        CHECK_INT(bl_spill_flush(spill, errstr, sizeof(errstr)), BL_OK);
        for (size_t i = 0; i <= stored; i++)
                CHECK(blob_reads_back(spill, i));
        signal(SIGXFSZ, SIG_DFL);
        bl_spill_destroy(spill);
}

/* The descriptor of the store's unlinked file, found among the process's open files by its name. */
static int spill_file_descriptor(void) {
        DIR *listing = opendir("/proc/self/fd");
        int found = -1;
        for (struct dirent *entry; listing && (entry = readdir(listing));) {
                char link[300], target[512];
                snprintf(link, sizeof(link), "/proc/self/fd/%s", entry->d_name);
                ssize_t size = readlink(link, target, sizeof(target) - 1);
                if (size <= 0)
                        continue;
                target[size] = '\0';
                if (strstr(target, "backlogd-spill-") && strstr(target, "(deleted)"))
                        found = atoi(entry->d_name);
        }
        if (listing)
                closedir(listing);
        return found;
}

static void test_a_file_cut_short_is_a_read_error(void) {
        char errstr[256];
        bl_spill_t *spill = NULL;
        CHECK_INT(bl_spill_new(NULL, &spill, errstr, sizeof(errstr)), BL_OK);
        for (size_t i = 0; i < 10; i++) {
                sizes[i] = 100;
                CHECK_INT(append_blob(spill, i, errstr, sizeof(errstr)), BL_OK);
        }
        CHECK_INT(bl_spill_flush(spill, errstr, sizeof(errstr)), BL_OK);
        int fd = spill_file_descriptor();
        CHECK(fd >= 0);
        CHECK_INT(ftruncate(fd, 550), 0); /* what a failing device or another writer could do */
        CHECK(blob_reads_back(spill, 4));
        unsigned char bytes[100];
        CHECK_INT(bl_spill_read(spill, refs[5], bytes, errstr, sizeof(errstr)), BL_ERR_IO);
        CHECK_CONTAINS(errstr, "the file ends first");
        CHECK_INT(bl_spill_read(spill, refs[9], bytes, errstr, sizeof(errstr)), BL_ERR_IO);
        bl_spill_destroy(spill);
}

int main(void) {
        RUN(test_blobs_read_back_as_appended);
        RUN(test_compaction_moves_the_live_blobs);
        RUN(test_a_directory_without_room_is_a_clear_error);
        RUN(test_a_refused_write_loses_nothing);
        RUN(test_a_file_cut_short_is_a_read_error);
        return check_exit_status();
}
