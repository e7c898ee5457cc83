/*
 * dlq.c: `backlogd dlq list` and `backlogd dlq redrive` (SPEC §7).
 *
 * list reads backlog.dlq to its read_committed end, keeps the letters the
 * filters select (--reason, --topic, --since; each option may repeat: any
 * of its values, and all options together), and prints a summary by reason
 * and one line per letter, oldest failure first (--limit keeps the newest).
 * Each line says whether the letter was already redriven.
 *
 * redrive republishes the letters the selectors choose (--reason, --key,
 * --offset P:O, or --all) to the input topic each came from, with its
 * original key, value and headers (the dlq.* ones removed) plus
 * dlq.redriven.from = "<dlq topic>:<partition>:<offset>", dlq.redriven.at
 * and dlq.redriven.by, so that the redrive is auditable where it landed.
 * Only tasks.events and tasks.results of the configured prefix are accepted
 * as targets: a letter from anywhere else is refused, never sent elsewhere.
 *
 * Idempotency, across processes and crashes, rests on three things:
 *   1. The republished record itself is the mark: a letter counts as
 *      redriven when its input topic holds a committed record whose
 *      dlq.redriven.from names it (cmd/dlq_read.c finds them). No second
 *      store can disagree with what was published.
 *   2. Every redrive of one deployment uses one transactional id,
 *      "<group_id>-dlq-redrive", and calls init_transactions *before* it
 *      looks for earlier redrives. That call fences any other redrive still
 *      at work (its open transaction is aborted and its commit fails) and
 *      waits until one that is committing has its markers written; so the
 *      read that follows sees every redrive that will ever commit, and two
 *      redrives cannot both publish a letter.
 *   3. Records are published in transactions (of up to
 *      RECORDS_PER_TRANSACTION) and reported as published only once the
 *      commit returned. A crash leaves an open transaction that the next
 *      redrive aborts in (2), or a committed one that its scan sees; either
 *      way a re-run publishes each letter once. read_committed readers
 *      (backlogd run, list, the next redrive) never see an aborted copy.
 * Letters are republished in DLQ partition and offset order: the DLQ is
 * keyed by the original key, so one task's letters keep their order.
 * --dry-run reads and reports without a producer, so it fences nobody.
 *
 * Options are checked before any Kafka handle exists (usage errors exit 2).
 * Main thread only; delivery reports are served by the producer's polls.
 */
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "base/log.h"
#include "cmd/cmd.h"
#include "cmd/dlq_read.h"
#include "cmd/scan.h"
#include "contract/encode.h"
#include "core/history.h"
#include "core/reason.h"
#include "kafka/client.h"
#include "kafka/txn_producer.h"

#define RECORDS_PER_TRANSACTION 500
#define KEY_COLUMNS_MAX         32
#define DETAIL_COLUMNS_MIN      20

/* ---- options ------------------------------------------------------------------ */

typedef struct offset_selector_s {
        int32_t partition;
        int64_t offset;
        bool matched;
} offset_selector_t;

/* The filters of list and the selectors of redrive; a list of values means any of them. */
typedef struct selection_s {
        const bl_config_t *config;
        const char **reasons;
        size_t reason_count;
        const char **topics;
        size_t topic_count;
        const char **keys;
        size_t key_count;
        offset_selector_t *offsets;
        size_t offset_count;
        int64_t since_ms; /* BL_DLQ_ABSENT: no --since */
        bool all;
        bool payload; /* keep what a redrive republishes */
} selection_t;

typedef struct dlq_opts_s {
        const char *config_path;
        bool as_json;
        bool summary_only;
        bool dry_run;
        long limit; /* 0: every letter */
        selection_t selection;
} dlq_opts_t;

static void usage(FILE *out) {
        fprintf(out, "Usage: backlogd dlq list [-c FILE] [--json] [--reason R] [--topic T] [--since TIME]\n"
                     "                         [--limit N] [--summary]\n"
                     "       backlogd dlq redrive [-c FILE] (--reason R | --key K | --offset P:O | --all)...\n"
                     "                            [--dry-run] [--json]\n"
                     "\n"
                     "list shows what backlog.dlq holds, by reason, and each dead letter with where it\n"
                     "came from and whether it was already redriven. redrive republishes chosen dead\n"
                     "letters to the input topic they came from, once the cause is fixed, marked\n"
                     "with dlq.redriven.* headers; it never publishes a letter twice.\n"
                     "'backlogd dlq list --help' and 'backlogd dlq redrive --help' for the options.\n"
                     "\n"
                     "Exit status: 0 done, 1 the work failed, 2 usage.\n");
}

static void usage_list(FILE *out) {
        fprintf(out, "Usage: backlogd dlq list [-c FILE] [--json] [--reason R] [--topic T] [--since TIME]\n"
                     "                         [--limit N] [--summary]\n"
                     "\n"
                     "Reads backlog.dlq to its committed end and prints, for each reason, how many\n"
                     "dead letters it holds, how many were redriven, and the first and last failure;\n"
                     "then one line per letter, oldest failure first: its DLQ partition:offset, the\n"
                     "reason, the original topic:partition:offset, the key, whether it was already\n"
                     "redriven (found on the input topic by its dlq.redriven.from header) and the\n"
                     "detail (cut to the terminal's width). Filters combine; a repeated filter\n"
                     "matches any of its values.\n"
                     "\n"
                     "Options:\n"
                     "  -c, --config FILE  configuration file (else $BACKLOGD_CONFIG, else defaults)\n"
                     "      --json         one JSON object on stdout: by_reason and records\n"
                     "      --reason R     only letters with this dlq.reason (e.g. contract.violation)\n"
                     "      --topic T      only letters from this topic (tasks.events: the prefix is added)\n"
                     "      --since TIME   only letters that failed at or after TIME (RFC 3339)\n"
                     "      --limit N      list only the newest N letters (the summary counts all)\n"
                     "      --summary      the summary by reason only\n"
                     "  -h, --help         this help\n"
                     "\n"
                     "Exit status: 0 read, 1 a topic could not be read, 2 usage.\n");
}

static void usage_redrive(FILE *out) {
        fprintf(out, "Usage: backlogd dlq redrive [-c FILE] (--reason R | --key K | --offset P:O | --all)...\n"
                     "                            [--dry-run] [--json]\n"
                     "\n"
                     "Republishes the chosen dead letters to their original topic (dlq.original.topic,\n"
                     "which must be tasks.events or tasks.results of the configured prefix) with the\n"
                     "original key, value and headers, the dlq.* headers removed, plus\n"
                     "dlq.redriven.from (<dlq topic>:<partition>:<offset>), dlq.redriven.at and\n"
                     "dlq.redriven.by. A letter already redriven is skipped, so running it again\n"
                     "publishes nothing twice, even after a crash or beside another redrive. Records\n"
                     "go out in transactions, in DLQ order; each is reported as published, skipped,\n"
                     "refused (not from an input topic) or failed.\n"
                     "\n"
                     "Selectors (at least one; a repeated one matches any of its values; different\n"
                     "ones must all match):\n"
                     "      --reason R     letters with this dlq.reason\n"
                     "      --key K        letters with this key\n"
                     "      --offset P:O   the letter at DLQ partition P, offset O\n"
                     "      --all          every letter (alone)\n"
                     "Options:\n"
                     "  -c, --config FILE  configuration file (else $BACKLOGD_CONFIG, else defaults)\n"
                     "  -n, --dry-run      report what would be published; publish nothing\n"
                     "      --json         one JSON object on stdout: records and totals\n"
                     "  -h, --help         this help\n"
                     "\n"
                     "Exit status: 0 every chosen letter published or already redriven (or none\n"
                     "chosen), 1 a letter was refused or failed, an --offset named no chosen letter,\n"
                     "or a topic could not be read, 2 usage.\n");
}

static bool parse_offset(const char *text, offset_selector_t *selector) {
        char *end;
        long long partition, offset;
        partition = strtoll(text, &end, 10);
        if (end == text || *end != ':' || partition < 0 || partition > INT32_MAX)
                return false;
        text = end + 1;
        offset = strtoll(text, &end, 10);
        if (end == text || *end || offset < 0 || offset == LLONG_MAX)
                return false;
        selector->partition = (int32_t)partition;
        selector->offset = offset;
        selector->matched = false;
        return true;
}

/*
 * Parses the options of `dlq list` (@p redrive false) or `dlq redrive`;
 * argv[0] is the action. BL_EXIT_OK, BL_EXIT_USAGE, or -1 for --help. The
 * value arrays are sized by argc, so they never need to grow.
 */
static int parse_options(int argc, char **argv, bool redrive, dlq_opts_t *opts) {
        static const struct option list_options[] = {
                {"config", required_argument, NULL, 'c'},
                {"json", no_argument, NULL, 'j'},
                {"reason", required_argument, NULL, 'r'},
                {"topic", required_argument, NULL, 't'},
                {"since", required_argument, NULL, 's'},
                {"limit", required_argument, NULL, 'l'},
                {"summary", no_argument, NULL, 'S'},
                {"help", no_argument, NULL, 'h'},
                {NULL, 0, NULL, 0},
        };
        static const struct option redrive_options[] = {
                {"config", required_argument, NULL, 'c'},
                {"json", no_argument, NULL, 'j'},
                {"reason", required_argument, NULL, 'r'},
                {"key", required_argument, NULL, 'k'},
                {"offset", required_argument, NULL, 'o'},
                {"all", no_argument, NULL, 'a'},
                {"dry-run", no_argument, NULL, 'n'},
                {"help", no_argument, NULL, 'h'},
                {NULL, 0, NULL, 0},
        };
        const char *command = redrive ? "dlq redrive" : "dlq list";
        selection_t *selection = &opts->selection;
        size_t slots = (size_t)argc;
        char *end;
        int opt;
        selection->reasons = calloc(slots, sizeof(*selection->reasons));
        selection->topics = calloc(slots, sizeof(*selection->topics));
        selection->keys = calloc(slots, sizeof(*selection->keys));
        selection->offsets = calloc(slots, sizeof(*selection->offsets));
        if (!selection->reasons || !selection->topics || !selection->keys || !selection->offsets) {
                fprintf(stderr, "backlogd %s: out of memory\n", command);
                return BL_EXIT_FAILURE;
        }
        selection->since_ms = BL_DLQ_ABSENT;
        optind = 1;
        while ((opt = getopt_long(argc, argv, redrive ? "c:nh" : "c:h", redrive ? redrive_options : list_options,
                                  NULL)) != -1) {
                switch (opt) {
                case 'c': opts->config_path = optarg; break;
                case 'j': opts->as_json = true; break;
                case 'r':
                        if (bl_reason_parse(optarg) == BL_REASON_NONE)
                                return bl_cmd_usage_error(command,
                                                          "--reason '%s' is not a DLQ reason (SPEC §7: "
                                                          "decode.wire_format, contract.violation, ...)",
                                                          optarg);
                        selection->reasons[selection->reason_count++] = optarg;
                        break;
                case 't':
                        if (!*optarg)
                                return bl_cmd_usage_error(command, "--topic takes a topic name");
                        selection->topics[selection->topic_count++] = optarg;
                        break;
                case 's':
                        if (!bl_encode_parse_rfc3339(optarg, &selection->since_ms))
                                return bl_cmd_usage_error(command,
                                                          "--since '%s' is not an RFC 3339 time "
                                                          "(e.g. 2026-11-28T08:00:00Z)",
                                                          optarg);
                        break;
                case 'l':
                        opts->limit = strtol(optarg, &end, 10);
                        if (end == optarg || *end || opts->limit < 1)
                                return bl_cmd_usage_error(command, "--limit takes a number from 1");
                        break;
                case 'S': opts->summary_only = true; break;
                case 'k': selection->keys[selection->key_count++] = optarg; break;
                case 'o':
                        if (!parse_offset(optarg, &selection->offsets[selection->offset_count++]))
                                return bl_cmd_usage_error(command, "--offset takes PARTITION:OFFSET, e.g. 0:42");
                        break;
                case 'a': selection->all = true; break;
                case 'n': opts->dry_run = true; break;
                case 'h': (redrive ? usage_redrive : usage_list)(stdout); return -1;
                default: return bl_cmd_usage_error(command, "bad option");
                }
        }
        if (optind < argc)
                return bl_cmd_usage_error(command, "unexpected argument '%s'", argv[optind]);
        if (!redrive)
                return BL_EXIT_OK;
        if (selection->all && (selection->reason_count || selection->key_count || selection->offset_count))
                return bl_cmd_usage_error(command, "--all chooses every letter: it does not combine with "
                                                   "--reason, --key or --offset");
        if (!selection->all && !selection->reason_count && !selection->key_count && !selection->offset_count)
                return bl_cmd_usage_error(command, "choose the letters: --reason R, --key K, --offset P:O, or --all");
        selection->payload = true;
        return BL_EXIT_OK;
}

static void opts_clear(dlq_opts_t *opts) {
        free(opts->selection.reasons);
        free(opts->selection.topics);
        free(opts->selection.keys);
        free(opts->selection.offsets);
}

/* ---- choosing letters -------------------------------------------------------------- */

static bool matches_topic(const selection_t *selection, const char *topic) {
        size_t prefix_len = strlen(selection->config->topics_prefix);
        if (!topic)
                return false;
        for (size_t i = 0; i < selection->topic_count; i++)
                if (!strcmp(topic, selection->topics[i]) ||
                    (!strncmp(topic, selection->config->topics_prefix, prefix_len) &&
                     !strcmp(topic + prefix_len, selection->topics[i])))
                        return true;
        return false;
}

static bool matches_key(const selection_t *selection, const bl_dlq_letter_t *letter) {
        for (size_t i = 0; letter->key && i < selection->key_count; i++)
                if (strlen(selection->keys[i]) == letter->key_size &&
                    !memcmp(selection->keys[i], letter->key, letter->key_size))
                        return true;
        return false;
}

static bool matches_reason(const selection_t *selection, const char *reason) {
        for (size_t i = 0; reason && i < selection->reason_count; i++)
                if (!strcmp(reason, selection->reasons[i]))
                        return true;
        return false;
}

static bl_dlq_read_choice_t select_letter(const bl_dlq_letter_t *letter, void *opaque) {
        selection_t *selection = opaque;
        offset_selector_t *at = NULL;
        if (selection->reason_count && !matches_reason(selection, letter->reason))
                return BL_DLQ_READ_SKIP;
        if (selection->topic_count && !matches_topic(selection, letter->original_topic))
                return BL_DLQ_READ_SKIP;
        if (selection->key_count && !matches_key(selection, letter))
                return BL_DLQ_READ_SKIP;
        if (selection->since_ms != BL_DLQ_ABSENT &&
            (letter->failed_at_ms == BL_DLQ_ABSENT || letter->failed_at_ms < selection->since_ms))
                return BL_DLQ_READ_SKIP;
        for (size_t i = 0; i < selection->offset_count && !at; i++)
                if (selection->offsets[i].partition == letter->partition &&
                    selection->offsets[i].offset == letter->offset)
                        at = &selection->offsets[i];
        if (selection->offset_count && !at)
                return BL_DLQ_READ_SKIP;
        if (at)
                at->matched = true;
        return selection->payload ? BL_DLQ_READ_PAYLOAD : BL_DLQ_READ_KEEP;
}

static bool filtered(const selection_t *selection) {
        return selection->reason_count || selection->topic_count || selection->since_ms != BL_DLQ_ABSENT;
}

/* ---- text ------------------------------------------------------------------------- */

/* The byte length of the UTF-8 character at @p p, or 0 when it is not one or is a control character. */
static size_t utf8_char(const unsigned char *p, size_t left) {
        size_t length;
        if (p[0] < 0x20 || p[0] == 0x7f)
                return 0;
        if (p[0] < 0x80)
                return 1;
        if (p[0] >= 0xc2 && p[0] <= 0xdf)
                length = 2;
        else if (p[0] >= 0xe0 && p[0] <= 0xef)
                length = 3;
        else if (p[0] >= 0xf0 && p[0] <= 0xf4)
                length = 4;
        else
                return 0;
        if (left < length)
                return 0;
        for (size_t i = 1; i < length; i++)
                if ((p[i] & 0xc0) != 0x80)
                        return 0;
        if ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] > 0x9f) || (p[0] == 0xf0 && p[1] < 0x90) ||
            (p[0] == 0xf4 && p[1] > 0x8f))
                return 0;
        return length;
}

/*
 * @p bytes as one line of text (malloc'd): control characters and bytes that
 * are not UTF-8 written \xNN; at most @p max_columns characters (0: no limit),
 * a cut marked "...". NULL when out of memory.
 */
static char *printable(const void *bytes, size_t size, size_t max_columns) {
        const unsigned char *in = bytes;
        size_t columns = 0, budget, used = 0;
        bool cut;
        char *out;
        for (size_t i = 0; i < size;) { /* first the width of the whole */
                size_t length = utf8_char(in + i, size - i);
                columns += length ? 1 : 4;
                i += length ? length : 1;
        }
        cut = max_columns && columns > max_columns;
        budget = cut ? (max_columns > 3 ? max_columns - 3 : 0) : columns;
        if (!(out = malloc(size * 4 + 4)))
                return NULL;
        columns = 0;
        for (size_t i = 0; i < size;) {
                size_t length = utf8_char(in + i, size - i);
                if (columns + (length ? 1 : 4) > budget)
                        break;
                if (length) {
                        memcpy(out + used, in + i, length);
                        used += length;
                        columns++;
                } else {
                        used += (size_t)snprintf(out + used, 5, "\\x%02x", in[i]);
                        columns += 4;
                }
                i += length ? length : 1;
        }
        if (cut)
                used += (size_t)snprintf(out + used, 4, "...");
        out[used] = '\0';
        return out;
}

/* A JSON string of @p text (not always UTF-8: a header may hold anything), or null. */
static json_t *json_text(const char *text) {
        json_t *value;
        char *shown;
        if (!text)
                return json_null();
        if ((value = json_string(text)))
                return value;
        shown = printable(text, strlen(text), 0);
        value = shown ? json_string(shown) : json_null();
        free(shown);
        return value;
}

static json_t *json_key(const bl_dlq_letter_t *letter) {
        json_t *value;
        char *shown;
        if (!letter->key)
                return json_null();
        if ((value = json_stringn((const char *)letter->key, letter->key_size)))
                return value;
        shown = printable(letter->key, letter->key_size, 0);
        value = shown ? json_string(shown) : json_null();
        free(shown);
        return value;
}

static json_t *json_number(int64_t number) {
        return number == BL_DLQ_ABSENT ? json_null() : json_integer((json_int_t)number);
}

/* "-" for a letter without a key; else the key, cut to @p max_columns. */
static char *key_text(const bl_dlq_letter_t *letter, size_t max_columns) {
        return letter->key ? printable(letter->key, letter->key_size, max_columns) : strdup("-");
}

/* "<topic>:<partition>:<offset>" of where a letter came from; "?" for what its headers leave out. */
static void original_text(const bl_dlq_letter_t *letter, char *out, size_t out_size) {
        char partition[24] = "?", offset[24] = "?";
        if (letter->original_partition != BL_DLQ_ABSENT)
                snprintf(partition, sizeof(partition), "%" PRId64, letter->original_partition);
        if (letter->original_offset != BL_DLQ_ABSENT)
                snprintf(offset, sizeof(offset), "%" PRId64, letter->original_offset);
        snprintf(out, out_size, "%s:%s:%s", letter->original_topic ? letter->original_topic : "?", partition, offset);
}

/* The columns of stdout when it is a terminal; 0 (no limit) otherwise. */
static size_t terminal_columns(void) {
        struct winsize size;
        if (!isatty(STDOUT_FILENO) || ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) || size.ws_col == 0)
                return 0;
        return size.ws_col;
}

static bool open_scan(bl_cmd_scan_t *scan, const char *command, const bl_config_t *config) {
        char errstr[512];
        memset(scan, 0, sizeof(*scan));
        scan->command = command;
        scan->config = config; /* the DLQ needs no contracts: its values are kept as they came */
        if (!(scan->reader = bl_reader_new(config, errstr, sizeof(errstr)))) {
                fprintf(stderr, "backlogd %s: %s\n", command, errstr);
                return false;
        }
        return true;
}

/* ---- dlq list ----------------------------------------------------------------------- */

typedef struct reason_total_s {
        const char *reason; /* borrowed from a letter; "unknown" when it has none */
        uint64_t count, redriven;
        int64_t first_ms, last_ms;
        const char *first, *last; /* failed_at text of the first and last failure; NULL: none known */
} reason_total_t;

typedef struct list_s {
        bl_cmd_scan_t scan;
        const dlq_opts_t *opts;
        char *dlq_topic;
        bl_dlq_letters_t letters;
        bl_dlq_redrives_t redrives;
        reason_total_t *totals;
        size_t total_count;
        uint64_t redriven;
} list_t;

static int compare_by_failure(const void *a, const void *b) {
        const bl_dlq_letter_t *x = a, *y = b;
        if (x->failed_at_ms != y->failed_at_ms)
                return x->failed_at_ms < y->failed_at_ms ? -1 : 1;
        if (x->partition != y->partition)
                return x->partition < y->partition ? -1 : 1;
        return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static int compare_totals(const void *a, const void *b) {
        return strcmp(((const reason_total_t *)a)->reason, ((const reason_total_t *)b)->reason);
}

static const char *reason_of(const bl_dlq_letter_t *letter) {
        return letter->reason ? letter->reason : "unknown";
}

/* Totals per reason over every letter the filters kept, sorted by reason. */
static bool count_reasons(list_t *list) {
        list->totals = calloc(list->letters.count ? list->letters.count : 1, sizeof(*list->totals));
        if (!list->totals)
                return false;
        for (size_t i = 0; i < list->letters.count; i++) {
                const bl_dlq_letter_t *letter = &list->letters.items[i];
                reason_total_t *total = NULL;
                for (size_t t = 0; t < list->total_count && !total; t++)
                        if (!strcmp(list->totals[t].reason, reason_of(letter)))
                                total = &list->totals[t];
                if (!total) {
                        total = &list->totals[list->total_count++];
                        total->reason = reason_of(letter);
                }
                total->count++;
                if (bl_dlq_read_redrive_of(&list->redrives, letter->partition, letter->offset)) {
                        total->redriven++;
                        list->redriven++;
                }
                if (letter->failed_at_ms == BL_DLQ_ABSENT)
                        continue;
                if (!total->first || letter->failed_at_ms < total->first_ms) {
                        total->first_ms = letter->failed_at_ms;
                        total->first = letter->failed_at;
                }
                if (!total->last || letter->failed_at_ms > total->last_ms) {
                        total->last_ms = letter->failed_at_ms;
                        total->last = letter->failed_at;
                }
        }
        if (list->total_count)
                qsort(list->totals, list->total_count, sizeof(*list->totals), compare_totals);
        return true;
}

/* The index of the first letter listed: --limit keeps the newest. */
static size_t first_listed(const list_t *list) {
        size_t limit = (size_t)list->opts->limit;
        return limit && list->letters.count > limit ? list->letters.count - limit : 0;
}

static void print_summary(const list_t *list) {
        int width = (int)strlen("REASON");
        printf("%s: %zu dead letter%s%s, %" PRIu64 " redriven\n", list->dlq_topic, list->letters.count,
               list->letters.count == 1 ? "" : "s", filtered(&list->opts->selection) ? " matching the filters" : "",
               list->redriven);
        if (!list->total_count)
                return;
        for (size_t t = 0; t < list->total_count; t++)
                if ((int)strlen(list->totals[t].reason) > width)
                        width = (int)strlen(list->totals[t].reason);
        printf("\n%-*s  %6s  %8s  %-24s  %s\n", width, "REASON", "COUNT", "REDRIVEN", "FIRST FAILED", "LAST FAILED");
        for (size_t t = 0; t < list->total_count; t++) {
                const reason_total_t *total = &list->totals[t];
                printf("%-*s  %6" PRIu64 "  %8" PRIu64 "  %-24s  %s\n", width, total->reason, total->count,
                       total->redriven, total->first ? total->first : "-", total->last ? total->last : "-");
        }
}

typedef struct row_s {
        char dlq[48];
        char original[320];
        char *key;
        const char *reason;
        const char *redriven;
} row_t;

static bool print_letters(const list_t *list) {
        size_t first = first_listed(list), count = list->letters.count - first, columns = terminal_columns();
        int dlq_width = 3, reason_width = 6, original_width = 8, key_width = 3;
        row_t *rows = calloc(count ? count : 1, sizeof(*rows));
        bool ok = rows != NULL;
        if (!count || !ok) {
                free(rows);
                return ok;
        }
        for (size_t i = 0; i < count && ok; i++) {
                const bl_dlq_letter_t *letter = &list->letters.items[first + i];
                row_t *row = &rows[i];
                snprintf(row->dlq, sizeof(row->dlq), "%" PRId32 ":%" PRId64, letter->partition, letter->offset);
                original_text(letter, row->original, sizeof(row->original));
                row->reason = reason_of(letter);
                row->redriven =
                        bl_dlq_read_redrive_of(&list->redrives, letter->partition, letter->offset) ? "yes" : "no";
                ok = (row->key = key_text(letter, KEY_COLUMNS_MAX)) != NULL;
                if (!ok)
                        break;
                if ((int)strlen(row->dlq) > dlq_width)
                        dlq_width = (int)strlen(row->dlq);
                if ((int)strlen(row->reason) > reason_width)
                        reason_width = (int)strlen(row->reason);
                if ((int)strlen(row->original) > original_width)
                        original_width = (int)strlen(row->original);
                if ((int)strlen(row->key) > key_width) /* bytes: a fair bound for the column */
                        key_width = (int)strlen(row->key);
        }
        if (ok) {
                size_t used = (size_t)(dlq_width + reason_width + original_width + key_width + 8 + 10);
                /* one column spare: a line exactly as wide as the terminal wraps on some */
                size_t detail_columns =
                        columns ? (columns > used + DETAIL_COLUMNS_MIN ? columns - used - 1 : DETAIL_COLUMNS_MIN) : 0;
                if (list->opts->limit && list->letters.count > (size_t)list->opts->limit)
                        printf("\nthe newest %zu of %zu:\n", count, list->letters.count);
                printf("\n%-*s  %-*s  %-*s  %-*s  %-8s  %s\n", dlq_width, "DLQ", reason_width, "REASON", original_width,
                       "ORIGINAL", key_width, "KEY", "REDRIVEN", "DETAIL");
                for (size_t i = 0; i < count && ok; i++) {
                        const bl_dlq_letter_t *letter = &list->letters.items[first + i];
                        const char *detail = letter->detail ? letter->detail : "";
                        char *shown = printable(detail, strlen(detail), detail_columns);
                        if (!(ok = shown != NULL))
                                break;
                        printf("%-*s  %-*s  %-*s  %-*s  %-8s  %s\n", dlq_width, rows[i].dlq, reason_width,
                               rows[i].reason, original_width, rows[i].original, key_width, rows[i].key,
                               rows[i].redriven, shown);
                        free(shown);
                }
        }
        for (size_t i = 0; i < count; i++)
                free(rows[i].key);
        free(rows);
        return ok;
}

static json_t *redrive_json(const bl_dlq_redrive_t *redrive) {
        return json_pack("{s:s, s:i, s:I, s:o, s:o}", "topic", redrive->topic, "partition", (int)redrive->partition,
                         "offset", (json_int_t)redrive->offset, "at", json_text(redrive->at), "by",
                         json_text(redrive->by));
}

static json_t *letter_json(const list_t *list, const bl_dlq_letter_t *letter) {
        const bl_dlq_redrive_t *redrive = bl_dlq_read_redrive_of(&list->redrives, letter->partition, letter->offset);
        json_t *record = json_pack(
                "{s:i, s:I, s:o, s:o, s:o, s:o, s:{s:o, s:o, s:o, s:o}, s:o, s:o, s:o, s:o, s:b}", "dlq_partition",
                (int)letter->partition, "dlq_offset", (json_int_t)letter->offset, "key", json_key(letter), "reason",
                json_text(letter->reason), "detail", json_text(letter->detail), "stage", json_text(letter->stage),
                "original", "topic", json_text(letter->original_topic), "partition",
                json_number(letter->original_partition), "offset", json_number(letter->original_offset), "timestamp",
                json_number(letter->original_timestamp_ms), "schema_id", json_number(letter->schema_id), "attempts",
                json_number(letter->attempts), "failed_at", json_text(letter->failed_at), "processor",
                json_text(letter->processor), "redriven", redrive != NULL);
        if (record && redrive)
                json_object_set_new(record, "redriven_to", redrive_json(redrive));
        return record;
}

static json_t *list_json(const list_t *list) {
        json_t *by_reason = json_object(), *records = json_array();
        for (size_t t = 0; t < list->total_count; t++) {
                const reason_total_t *total = &list->totals[t];
                json_object_set_new(by_reason, total->reason,
                                    json_pack("{s:I, s:I, s:o, s:o}", "count", (json_int_t)total->count, "redriven",
                                              (json_int_t)total->redriven, "first_failed_at", json_text(total->first),
                                              "last_failed_at", json_text(total->last)));
        }
        for (size_t i = first_listed(list); i < list->letters.count && !list->opts->summary_only; i++)
                json_array_append_new(records, letter_json(list, &list->letters.items[i]));
        if (list->opts->summary_only) {
                json_decref(records);
                return json_pack("{s:s, s:I, s:I, s:o}", "topic", list->dlq_topic, "total",
                                 (json_int_t)list->letters.count, "redriven", (json_int_t)list->redriven, "by_reason",
                                 by_reason);
        }
        return json_pack("{s:s, s:I, s:I, s:o, s:o}", "topic", list->dlq_topic, "total",
                         (json_int_t)list->letters.count, "redriven", (json_int_t)list->redriven, "by_reason",
                         by_reason, "records", records);
}

static bool list_report(const list_t *list) {
        json_t *out;
        if (!list->opts->as_json) {
                print_summary(list);
                return list->opts->summary_only || print_letters(list);
        }
        if (!(out = list_json(list)))
                return false;
        json_dumpf(out, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        putchar('\n');
        json_decref(out);
        return true;
}

static int list_run(const bl_config_t *config, dlq_opts_t *opts) {
        list_t list = {0};
        int status = BL_EXIT_FAILURE;
        list.opts = opts;
        opts->selection.config = config;
        if (!(list.dlq_topic = bl_config_topic_name(config, "backlog.dlq"))) {
                fprintf(stderr, "backlogd dlq list: out of memory\n");
                goto done;
        }
        if (!open_scan(&list.scan, "dlq list", config) ||
            !bl_dlq_read_letters(&list.scan, list.dlq_topic, select_letter, &opts->selection, &list.letters) ||
            !bl_dlq_read_redrives(&list.scan, list.dlq_topic, &list.letters, &list.redrives))
                goto done;
        if (list.letters.count)
                qsort(list.letters.items, list.letters.count, sizeof(*list.letters.items), compare_by_failure);
        if (!count_reasons(&list) || !list_report(&list)) {
                fprintf(stderr, "backlogd dlq list: out of memory\n");
                goto done;
        }
        status = BL_EXIT_OK;
done:
        free(list.totals);
        bl_dlq_read_redrives_clear(&list.redrives);
        bl_dlq_read_letters_clear(&list.letters);
        bl_cmd_scan_close(&list.scan);
        free(list.dlq_topic);
        return status;
}

/* ---- dlq redrive ----------------------------------------------------------------------- */

typedef enum {
        OUTCOME_PENDING = 0, /* chosen, not yet decided */
        OUTCOME_PUBLISHED,
        OUTCOME_WOULD_PUBLISH, /* --dry-run */
        OUTCOME_SKIPPED,       /* already redriven */
        OUTCOME_REFUSED,       /* its original topic is not an input topic */
        OUTCOME_FAILED,
        OUTCOME__COUNT
} outcome_status_t;

static const char *const outcome_names[OUTCOME__COUNT] = {"pending", "published", "would_publish",
                                                          "skipped", "refused",   "failed"};

typedef struct outcome_s {
        outcome_status_t status;
        const bl_dlq_redrive_t *earlier; /* skipped: the redrive made before */
        bool delivered;                  /* the delivery report came back without error */
        int32_t partition;               /* published: where it went */
        int64_t offset;
        char error[256]; /* refused, failed */
} outcome_t;

typedef struct redrive_s {
        bl_cmd_scan_t scan;
        const bl_config_t *config;
        const dlq_opts_t *opts;
        char *dlq_topic;
        bl_dlq_letters_t letters; /* the chosen ones, in DLQ partition and offset order */
        bl_dlq_redrives_t redrives;
        outcome_t *outcomes; /* one per letter */
        bl_txn_producer_t *producer;
        char transactional_id[256];
        char redriven_at[48];
        char redriven_by[320];
        uint64_t totals[OUTCOME__COUNT];
        uint64_t offsets_missing; /* --offset values that chose no letter */
} redrive_t;

static int compare_by_position(const void *a, const void *b) {
        const bl_dlq_letter_t *x = a, *y = b;
        if (x->partition != y->partition)
                return x->partition < y->partition ? -1 : 1;
        return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static void set_outcome(outcome_t *outcome, outcome_status_t status, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static void set_outcome(outcome_t *outcome, outcome_status_t status, const char *fmt, ...) {
        va_list ap;
        outcome->status = status;
        if (!fmt)
                return;
        va_start(ap, fmt);
        vsnprintf(outcome->error, sizeof(outcome->error), fmt, ap);
        va_end(ap);
}

/* "<user>@<host>": who redrives, for dlq.redriven.by. */
static void who_redrives(char *out, size_t out_size) {
        char host[256] = "";
        const struct passwd *account = getpwuid(geteuid());
        const char *user = account && account->pw_name ? account->pw_name : getenv("USER");
        if (gethostname(host, sizeof(host) - 1) || !*host)
                snprintf(host, sizeof(host), "unknown-host");
        host[sizeof(host) - 1] = '\0';
        if (user && *user)
                snprintf(out, out_size, "%s@%s", user, host);
        else
                snprintf(out, out_size, "uid %u@%s", (unsigned)geteuid(), host);
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *message, void *opaque) {
        outcome_t *outcome = message->_private;
        (void)rk;
        (void)opaque;
        if (!outcome)
                return;
        if (message->err) {
                snprintf(outcome->error, sizeof(outcome->error), "delivery failed: %s", rd_kafka_err2str(message->err));
                return;
        }
        outcome->delivered = true;
        outcome->partition = message->partition;
        outcome->offset = message->offset;
}

/*
 * The transactional producer every redrive of this deployment shares, its
 * transactions initialised: any other redrive still at work is fenced now.
 */
static bool open_producer(redrive_t *redrive) {
        snprintf(redrive->transactional_id, sizeof(redrive->transactional_id), "%s-dlq-redrive",
                 redrive->config->group_id);
        const char *overrides[] = {"partitioner", "murmur2_random", "linger.ms", "5", NULL};
        bl_txn_settings_t settings = {.transactional_id = redrive->transactional_id,
                                      .transaction_timeout_ms = redrive->config->transaction_timeout_ms,
                                      .init_timeout_ms = (int)redrive->config->admin_timeout_ms,
                                      .overrides = overrides,
                                      .delivered = on_delivery};
        bl_txn_result_t result;
        if (!(redrive->producer = bl_txn_producer_new(redrive->config, &settings, &result))) {
                fprintf(stderr, "backlogd dlq redrive: %s (bootstrap.servers %s)\n", result.reason,
                        bl_kafka_bootstrap(redrive->config));
                return false;
        }
        bl_log_debug("dlq", "transactional producer %s ready", redrive->transactional_id);
        return true;
}

/* The letter's original headers, then the three that mark the redrive. */
static rd_kafka_headers_t *redrive_headers(const redrive_t *redrive, const bl_dlq_letter_t *letter) {
        rd_kafka_headers_t *headers =
                letter->headers ? rd_kafka_headers_copy(letter->headers) : rd_kafka_headers_new(3);
        char from[512];
        snprintf(from, sizeof(from), "%s:%" PRId32 ":%" PRId64, redrive->dlq_topic, letter->partition, letter->offset);
        rd_kafka_header_add(headers, BL_DLQ_REDRIVEN_FROM, -1, from, -1);
        rd_kafka_header_add(headers, BL_DLQ_REDRIVEN_AT, -1, redrive->redriven_at, -1);
        rd_kafka_header_add(headers, BL_DLQ_REDRIVEN_BY, -1, redrive->redriven_by, -1);
        return headers;
}

/* Enqueues one letter in the open transaction (key, value and headers copied by librdkafka). */
static bool enqueue(redrive_t *redrive, size_t i) {
        const bl_dlq_letter_t *letter = &redrive->letters.items[i];
        outcome_t *outcome = &redrive->outcomes[i];
        bl_txn_message_t message = {.topic = letter->original_topic,
                                    .partition = RD_KAFKA_PARTITION_UA,
                                    .key = letter->key,
                                    .key_size = letter->key ? letter->key_size : 0,
                                    .value = letter->has_value ? letter->value : NULL,
                                    .value_size = letter->has_value ? letter->value_size : 0,
                                    .headers = redrive_headers(redrive, letter),
                                    .opaque = outcome};
        rd_kafka_resp_err_t err = bl_txn_producer_send(redrive->producer, &message);
        if (err) {
                set_outcome(outcome, OUTCOME_FAILED, "cannot produce to %s: %s", letter->original_topic,
                            rd_kafka_err2str(err));
                return false;
        }
        return true;
}

/* Marks every pending letter in [first, last) failed with @p why. */
static void fail_pending(redrive_t *redrive, size_t first, size_t last, const char *why) {
        for (size_t i = first; i < last; i++)
                if (redrive->outcomes[i].status == OUTCOME_PENDING)
                        set_outcome(&redrive->outcomes[i], OUTCOME_FAILED, "%s", why);
}

/*
 * Publishes the pending letters in [first, last) in one transaction. False
 * when the producer can go on no more (fenced, fatal): every letter still
 * pending is failed then.
 */
static bool publish_batch(redrive_t *redrive, size_t first, size_t last) {
        bl_txn_result_t result = bl_txn_producer_begin(redrive->producer);
        char why[600];
        bool go_on = true;
        if (result.verdict != BL_TXN_OK) {
                fail_pending(redrive, first, redrive->letters.count, result.reason);
                return false;
        }
        for (size_t i = first; i < last; i++)
                if (redrive->outcomes[i].status == OUTCOME_PENDING)
                        enqueue(redrive, i);
        result = bl_txn_producer_commit(redrive->producer, NULL, NULL, NULL, -1);
        rd_kafka_poll(bl_txn_producer_handle(redrive->producer), 0); /* the last delivery reports */
        switch (result.verdict) {
        case BL_TXN_OK:
                for (size_t i = first; i < last; i++)
                        if (redrive->outcomes[i].status == OUTCOME_PENDING)
                                redrive->outcomes[i].status = OUTCOME_PUBLISHED;
                return true;
        case BL_TXN_ABORTABLE:
                snprintf(why, sizeof(why), "transaction aborted, nothing of it published: %s", result.reason);
                go_on = bl_txn_producer_abort(redrive->producer, -1).verdict == BL_TXN_OK;
                break;
        case BL_TXN_RETRIABLE:
                snprintf(why, sizeof(why),
                         "commit outcome unknown (%s): run the redrive again; what was committed is skipped",
                         result.reason);
                go_on = false;
                break;
        case BL_TXN_FATAL:
                snprintf(why, sizeof(why), "%s%s", result.reason,
                         result.producer_fatal ? " (fenced by another redrive of this DLQ, or fatal)" : "");
                go_on = false;
                break;
        }
        fail_pending(redrive, first, go_on ? last : redrive->letters.count, why);
        return go_on;
}

/* Decides each letter: refused, skipped (already redriven), or pending (to publish). */
static size_t decide(redrive_t *redrive) {
        size_t pending = 0;
        for (size_t i = 0; i < redrive->letters.count; i++) {
                const bl_dlq_letter_t *letter = &redrive->letters.items[i];
                outcome_t *outcome = &redrive->outcomes[i];
                if (outcome->status != OUTCOME_PENDING)
                        continue;
                if ((outcome->earlier =
                             bl_dlq_read_redrive_of(&redrive->redrives, letter->partition, letter->offset))) {
                        outcome->status = OUTCOME_SKIPPED;
                        continue;
                }
                pending++;
        }
        return pending;
}

/*
 * Refuses the letters that came from no input topic, and those that hold only a prefix of their record,
 * before anything is read or opened for them.
 */
static size_t refuse_strangers(redrive_t *redrive) {
        size_t candidates = 0;
        for (size_t i = 0; i < redrive->letters.count; i++) {
                const bl_dlq_letter_t *letter = &redrive->letters.items[i];
                outcome_t *outcome = &redrive->outcomes[i];
                if (!letter->original_topic)
                        set_outcome(outcome, OUTCOME_REFUSED,
                                    "it has no dlq.original.topic header: nowhere to "
                                    "redrive it to");
                else if (letter->reason && !strcmp(letter->reason, "record.too_large"))
                        set_outcome(outcome, OUTCOME_REFUSED,
                                    "a record.too_large letter holds only a prefix of the record: read the "
                                    "original at %s [dlq.original.partition] dlq.original.offset",
                                    letter->original_topic);
                else if (!bl_dlq_read_input_role(redrive->config, letter->original_topic))
                        set_outcome(outcome, OUTCOME_REFUSED,
                                    "dlq.original.topic '%s' is not an input topic of backlogd "
                                    "(%stasks.events or %stasks.results)",
                                    letter->original_topic, redrive->config->topics_prefix,
                                    redrive->config->topics_prefix);
                else
                        candidates++;
        }
        return candidates;
}

static void print_outcome(const redrive_t *redrive, size_t i) {
        const bl_dlq_letter_t *letter = &redrive->letters.items[i];
        const outcome_t *outcome = &redrive->outcomes[i];
        char *key = key_text(letter, KEY_COLUMNS_MAX);
        char where[320];
        printf("%-13s %s:%" PRId32 ":%" PRId64 "  key %s  %s",
               outcome->status == OUTCOME_WOULD_PUBLISH ? "would publish" : outcome_names[outcome->status],
               redrive->dlq_topic, letter->partition, letter->offset, key ? key : "?", reason_of(letter));
        switch (outcome->status) {
        case OUTCOME_PUBLISHED:
                if (outcome->delivered)
                        printf("  -> %s:%" PRId32 ":%" PRId64 "\n", letter->original_topic, outcome->partition,
                               outcome->offset);
                else
                        printf("  -> %s\n", letter->original_topic);
                break;
        case OUTCOME_WOULD_PUBLISH: printf("  -> %s\n", letter->original_topic); break;
        case OUTCOME_SKIPPED:
                snprintf(where, sizeof(where), "%s:%" PRId32 ":%" PRId64, outcome->earlier->topic,
                         outcome->earlier->partition, outcome->earlier->offset);
                printf("  already redriven to %s at %s by %s\n", where,
                       outcome->earlier->at ? outcome->earlier->at : "?",
                       outcome->earlier->by ? outcome->earlier->by : "?");
                break;
        default: printf(": %s\n", outcome->error); break;
        }
        free(key);
}

static json_t *outcome_json(const redrive_t *redrive, size_t i) {
        const bl_dlq_letter_t *letter = &redrive->letters.items[i];
        const outcome_t *outcome = &redrive->outcomes[i];
        char from[512];
        json_t *record;
        snprintf(from, sizeof(from), "%s:%" PRId32 ":%" PRId64, redrive->dlq_topic, letter->partition, letter->offset);
        record = json_pack("{s:i, s:I, s:o, s:o, s:o, s:s, s:s}", "dlq_partition", (int)letter->partition, "dlq_offset",
                           (json_int_t)letter->offset, "key", json_key(letter), "reason", json_text(letter->reason),
                           "original_topic", json_text(letter->original_topic), "redriven_from", from, "status",
                           outcome_names[outcome->status]);
        if (!record)
                return NULL;
        if (outcome->status == OUTCOME_PUBLISHED && outcome->delivered)
                json_object_set_new(record, "target",
                                    json_pack("{s:s, s:i, s:I}", "topic", letter->original_topic, "partition",
                                              (int)outcome->partition, "offset", (json_int_t)outcome->offset));
        else if (outcome->status == OUTCOME_SKIPPED)
                json_object_set_new(record, "earlier", redrive_json(outcome->earlier));
        else if (outcome->status == OUTCOME_REFUSED || outcome->status == OUTCOME_FAILED)
                json_object_set_new(record, "error", json_text(outcome->error));
        return record;
}

static bool redrive_report(redrive_t *redrive) {
        const dlq_opts_t *opts = redrive->opts;
        json_t *out, *records;
        for (size_t i = 0; i < redrive->letters.count; i++)
                redrive->totals[redrive->outcomes[i].status]++;
        if (!opts->as_json) {
                for (size_t i = 0; i < redrive->letters.count; i++)
                        print_outcome(redrive, i);
                if (opts->dry_run)
                        printf("dry run: %" PRIu64 " would be published, ", redrive->totals[OUTCOME_WOULD_PUBLISH]);
                else
                        printf("%" PRIu64 " published, ", redrive->totals[OUTCOME_PUBLISHED]);
                printf("%" PRIu64 " skipped (already redriven), %" PRIu64 " refused, %" PRIu64 " failed\n",
                       redrive->totals[OUTCOME_SKIPPED], redrive->totals[OUTCOME_REFUSED],
                       redrive->totals[OUTCOME_FAILED]);
                return true;
        }
        if (!(records = json_array()))
                return false;
        for (size_t i = 0; i < redrive->letters.count; i++)
                json_array_append_new(records, outcome_json(redrive, i));
        out = json_pack("{s:s, s:b, s:o, s:{s:I, s:I, s:I, s:I, s:I}, s:I}", "dlq_topic", redrive->dlq_topic, "dry_run",
                        opts->dry_run, "records", records, "totals", "published",
                        (json_int_t)redrive->totals[OUTCOME_PUBLISHED], "would_publish",
                        (json_int_t)redrive->totals[OUTCOME_WOULD_PUBLISH], "skipped",
                        (json_int_t)redrive->totals[OUTCOME_SKIPPED], "refused",
                        (json_int_t)redrive->totals[OUTCOME_REFUSED], "failed",
                        (json_int_t)redrive->totals[OUTCOME_FAILED], "offsets_missing",
                        (json_int_t)redrive->offsets_missing);
        if (!out)
                return false;
        json_dumpf(out, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        putchar('\n');
        json_decref(out);
        return true;
}

/* Names each --offset that chose no letter (it does not exist, or the other selectors left it out). */
static void report_missing_offsets(redrive_t *redrive) {
        const selection_t *selection = &redrive->opts->selection;
        for (size_t i = 0; i < selection->offset_count; i++) {
                if (selection->offsets[i].matched)
                        continue;
                redrive->offsets_missing++;
                fprintf(stderr, "backlogd dlq redrive: --offset %" PRId32 ":%" PRId64 ": %s holds no such letter%s\n",
                        selection->offsets[i].partition, selection->offsets[i].offset, redrive->dlq_topic,
                        selection->reason_count || selection->key_count ? " matching --reason/--key" : "");
        }
}

/* Publishes every pending letter, RECORDS_PER_TRANSACTION to a transaction. */
static void publish(redrive_t *redrive) {
        size_t first = 0;
        bl_history_format_time(bl_cmd_now_ms(), redrive->redriven_at, sizeof(redrive->redriven_at));
        who_redrives(redrive->redriven_by, sizeof(redrive->redriven_by));
        while (first < redrive->letters.count) {
                size_t last = first, in_batch = 0;
                while (last < redrive->letters.count && in_batch < RECORDS_PER_TRANSACTION)
                        if (redrive->outcomes[last++].status == OUTCOME_PENDING)
                                in_batch++;
                if (in_batch && !publish_batch(redrive, first, last))
                        return;
                first = last;
        }
}

static int redrive_run(const bl_config_t *config, dlq_opts_t *opts) {
        redrive_t redrive = {0};
        int status = BL_EXIT_FAILURE;
        size_t candidates, pending;
        redrive.config = config;
        redrive.opts = opts;
        opts->selection.config = config;
        if (!(redrive.dlq_topic = bl_config_topic_name(config, "backlog.dlq"))) {
                fprintf(stderr, "backlogd dlq redrive: out of memory\n");
                goto done;
        }
        if (!open_scan(&redrive.scan, "dlq redrive", config) ||
            !bl_dlq_read_letters(&redrive.scan, redrive.dlq_topic, select_letter, &opts->selection, &redrive.letters))
                goto done;
        if (redrive.letters.count)
                qsort(redrive.letters.items, redrive.letters.count, sizeof(*redrive.letters.items),
                      compare_by_position);
        report_missing_offsets(&redrive);
        if (!(redrive.outcomes =
                      calloc(redrive.letters.count ? redrive.letters.count : 1, sizeof(*redrive.outcomes)))) {
                fprintf(stderr, "backlogd dlq redrive: out of memory\n");
                goto done;
        }
        candidates = refuse_strangers(&redrive);
        /* Fence the other redrives first, then look for what they published: see the head comment. */
        if (candidates && !opts->dry_run && !open_producer(&redrive))
                goto done;
        if (candidates && !bl_dlq_read_redrives(&redrive.scan, redrive.dlq_topic, &redrive.letters, &redrive.redrives))
                goto done;
        pending = decide(&redrive);
        if (opts->dry_run) {
                for (size_t i = 0; i < redrive.letters.count; i++)
                        if (redrive.outcomes[i].status == OUTCOME_PENDING)
                                redrive.outcomes[i].status = OUTCOME_WOULD_PUBLISH;
        } else if (pending) {
                publish(&redrive);
        }
        if (!redrive.letters.count)
                fprintf(stderr, "backlogd dlq redrive: no letter in %s matches the selectors\n", redrive.dlq_topic);
        if (!redrive_report(&redrive)) {
                fprintf(stderr, "backlogd dlq redrive: out of memory\n");
                goto done;
        }
        status = redrive.totals[OUTCOME_REFUSED] || redrive.totals[OUTCOME_FAILED] || redrive.offsets_missing
                         ? BL_EXIT_FAILURE
                         : BL_EXIT_OK;
done:
        bl_txn_producer_destroy(redrive.producer, false);
        free(redrive.outcomes);
        bl_dlq_read_redrives_clear(&redrive.redrives);
        bl_dlq_read_letters_clear(&redrive.letters);
        bl_cmd_scan_close(&redrive.scan);
        free(redrive.dlq_topic);
        return status;
}

/* ---- the command ------------------------------------------------------------------------ */

int bl_cmd_dlq(int argc, char **argv) {
        dlq_opts_t opts = {0};
        bl_config_t *config;
        bool redrive;
        int status;
        if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
                usage(stdout);
                return BL_EXIT_OK;
        }
        if (argc < 2)
                return bl_cmd_usage_error("dlq", "missing action: list or redrive");
        if (strcmp(argv[1], "list") && strcmp(argv[1], "redrive"))
                return bl_cmd_usage_error("dlq", "unknown action '%s': expected list or redrive", argv[1]);
        redrive = !strcmp(argv[1], "redrive");
        status = parse_options(argc - 1, argv + 1, redrive, &opts);
        if (status) {
                opts_clear(&opts);
                return status < 0 ? BL_EXIT_OK : status;
        }
        if (!(config = bl_cmd_load_config(opts.config_path))) {
                opts_clear(&opts);
                return BL_EXIT_FAILURE;
        }
        status = redrive ? redrive_run(config, &opts) : list_run(config, &opts);
        bl_config_destroy(config);
        opts_clear(&opts);
        return status;
}
