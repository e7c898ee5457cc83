/*
 * bench_kafka.h: what the benchmarks against a broker (bench/restore.c,
 * bench/e2e.c) share: their common options (broker, how many records, how
 * many partitions, payload size, runs, keep the topics, topic prefix) and
 * the check of a librdkafka transactional call. Header only, static inline.
 */
#ifndef BL_BENCH_KAFKA_H
#define BL_BENCH_KAFKA_H

#include <getopt.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <unistd.h>

#include "bench_util.h"
#include "kafka/txn_producer.h"

#define BENCH_TOPIC_PREFIX_MAX 80

typedef struct bench_broker_options_s {
        const char *bootstrap;
        size_t count;          /* events (e2e) or items (restore) per run */
        int32_t partitions;
        size_t payload_bytes;
        int runs;
        bool keep;
        char topic_prefix[128];
} bench_broker_options_t;

/* What differs between the benchmarks: their name, the count's option and default, the prefix's default. */
typedef struct bench_broker_defaults_s {
        const char *program;      /* "bench_e2e" */
        const char *count_option; /* "events" */
        size_t count;
        const char *prefix_stem;  /* "bench-e2e-": the pid and a '-' follow */
        void (*usage)(FILE *out);
        /* A benchmark's own options beside the common ones (NULL-terminated, vals from 256 up), and the
         * function that takes each: 0 when taken, 2 on a bad value (said on stderr). */
        const struct option *extra;
        int (*extra_option)(int val, const char *arg, void *opaque);
        void *opaque;
} bench_broker_defaults_t;

/* 0 when the options are usable, -1 after --help, 2 on a usage error (said on stderr). */
static inline int bench_parse_broker_options(int argc, char **argv, const bench_broker_defaults_t *d,
                                             bench_broker_options_t *o) {
        enum { COMMON = 8, EXTRA_MAX = 16 };
        struct option longopts[COMMON + EXTRA_MAX + 1] = {
                {"bootstrap", required_argument, NULL, 'b'},     {d->count_option, required_argument, NULL, 'n'},
                {"partitions", required_argument, NULL, 'p'},    {"payload-bytes", required_argument, NULL, 'B'},
                {"runs", required_argument, NULL, 'r'},          {"keep", no_argument, NULL, 'k'},
                {"topic-prefix", required_argument, NULL, 't'}, {"help", no_argument, NULL, 'h'}};
        unsigned long long number;
        int c, option_index = 0, status;
        for (int i = 0; d->extra && d->extra[i].name && i < EXTRA_MAX; i++)
                longopts[COMMON + i] = d->extra[i];
        *o = (bench_broker_options_t){.bootstrap = "127.0.0.1:19092", .count = d->count, .partitions = 6,
                                      .payload_bytes = 200, .runs = 3};
        snprintf(o->topic_prefix, sizeof(o->topic_prefix), "%s%d-", d->prefix_stem, (int)getpid());
        while ((c = getopt_long(argc, argv, "h", longopts, &option_index)) != -1) {
                switch (c) {
                case 'b':
                        if (!*optarg)
                                goto bad;
                        o->bootstrap = optarg;
                        break;
                case 'n':
                        if (!parse_count(optarg, 1, 100000000, &number))
                                goto bad;
                        o->count = (size_t)number;
                        break;
                case 'p':
                        if (!parse_count(optarg, 1, 1000, &number))
                                goto bad;
                        o->partitions = (int32_t)number;
                        break;
                case 'B':
                        if (!parse_count(optarg, 0, 1000000, &number))
                                goto bad;
                        o->payload_bytes = (size_t)number;
                        break;
                case 'r':
                        if (!parse_count(optarg, 1, BENCH_MAX_RUNS, &number))
                                goto bad;
                        o->runs = (int)number;
                        break;
                case 'k': o->keep = true; break;
                case 't':
                        if (strlen(optarg) > BENCH_TOPIC_PREFIX_MAX || !topic_chars(optarg)) {
                                fprintf(stderr, "%s: --topic-prefix: at most %d of [a-zA-Z0-9._-]\n", d->program,
                                        BENCH_TOPIC_PREFIX_MAX);
                                return 2;
                        }
                        snprintf(o->topic_prefix, sizeof(o->topic_prefix), "%s", optarg);
                        break;
                case 'h': d->usage(stdout); return -1;
                case '?': fprintf(stderr, "%s: see --help\n", d->program); return 2;
                default:
                        if (c >= 256 && d->extra_option) {
                                if ((status = d->extra_option(c, optarg, d->opaque)))
                                        return status;
                                break;
                        }
                        fprintf(stderr, "%s: see --help\n", d->program); return 2;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "%s: unexpected argument '%s' (see --help)\n", d->program, argv[optind]);
                return 2;
        }
        return 0;
bad:
        fprintf(stderr, "%s: bad value '%s' for --%s (see --help)\n", d->program, optarg,
                longopts[option_index].name);
        return 2;
}

/* True when a transactional call succeeded; otherwise errstr says which and why, and the error is freed. */
/* A transactional call's verdict (kafka/txn_producer.h): true when done, else its reason into errstr. */
static inline bool bench_txn_done(bl_txn_result_t result, char *errstr, size_t errstr_size) {
        if (result.verdict == BL_TXN_OK)
                return true;
        snprintf(errstr, errstr_size, "%s", result.reason);
        return false;
}

#endif
