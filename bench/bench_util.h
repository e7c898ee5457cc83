/*
 * bench_util.h: what every benchmark under bench/ needs the same way:
 * option parsing helpers, a monotonic clock, the median of runs, and a
 * seeded generator (splitmix64) for reproducible synthetic data. Header
 * only, static inline: each benchmark is one executable.
 */
#ifndef BL_BENCH_UTIL_H
#define BL_BENCH_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BENCH_MAX_RUNS 100

/* A decimal count in [min, max], the whole text. */
static inline bool parse_count(const char *text, unsigned long long min, unsigned long long max,
                               unsigned long long *out) {
        char *end;
        if (!*text || *text == '-')
                return false;
        *out = strtoull(text, &end, 10);
        return *end == '\0' && *out >= min && *out <= max;
}

/* Only characters a Kafka topic name may hold. */
static inline bool topic_chars(const char *text) {
        for (const char *p = text; *p; p++)
                if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-", *p))
                        return false;
        return true;
}

static inline double now_s(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline int compare_double(const void *a, const void *b) {
        double x = *(const double *)a, y = *(const double *)b;
        return x < y ? -1 : x > y;
}

/* The median of @p count values (at most BENCH_MAX_RUNS), without reordering them. */
static inline double median(const double *values, int count) {
        double sorted[BENCH_MAX_RUNS];
        if (count <= 0)
                return 0;
        if (count > BENCH_MAX_RUNS)
                count = BENCH_MAX_RUNS;
        memcpy(sorted, values, (size_t)count * sizeof(*sorted));
        qsort(sorted, (size_t)count, sizeof(*sorted), compare_double);
        return count % 2 ? sorted[count / 2] : (sorted[count / 2 - 1] + sorted[count / 2]) / 2;
}

static inline uint64_t splitmix64(uint64_t x) {
        x += 0x9E3779B97F4A7C15ULL;
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
        return x ^ (x >> 31);
}

typedef struct rng_s {
        uint64_t state;
} rng_t;

static inline uint64_t rng_next(rng_t *rng) {
        return splitmix64(rng->state++);
}

/* Uniform in [0, bound). */
static inline uint64_t rng_below(rng_t *rng, uint64_t bound) {
        return bound ? rng_next(rng) % bound : 0;
}

/* Uniform in [0, 1). */
static inline double rng_unit(rng_t *rng) {
        return (double)(rng_next(rng) >> 11) / 9007199254740992.0;
}

/* Resident set size in bytes (VmRSS), or 0 when /proc cannot say. */
static inline size_t rss_bytes(void) {
        char line[256];
        size_t kib = 0;
        FILE *status = fopen("/proc/self/status", "r");
        if (!status)
                return 0;
        while (fgets(line, sizeof(line), status))
                if (sscanf(line, "VmRSS: %zu kB", &kib) == 1)
                        break;
        fclose(status);
        return kib * 1024;
}

#endif
