/*
 * bench/spill.c: what the spill store (src/store/spill.c) costs, to judge
 * the design of issue 18 item 6 (tasks at rest out of the heap): appends
 * per second (a freeze), random reads per second (a thaw: pread from the
 * page cache), a compaction, and what the process's RSS does meanwhile
 * (RssAnon, RssFile: the blobs must count in neither; only the caller's
 * refs do, 16 B each). No broker, no backlog: the store alone, with blobs of
 * a size the caller picks (an item's encoded form: about 150 B without
 * payload, 400 to 600 B with bench_memory's 256 B payload).
 *
 * Options: --blobs N (default 1,000,000), --blob-bytes B (default 500),
 * --reads R (default 200,000), --runs K (default 3; the rates are the
 * median), --dir D (default: $TMPDIR or /tmp). Prints one line per phase,
 * then one JSON line. Measured, not asserted: it fails only when the store
 * does. Main thread only.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "store/spill.h"

typedef struct options_s {
        unsigned long long blobs, blob_bytes, reads, runs;
        const char *dir;
} options_t;

/* One field of /proc/self/status in bytes (e.g. "RssAnon:"), or 0 when /proc cannot say. */
static size_t status_bytes(const char *field) {
        FILE *status = fopen("/proc/self/status", "r");
        char line[256];
        size_t kib = 0, field_size = strlen(field);
        while (status && fgets(line, sizeof(line), status))
                if (!strncmp(line, field, field_size) && sscanf(line + field_size, " %zu kB", &kib) == 1)
                        break;
        if (status)
                fclose(status);
        return kib * 1024;
}

static bool parse_options(int argc, char **argv, options_t *options) {
        *options = (options_t){.blobs = 1000000, .blob_bytes = 500, .reads = 200000, .runs = 3};
        for (int i = 1; i < argc; i++) {
                const char *value = i + 1 < argc ? argv[i + 1] : "";
                bool ok = true;
                if (!strcmp(argv[i], "--blobs"))
                        ok = parse_count(value, 1, 100000000, &options->blobs);
                else if (!strcmp(argv[i], "--blob-bytes"))
                        ok = parse_count(value, 1, 1 << 20, &options->blob_bytes);
                else if (!strcmp(argv[i], "--reads"))
                        ok = parse_count(value, 1, 100000000, &options->reads);
                else if (!strcmp(argv[i], "--runs"))
                        ok = parse_count(value, 1, BENCH_MAX_RUNS, &options->runs);
                else if (!strcmp(argv[i], "--dir"))
                        options->dir = value;
                else
                        ok = false;
                if (!ok) {
                        fprintf(stderr, "usage: bench_spill [--blobs N] [--blob-bytes B] [--reads R] [--runs K] "
                                        "[--dir D]\n");
                        return false;
                }
                i++;
        }
        return true;
}

static bool fail(const char *what, const char *errstr) {
        fprintf(stderr, "bench_spill: %s: %s\n", what, errstr);
        return false;
}

/* Appends every blob (each filled with its index) and flushes; the seconds it took in *seconds. */
static bool append_all(bl_spill_t *spill, const options_t *options, bl_spill_ref_t *refs, double *seconds) {
        char errstr[256];
        unsigned char *blob = malloc(options->blob_bytes);
        double start = now_s();
        for (unsigned long long i = 0; i < options->blobs; i++) {
                memset(blob, (int)(i & 0xff), options->blob_bytes);
                if (bl_spill_append(spill, blob, options->blob_bytes, &refs[i], errstr, sizeof(errstr)) != BL_OK) {
                        free(blob);
                        return fail("append", errstr);
                }
        }
        bool ok = bl_spill_flush(spill, errstr, sizeof(errstr)) == BL_OK || fail("flush", errstr);
        *seconds = now_s() - start;
        free(blob);
        return ok;
}

/* Reads @p options->reads blobs at random and checks their first byte. */
static bool read_random(bl_spill_t *spill, const options_t *options, const bl_spill_ref_t *refs, rng_t *rng,
                        double *seconds) {
        char errstr[256];
        unsigned char *blob = malloc(options->blob_bytes);
        double start = now_s();
        for (unsigned long long n = 0; n < options->reads; n++) {
                uint64_t i = rng_below(rng, options->blobs);
                if (refs[i].len == 0)
                        continue; /* released */
                if (bl_spill_read(spill, refs[i], blob, errstr, sizeof(errstr)) != BL_OK || blob[0] != (i & 0xff)) {
                        free(blob);
                        return fail("read", errstr);
                }
        }
        *seconds = now_s() - start;
        free(blob);
        return true;
}

/* The compaction's walk over the live refs: the bench's stand-in for the backlog's index. */
typedef struct live_walk_s {
        bl_spill_ref_t *refs;
        unsigned long long count;
        unsigned long long at;
} live_walk_t;

static void live_walk_start(void *opaque) {
        ((live_walk_t *)opaque)->at = 0;
}

static bool live_walk_next(void *opaque, uint64_t **offset, uint32_t *len) {
        live_walk_t *walk = opaque;
        while (walk->at < walk->count && walk->refs[walk->at].len == 0)
                walk->at++;
        if (walk->at == walk->count)
                return false;
        *offset = &walk->refs[walk->at].offset;
        *len = walk->refs[walk->at].len;
        walk->at++;
        return true;
}

/* Releases two blobs of three and compacts the rest. */
static bool release_and_compact(bl_spill_t *spill, const options_t *options, bl_spill_ref_t *refs, double *seconds) {
        char errstr[256];
        for (unsigned long long i = 0; i < options->blobs; i++) {
                if (i % 3 == 0)
                        continue;
                bl_spill_release(spill, refs[i]);
                refs[i] = (bl_spill_ref_t){0};
        }
        live_walk_t state = {.refs = refs, .count = options->blobs};
        bl_spill_walk_t walk = {.opaque = &state, .start = live_walk_start, .next = live_walk_next};
        double start = now_s();
        bool ok = bl_spill_compact(spill, &walk, errstr, sizeof(errstr)) == BL_OK || fail("compact", errstr);
        *seconds = now_s() - start;
        return ok;
}

static bool run_once(const options_t *options, double *append_s, double *read_s, double *compact_s,
                     size_t *rss_growth, size_t *file_bytes) {
        char errstr[256];
        bl_spill_t *spill = NULL;
        if (bl_spill_new(options->dir, &spill, errstr, sizeof(errstr)) != BL_OK)
                return fail("new", errstr);
        bl_spill_ref_t *refs = calloc(options->blobs, sizeof(*refs));
        size_t rss_before = status_bytes("RssAnon:") + status_bytes("RssFile:");
        rng_t rng = {.state = 42};
        bool ok = refs && append_all(spill, options, refs, append_s);
        /* The refs array is touched whole by now: RSS growth past it is the store's. */
        size_t rss_after = status_bytes("RssAnon:") + status_bytes("RssFile:");
        bl_spill_stats_t stats;
        bl_spill_stats(spill, &stats);
        *file_bytes = stats.file_bytes;
        *rss_growth = rss_after > rss_before ? rss_after - rss_before : 0;
        ok = ok && read_random(spill, options, refs, &rng, read_s);
        ok = ok && release_and_compact(spill, options, refs, compact_s);
        ok = ok && read_random(spill, options, refs, &rng, read_s + 1);
        free(refs);
        bl_spill_destroy(spill);
        return ok;
}

int main(int argc, char **argv) {
        options_t options;
        if (!parse_options(argc, argv, &options))
                return 2;
        double append_rate[BENCH_MAX_RUNS], read_rate[BENCH_MAX_RUNS], compact_s[BENCH_MAX_RUNS];
        size_t rss_growth = 0, file_bytes = 0, refs_bytes = options.blobs * sizeof(bl_spill_ref_t);
        for (unsigned long long run = 0; run < options.runs; run++) {
                double append_s, read_s[2];
                if (!run_once(&options, &append_s, read_s, &compact_s[run], &rss_growth, &file_bytes))
                        return 1;
                append_rate[run] = (double)options.blobs / append_s;
                read_rate[run] = (double)options.reads / read_s[0];
                printf("run %llu: append %.0f blobs/s (%.0f MB/s), random read %.0f blobs/s (%.2f us), compaction "
                       "of 1/3 live %.0f ms, file %.1f MiB, RSS growth %.1f MiB (the refs: %.1f MiB)\n",
                       run + 1, append_rate[run], append_rate[run] * (double)options.blob_bytes / 1e6,
                       read_rate[run], 1e6 / read_rate[run], compact_s[run] * 1e3, (double)file_bytes / 1048576.0,
                       (double)rss_growth / 1048576.0, (double)refs_bytes / 1048576.0);
        }
        int runs = (int)options.runs;
        printf("{\"blobs\":%llu,\"blob_bytes\":%llu,\"append_per_s\":%.0f,\"read_per_s\":%.0f,\"compact_ms\":%.0f,"
               "\"file_bytes\":%zu,\"rss_growth_bytes\":%zu,\"refs_bytes\":%zu}\n",
               options.blobs, options.blob_bytes, median(append_rate, runs), median(read_rate, runs),
               median(compact_s, runs) * 1e3, file_bytes, rss_growth, refs_bytes);
        return 0;
}
