/*
 * metrics.c: the metrics registry and backlogd's catalogue of metrics.
 *
 * The registry is a list of metrics, each a list of series; both lists only
 * grow, under the registry's mutex, and live until bl_metrics_destroy(). A
 * series is one allocation: its label values, its label text rendered and
 * escaped once at creation (`state="READY",domain="evaluation"`), and its
 * values. So a handle stays valid for the registry's life, and an update
 * touches only the series' own atomics:
 *
 *   counter, gauge  value_bits: the double's bits in an _Atomic uint64_t,
 *                   set by a store, added to by a compare-and-swap loop
 *   histogram       buckets[i]: observations in (bound[i-1], bound[i]],
 *                   the last one (+Inf) past every bound, each an atomic
 *                   counter; value_bits holds the sum
 *
 * C11 has no portable atomic double (an _Atomic double's += is not
 * guaranteed lock-free), hence the bit-casting. Every access is relaxed:
 * values are independent of one another and the mutex orders the lists.
 *
 * Rendering holds the mutex, so series cannot be created meanwhile, and
 * writes into a growing buffer, never to a socket: the mutex is held for
 * the time of formatting only. Buckets are stored per bucket and summed
 * into the cumulative _bucket lines while rendering, so +Inf and _count are
 * the same number in every rendering.
 *
 * Numbers print in the shortest form that reads back exactly ("%.15g",
 * else "%.17g"), +Inf, -Inf and NaN as the format spells them. backlogd never
 * calls setlocale(), so the decimal point is '.'.
 *
 * Threads: any (see metrics.h).
 */
#include "ops/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"

#define NAME_MAX_LEN 200
#define LABELS_MAX 16

struct bl_metric_series_s {
        struct bl_metric_series_s *next;
        const bl_metric_t *metric;
        char **label_values;        /* label_count copies, inside this allocation */
        char *label_text;           /* escaped pairs without braces; "" without labels */
        _Atomic uint64_t value_bits; /* counter or gauge value; histogram sum */
        _Atomic uint64_t buckets[]; /* histograms: bucket_count + 1, the last one +Inf */
};

struct bl_metric_s {
        struct bl_metric_s *next;
        bl_metrics_t *registry;
        bl_metric_type_t type;
        char *name;
        char *help;
        char **label_names;
        size_t label_count;
        double *bounds;
        char (*bound_texts)[32]; /* each bound as the le label shows it */
        size_t bucket_count;
        bl_metric_series_t *series_head, *series_tail;
        size_t series_count;
        bool refusal_logged; /* the series limit was reached and said so */
};

struct bl_metrics_s {
        pthread_mutex_t lock;
        bl_metric_t *head, *tail;
};

/* ---- numbers ------------------------------------------------------------- */

static uint64_t double_bits(double v) {
        uint64_t bits;
        memcpy(&bits, &v, sizeof(bits));
        return bits;
}

static double bits_double(uint64_t bits) {
        double v;
        memcpy(&v, &bits, sizeof(v));
        return v;
}

static void atomic_add_double(_Atomic uint64_t *target, double n) {
        uint64_t old = atomic_load_explicit(target, memory_order_relaxed);
        while (!atomic_compare_exchange_weak_explicit(target, &old, double_bits(bits_double(old) + n),
                                                      memory_order_relaxed, memory_order_relaxed))
                ;
}

/* The shortest text of @p v that reads back as v, in the format's spelling. */
static void format_number(double v, char out[32]) {
        if (isnan(v)) {
                strcpy(out, "NaN");
                return;
        }
        if (isinf(v)) {
                strcpy(out, v > 0 ? "+Inf" : "-Inf");
                return;
        }
        snprintf(out, 32, "%.15g", v);
        if (strtod(out, NULL) != v)
                snprintf(out, 32, "%.17g", v);
}

/* ---- a growing buffer ---------------------------------------------------- */

typedef struct text_s {
        char *data;
        size_t length, capacity;
        bool failed; /* out of memory: everything after is dropped */
} text_t;

static bool text_reserve(text_t *text, size_t more) {
        if (text->failed)
                return false;
        if (text->length + more + 1 <= text->capacity)
                return true;
        size_t capacity = text->capacity ? text->capacity : 4096;
        while (capacity < text->length + more + 1)
                capacity *= 2;
        char *grown = realloc(text->data, capacity);
        if (!grown) {
                text->failed = true;
                return false;
        }
        text->data = grown;
        text->capacity = capacity;
        return true;
}

static void text_append(text_t *text, const char *bytes, size_t length) {
        if (!text_reserve(text, length))
                return;
        memcpy(text->data + text->length, bytes, length);
        text->length += length;
        text->data[text->length] = '\0';
}

static void text_puts(text_t *text, const char *s) {
        text_append(text, s, strlen(s));
}

/* Appends @p s escaped: backslash and newline always, the double quote in label values. */
static void text_escaped(text_t *text, const char *s, bool escape_quote) {
        for (const char *p = s; *p; p++) {
                if (*p == '\\')
                        text_puts(text, "\\\\");
                else if (*p == '\n')
                        text_puts(text, "\\n");
                else if (*p == '"' && escape_quote)
                        text_puts(text, "\\\"");
                else
                        text_append(text, p, 1);
        }
}

/* ---- names --------------------------------------------------------------- */

static bool valid_metric_name(const char *name) {
        size_t length = strlen(name);
        if (length == 0 || length > NAME_MAX_LEN)
                return false;
        for (size_t i = 0; i < length; i++) {
                char c = name[i];
                bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
                if (!letter && !(i > 0 && c >= '0' && c <= '9'))
                        return false;
        }
        return true;
}

static bool valid_label_name(const char *name, size_t length) {
        if (length == 0 || length > NAME_MAX_LEN || (length >= 2 && name[0] == '_' && name[1] == '_'))
                return false;
        for (size_t i = 0; i < length; i++) {
                char c = name[i];
                bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
                if (!letter && !(i > 0 && c >= '0' && c <= '9'))
                        return false;
        }
        return true;
}

/* ---- registry ------------------------------------------------------------ */

bl_metrics_t *bl_metrics_new(void) {
        bl_metrics_t *registry = calloc(1, sizeof(*registry));
        if (!registry)
                return NULL;
        if (pthread_mutex_init(&registry->lock, NULL) != 0) {
                free(registry);
                return NULL;
        }
        return registry;
}

static void metric_free(bl_metric_t *metric) {
        if (!metric)
                return;
        for (bl_metric_series_t *series = metric->series_head, *next; series; series = next) {
                next = series->next;
                free(series);
        }
        for (size_t i = 0; i < metric->label_count; i++)
                free(metric->label_names[i]);
        free(metric->label_names);
        free(metric->bounds);
        free(metric->bound_texts);
        free(metric->help);
        free(metric->name);
        free(metric);
}

void bl_metrics_destroy(bl_metrics_t *registry) {
        if (!registry)
                return;
        for (bl_metric_t *metric = registry->head, *next; metric; metric = next) {
                next = metric->next;
                metric_free(metric);
        }
        pthread_mutex_destroy(&registry->lock);
        free(registry);
}

/* Splits "a,b" into metric->label_names; an error with errstr on a bad name. */
static bl_err_t parse_label_names(bl_metric_t *metric, const char *labels, char *errstr, size_t errstr_size) {
        if (!labels || !*labels)
                return BL_OK;
        metric->label_names = calloc(LABELS_MAX, sizeof(*metric->label_names));
        if (!metric->label_names)
                return bl_err_set(errstr, errstr_size, BL_ERR_NOMEM, "metric %s: out of memory", metric->name);
        for (const char *p = labels;;) {
                const char *comma = strchr(p, ',');
                size_t length = comma ? (size_t)(comma - p) : strlen(p);
                if (!valid_label_name(p, length))
                        return bl_err_set(errstr, errstr_size, BL_ERR_INVALID_ARG,
                                          "metric %s: label name \"%.*s\" is not [a-zA-Z_][a-zA-Z0-9_]* "
                                          "(or starts with __)",
                                          metric->name, (int)length, p);
                if (metric->type == BL_METRIC_HISTOGRAM && length == 2 && !strncmp(p, "le", 2))
                        return bl_err_set(errstr, errstr_size, BL_ERR_INVALID_ARG,
                                          "metric %s: a histogram may not have a label named le", metric->name);
                for (size_t i = 0; i < metric->label_count; i++)
                        if (strlen(metric->label_names[i]) == length && !strncmp(metric->label_names[i], p, length))
                                return bl_err_set(errstr, errstr_size, BL_ERR_INVALID_ARG,
                                                  "metric %s: label %.*s is named twice", metric->name, (int)length,
                                                  p);
                if (metric->label_count == LABELS_MAX)
                        return bl_err_set(errstr, errstr_size, BL_ERR_INVALID_ARG, "metric %s: more than %d labels",
                                          metric->name, LABELS_MAX);
                metric->label_names[metric->label_count] = strndup(p, length);
                if (!metric->label_names[metric->label_count])
                        return bl_err_set(errstr, errstr_size, BL_ERR_NOMEM, "metric %s: out of memory",
                                          metric->name);
                metric->label_count++;
                if (!comma)
                        return BL_OK;
                p = comma + 1;
        }
}

static bl_err_t copy_buckets(bl_metric_t *metric, const bl_metric_desc_t *desc, char *errstr, size_t errstr_size) {
        if (desc->type != BL_METRIC_HISTOGRAM)
                return desc->bucket_count ? bl_err_set(errstr, errstr_size, BL_ERR_INVALID_ARG,
                                                       "metric %s: only histograms have buckets", metric->name)
                                          : BL_OK;
        if (desc->bucket_count == 0 || !desc->buckets || desc->bucket_count > BL_METRICS_BUCKETS_MAX)
                return bl_err_set(errstr, errstr_size, BL_ERR_INVALID_ARG,
                                  "metric %s: a histogram needs 1 to %d buckets", metric->name,
                                  BL_METRICS_BUCKETS_MAX);
        metric->bounds = calloc(desc->bucket_count, sizeof(*metric->bounds));
        metric->bound_texts = calloc(desc->bucket_count, sizeof(*metric->bound_texts));
        if (!metric->bounds || !metric->bound_texts)
                return bl_err_set(errstr, errstr_size, BL_ERR_NOMEM, "metric %s: out of memory", metric->name);
        for (size_t i = 0; i < desc->bucket_count; i++) {
                double bound = desc->buckets[i];
                if (!isfinite(bound) || (i > 0 && bound <= desc->buckets[i - 1]))
                        return bl_err_set(errstr, errstr_size, BL_ERR_INVALID_ARG,
                                          "metric %s: bucket %zu is not finite or not above the one before "
                                          "(+Inf is implicit)",
                                          metric->name, i);
                metric->bounds[i] = bound;
                format_number(bound, metric->bound_texts[i]);
        }
        metric->bucket_count = desc->bucket_count;
        return BL_OK;
}

static bl_metric_t *find_metric(bl_metrics_t *registry, const char *name) {
        for (bl_metric_t *metric = registry->head; metric; metric = metric->next)
                if (!strcmp(metric->name, name))
                        return metric;
        return NULL;
}

static bl_metric_series_t *series_find_or_create(bl_metric_t *metric, const char *const *values);

/* bl_metrics_add() returning why it failed, for bl_metrics_register_backlogd(). */
static bl_err_t metric_add(bl_metrics_t *registry, const bl_metric_desc_t *desc, bl_metric_t **added, char *errstr,
                           size_t errstr_size) {
        *added = NULL;
        if (!registry || !desc)
                return bl_err_set(errstr, errstr_size, BL_ERR_INVALID_ARG, "no registry or no metric to add");
        if (!desc->name || !valid_metric_name(desc->name))
                return bl_err_set(errstr, errstr_size, BL_ERR_INVALID_ARG,
                                  "metric name \"%s\" is not [a-zA-Z_:][a-zA-Z0-9_:]* of at most %d characters",
                                  desc->name ? desc->name : "(null)", NAME_MAX_LEN);
        if ((unsigned)desc->type > BL_METRIC_HISTOGRAM)
                return bl_err_set(errstr, errstr_size, BL_ERR_INVALID_ARG, "metric %s: unknown type %d", desc->name,
                                  (int)desc->type);
        bl_metric_t *metric = calloc(1, sizeof(*metric));
        if (!metric)
                return bl_err_set(errstr, errstr_size, BL_ERR_NOMEM, "metric %s: out of memory", desc->name);
        metric->registry = registry;
        metric->type = desc->type;
        metric->name = strdup(desc->name);
        metric->help = strdup(desc->help ? desc->help : "");
        bl_err_t err = BL_OK;
        if (!metric->name || !metric->help)
                err = bl_err_set(errstr, errstr_size, BL_ERR_NOMEM, "metric %s: out of memory", desc->name);
        if (!err)
                err = parse_label_names(metric, desc->labels, errstr, errstr_size);
        if (!err)
                err = copy_buckets(metric, desc, errstr, errstr_size);
        /* A metric without labels has exactly one series: made now, it shows 0 from the start. */
        if (!err && metric->label_count == 0 && !series_find_or_create(metric, NULL))
                err = bl_err_set(errstr, errstr_size, BL_ERR_NOMEM, "metric %s: out of memory", desc->name);
        if (err) {
                metric_free(metric);
                return err;
        }

        pthread_mutex_lock(&registry->lock);
        if (find_metric(registry, metric->name)) {
                pthread_mutex_unlock(&registry->lock);
                metric_free(metric);
                return bl_err_set(errstr, errstr_size, BL_ERR_INVALID_ARG, "metric %s is already registered",
                                  desc->name);
        }
        if (registry->tail)
                registry->tail->next = metric;
        else
                registry->head = metric;
        registry->tail = metric;
        pthread_mutex_unlock(&registry->lock);
        *added = metric;
        return BL_OK;
}

bl_metric_t *bl_metrics_add(bl_metrics_t *registry, const bl_metric_desc_t *desc, char *errstr,
                            size_t errstr_size) {
        bl_metric_t *metric;
        metric_add(registry, desc, &metric, errstr, errstr_size);
        return metric;
}

/* ---- series -------------------------------------------------------------- */

static bool same_values(const bl_metric_series_t *series, const char *const *values, size_t count) {
        for (size_t i = 0; i < count; i++)
                if (strcmp(series->label_values[i], values[i]))
                        return false;
        return true;
}

/*
 * The series of @p values (label_count of them, already checked), made if
 * new. The caller holds the registry's lock, or owns the metric alone.
 */
static bl_metric_series_t *series_find_or_create(bl_metric_t *metric, const char *const *values) {
        for (bl_metric_series_t *series = metric->series_head; series; series = series->next)
                if (same_values(series, values, metric->label_count))
                        return series;
        if (metric->series_count >= BL_METRICS_SERIES_MAX) {
                if (!metric->refusal_logged)
                        bl_log_warn("metrics", "metric %s holds %d series, the most allowed: new label values "
                                               "are not counted",
                                    metric->name, BL_METRICS_SERIES_MAX);
                metric->refusal_logged = true;
                return NULL;
        }

        /* The label text, escaped, is built first to learn its size. */
        text_t label_text = {0};
        text_puts(&label_text, "");
        for (size_t i = 0; i < metric->label_count; i++) {
                if (i > 0)
                        text_puts(&label_text, ",");
                text_puts(&label_text, metric->label_names[i]);
                text_puts(&label_text, "=\"");
                text_escaped(&label_text, values[i], true);
                text_puts(&label_text, "\"");
        }
        if (label_text.failed) {
                free(label_text.data);
                return NULL;
        }

        size_t bucket_slots = metric->type == BL_METRIC_HISTOGRAM ? metric->bucket_count + 1 : 0;
        size_t size = sizeof(bl_metric_series_t) + bucket_slots * sizeof(_Atomic uint64_t);
        size_t values_offset = size;
        size += metric->label_count * sizeof(char *);
        size_t strings_offset = size;
        for (size_t i = 0; i < metric->label_count; i++)
                size += strlen(values[i]) + 1;
        size += label_text.length + 1;

        bl_metric_series_t *series = calloc(1, size);
        if (!series) {
                free(label_text.data);
                return NULL;
        }
        series->metric = metric;
        atomic_init(&series->value_bits, double_bits(0.0));
        for (size_t i = 0; i < bucket_slots; i++)
                atomic_init(&series->buckets[i], 0);
        series->label_values = (char **)((char *)series + values_offset);
        char *strings = (char *)series + strings_offset;
        for (size_t i = 0; i < metric->label_count; i++) {
                size_t length = strlen(values[i]) + 1;
                memcpy(strings, values[i], length);
                series->label_values[i] = strings;
                strings += length;
        }
        memcpy(strings, label_text.data, label_text.length + 1);
        series->label_text = strings;
        free(label_text.data);

        if (metric->series_tail)
                metric->series_tail->next = series;
        else
                metric->series_head = series;
        metric->series_tail = series;
        metric->series_count++;
        return series;
}

bl_metric_series_t *bl_metrics_series_array(bl_metric_t *metric, const char *const *values, size_t count) {
        if (!metric)
                return NULL;
        if (count != metric->label_count) {
                bl_log_warn("metrics", "metric %s has %zu labels, given %zu values", metric->name, metric->label_count,
                            count);
                return NULL;
        }
        for (size_t i = 0; i < count; i++) {
                if (!values[i] || strlen(values[i]) > BL_METRICS_LABEL_VALUE_MAX) {
                        bl_log_warn("metrics", "metric %s: value of label %s is %s", metric->name,
                                    metric->label_names[i], values[i] ? "too long" : "missing");
                        return NULL;
                }
        }
        pthread_mutex_lock(&metric->registry->lock);
        bl_metric_series_t *series = series_find_or_create(metric, values);
        pthread_mutex_unlock(&metric->registry->lock);
        return series;
}

bl_metric_series_t *bl_metrics_series_list(bl_metric_t *metric, ...) {
        const char *values[LABELS_MAX + 1];
        size_t count = 0;
        va_list ap;
        va_start(ap, metric);
        for (const char *value; (value = va_arg(ap, const char *)) != NULL;) {
                if (count == LABELS_MAX + 1)
                        break; /* more than any metric has: refused below */
                values[count++] = value;
        }
        va_end(ap);
        return bl_metrics_series_array(metric, values, count);
}

/* ---- updates: no lock, no allocation ------------------------------------ */

void bl_metric_inc(bl_metric_series_t *series, double n) {
        if (!series)
                return;
        switch (series->metric->type) {
        case BL_METRIC_COUNTER:
                if (!(n >= 0))
                        return; /* negative or NaN */
                /* fall through */
        case BL_METRIC_GAUGE: atomic_add_double(&series->value_bits, n); break;
        case BL_METRIC_HISTOGRAM: break;
        }
}

void bl_metric_set(bl_metric_series_t *series, double v) {
        if (series && series->metric->type != BL_METRIC_HISTOGRAM)
                atomic_store_explicit(&series->value_bits, double_bits(v), memory_order_relaxed);
}

void bl_metric_observe(bl_metric_series_t *series, double v) {
        if (!series || series->metric->type != BL_METRIC_HISTOGRAM || isnan(v))
                return;
        /* The first bucket whose bound is >= v (le: less than or equal); bucket_count when none. */
        const double *bounds = series->metric->bounds;
        size_t low = 0, high = series->metric->bucket_count;
        while (low < high) {
                size_t mid = low + (high - low) / 2;
                if (v <= bounds[mid])
                        high = mid;
                else
                        low = mid + 1;
        }
        atomic_fetch_add_explicit(&series->buckets[low], 1, memory_order_relaxed);
        atomic_add_double(&series->value_bits, v);
}

double bl_metric_value(const bl_metric_series_t *series) {
        if (!series)
                return 0;
        if (series->metric->type == BL_METRIC_HISTOGRAM) {
                uint64_t count = 0;
                for (size_t i = 0; i <= series->metric->bucket_count; i++)
                        count += atomic_load_explicit(&series->buckets[i], memory_order_relaxed);
                return (double)count;
        }
        return bits_double(atomic_load_explicit(&series->value_bits, memory_order_relaxed));
}

double bl_metric_sum(const bl_metric_series_t *series) {
        if (!series || series->metric->type != BL_METRIC_HISTOGRAM)
                return 0;
        return bits_double(atomic_load_explicit(&series->value_bits, memory_order_relaxed));
}

/* ---- rendering ----------------------------------------------------------- */

static const char *const type_names[] = {"counter", "gauge", "histogram"};

/* name{labels} value, or name{labels,le="x"} for a bucket; braces only when something is inside. */
static void render_sample(text_t *text, const char *name, const char *suffix, const char *labels, const char *le,
                          const char *value) {
        text_puts(text, name);
        text_puts(text, suffix);
        if (*labels || le) {
                text_puts(text, "{");
                text_puts(text, labels);
                if (le) {
                        text_puts(text, *labels ? ",le=\"" : "le=\"");
                        text_puts(text, le);
                        text_puts(text, "\"");
                }
                text_puts(text, "}");
        }
        text_puts(text, " ");
        text_puts(text, value);
        text_puts(text, "\n");
}

static void render_histogram(text_t *text, const bl_metric_t *metric, const bl_metric_series_t *series) {
        char number[32];
        uint64_t cumulative = 0;
        for (size_t i = 0; i < metric->bucket_count; i++) {
                cumulative += atomic_load_explicit(&series->buckets[i], memory_order_relaxed);
                snprintf(number, sizeof(number), "%llu", (unsigned long long)cumulative);
                render_sample(text, metric->name, "_bucket", series->label_text, metric->bound_texts[i], number);
        }
        cumulative += atomic_load_explicit(&series->buckets[metric->bucket_count], memory_order_relaxed);
        snprintf(number, sizeof(number), "%llu", (unsigned long long)cumulative);
        render_sample(text, metric->name, "_bucket", series->label_text, "+Inf", number);
        char sum[32];
        format_number(bits_double(atomic_load_explicit(&series->value_bits, memory_order_relaxed)), sum);
        render_sample(text, metric->name, "_sum", series->label_text, NULL, sum);
        render_sample(text, metric->name, "_count", series->label_text, NULL, number);
}

static void render_metric(text_t *text, const bl_metric_t *metric) {
        text_puts(text, "# HELP ");
        text_puts(text, metric->name);
        text_puts(text, " ");
        text_escaped(text, metric->help, false);
        text_puts(text, "\n# TYPE ");
        text_puts(text, metric->name);
        text_puts(text, " ");
        text_puts(text, type_names[metric->type]);
        text_puts(text, "\n");
        for (const bl_metric_series_t *series = metric->series_head; series; series = series->next) {
                if (metric->type == BL_METRIC_HISTOGRAM) {
                        render_histogram(text, metric, series);
                } else {
                        char value[32];
                        format_number(bits_double(atomic_load_explicit(&series->value_bits, memory_order_relaxed)),
                                      value);
                        render_sample(text, metric->name, "", series->label_text, NULL, value);
                }
        }
}

char *bl_metrics_render_string(bl_metrics_t *registry, size_t *length) {
        text_t text = {0};
        text_puts(&text, ""); /* an empty registry is "", not NULL */
        if (registry) {
                pthread_mutex_lock(&registry->lock);
                for (const bl_metric_t *metric = registry->head; metric; metric = metric->next)
                        render_metric(&text, metric);
                pthread_mutex_unlock(&registry->lock);
        }
        if (text.failed) {
                free(text.data);
                return NULL;
        }
        if (length)
                *length = text.length;
        return text.data;
}

bl_err_t bl_metrics_render(bl_metrics_t *registry, FILE *out) {
        size_t length;
        char *text = bl_metrics_render_string(registry, &length);
        if (!text)
                return BL_ERR_NOMEM;
        bl_err_t err = fwrite(text, 1, length, out) == length ? BL_OK : BL_ERR_IO;
        free(text);
        return err;
}

/* ---- backlogd's catalogue ------------------------------------------------ */

/* A scheduling decision is in-memory work: microseconds, a slow one milliseconds. */
static const double decision_buckets[] = {0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001,
                                          0.0025,  0.005,    0.01,    0.025,  0.05,    0.1,    0.25};
/* A commit is a round trip to the transaction coordinator, and worse under load. */
static const double commit_buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                        0.25,  0.5,    1,     2.5,  5,     10,   30};
/* A batch gathers for commit.interval_ms (100 ms by default), then commits: longer only when behind. */
static const double batch_age_buckets[] = {0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1, 2.5, 5, 10, 30};
/* Input records per transaction: one, up to what a second of a fast instance brings. */
static const double batch_records_buckets[] = {1, 10, 100, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000};
/* A task's wait for dispatch: from a blink to an hour behind a throttled domain. */
static const double pilot_wait_buckets[] = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,   2.5,
                                            5,    10,    30,   60,  120,  300, 900, 3600};

/* A task's wait and its whole life: from milliseconds to a day. */
static const double task_time_buckets[] = {0.01, 0.05, 0.1, 0.25, 0.5, 1,    2.5,   5,
                                           10,   30,   60,  300,  900, 3600, 14400, 86400};
/* A consultation is bounded by the agent's timeout_ms: 10 ms to 60 s. */
static const double consultation_buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                              0.25,  0.5,    1,     2.5,  5,     10,   30, 60};

#define COUNT_OF(array) (sizeof(array) / sizeof((array)[0]))
#define SLOT(field) offsetof(bl_metrics_backlogd_t, field)

/*
 * Every metric backlogd exposes: SPEC §8's list, named by module as STYLE.md
 * rule 13 asks (counters end in _total, units in the name).
 */
const bl_metrics_catalogue_entry_t bl_metrics_catalogue[] = {
        {{"backlogd_backlog_items", BL_METRIC_GAUGE, "Tasks held by this instance, by state and domain.",
          "state,domain", NULL, 0},
         SLOT(backlog_items)},
        {{"backlogd_backlog_oldest_age_seconds", BL_METRIC_GAUGE,
          "Age of the oldest task in each state (time since it entered the state); 0 when none.", "state", NULL, 0},
         SLOT(backlog_oldest_age_seconds)},
        {{"backlogd_backlog_memory_bytes", BL_METRIC_GAUGE,
          "Heap bytes the tasks held by this instance take, as the backlog counts them: what "
          "backlog.max_memory_bytes bounds.",
          NULL, NULL, 0},
         SLOT(backlog_memory_bytes)},
        {{"backlogd_ingest_events_total", BL_METRIC_COUNTER, "Input records consumed, by topic.", "topic", NULL, 0},
         SLOT(ingest_events)},
        {{"backlogd_ingest_invalid_total", BL_METRIC_COUNTER,
          "Input records refused by decoding or the contract, by DLQ reason.", "reason", NULL, 0},
         SLOT(ingest_invalid)},
        {{"backlogd_dispatch_decisions_total", BL_METRIC_COUNTER,
          "Dispatch decisions produced, by domain and policy version.", "domain,policy", NULL, 0},
         SLOT(dispatch_decisions)},
        {{"backlogd_scheduler_decision_seconds", BL_METRIC_HISTOGRAM,
          "Time the scheduler took to make one dispatch decision (scoring and choosing among READY tasks).", NULL,
          decision_buckets, COUNT_OF(decision_buckets)},
         SLOT(scheduler_decision_seconds)},
        {{"backlogd_backpressure_lag", BL_METRIC_GAUGE,
          "Dispatched records of this instance not yet consumed by the domain's workers.", "domain", NULL, 0},
         SLOT(backpressure_lag)},
        {{"backlogd_backpressure_throttled", BL_METRIC_GAUGE,
          "1 while the domain is throttled (lag at or above max_lag, until below resume_lag), else 0.", "domain",
          NULL, 0},
         SLOT(backpressure_throttled)},
        {{"backlogd_backpressure_input_paused", BL_METRIC_GAUGE,
          "1 while input partitions are paused because the instance holds too many ready tasks or too many bytes "
          "of tasks, else 0.",
          NULL,
          NULL, 0},
         SLOT(backpressure_input_paused)},
        {{"backlogd_dlq_records_total", BL_METRIC_COUNTER, "Records written to the dead-letter topic, by reason.",
          "reason", NULL, 0},
         SLOT(dlq_records)},
        {{"backlogd_txn_committed_total", BL_METRIC_COUNTER, "Transactions committed.", NULL, NULL, 0},
         SLOT(txn_committed)},
        {{"backlogd_txn_aborted_total", BL_METRIC_COUNTER, "Transactions aborted (the batch is restored and re-read).",
          NULL, NULL, 0},
         SLOT(txn_aborted)},
        {{"backlogd_txn_commit_seconds", BL_METRIC_HISTOGRAM,
          "Time to commit one transaction, input offsets included.", NULL, commit_buckets,
          COUNT_OF(commit_buckets)},
         SLOT(txn_commit_seconds)},
        {{"backlogd_txn_batch_age_seconds", BL_METRIC_HISTOGRAM,
          "Time from a batch's first input record to the end of its commit: the longest its records waited to be "
          "visible to read_committed readers. About commit.interval_ms plus the commit's time while the instance "
          "keeps up; growing when it falls behind.",
          NULL, batch_age_buckets, COUNT_OF(batch_age_buckets)},
         SLOT(txn_batch_age_seconds)},
        {{"backlogd_txn_batch_records", BL_METRIC_HISTOGRAM,
          "Input offsets one transaction committed (records, and transaction markers of transactional producers).",
          NULL, batch_records_buckets, COUNT_OF(batch_records_buckets)},
         SLOT(txn_batch_records)},
        {{"backlogd_restore_seconds", BL_METRIC_GAUGE,
          "Duration of the last restore of assigned partitions from backlog.state.", NULL, NULL, 0},
         SLOT(restore_seconds)},
        {{"backlogd_restore_items_total", BL_METRIC_COUNTER, "Tasks read back from backlog.state by restores.", NULL,
          NULL, 0},
         SLOT(restore_items)},
        {{"backlogd_pipeline_last_commit_age_seconds", BL_METRIC_GAUGE,
          "Time since this instance last committed a transaction (since its start before the first); grows while "
          "it is idle.",
          NULL, NULL, 0},
         SLOT(pipeline_last_commit_age_seconds)},
        {{"backlogd_pipeline_stalled_seconds", BL_METRIC_GAUGE,
          "Time work has waited without a transaction committed; 0 while there is nothing to commit. /healthz "
          "fails above health.max_commit_age_ms.",
          NULL, NULL, 0},
         SLOT(pipeline_stalled_seconds)},
        {{"backlogd_pipeline_aborts_in_row", BL_METRIC_GAUGE,
          "Batches aborted since the last commit. /healthz fails at health.max_aborts_in_row.", NULL, NULL, 0},
         SLOT(pipeline_aborts_in_row)},
        {{"backlogd_pipeline_given_up_total", BL_METRIC_COUNTER,
          "Records and tasks a batch failed on for good, found by bisection and given up (processing.failed), "
          "by kind: record, timer, dispatch.",
          "kind", NULL, 0},
         SLOT(pipeline_given_up)},
        {{"backlogd_pipeline_held_back_total", BL_METRIC_COUNTER,
          "Batches that failed for the broker's or an output's fault: input, timers and dispatch waited a "
          "back-off, then ran again.",
          NULL, NULL, 0},
         SLOT(pipeline_held_back)},
        {{"backlogd_txn_producer_renewals_total", BL_METRIC_COUNTER,
          "Transactional producers made anew after being fenced (a transaction timed out on the coordinator).",
          NULL, NULL, 0},
         SLOT(txn_producer_renewals)},
        {{"backlogd_output_blocked", BL_METRIC_GAUGE,
          "1 while the broker refuses writes to this output topic (authorization, unknown topic): what needs it "
          "waits, backing off, and goes on by itself once a write passes; 0 after.",
          "topic", NULL, 0},
         SLOT(output_blocked)},
        {{"backlogd_output_refusals_total", BL_METRIC_COUNTER,
          "Batches in which the broker refused a write to this output topic (each one aborted and ran again).",
          "topic", NULL, 0},
         SLOT(output_refusals)},
        {{"backlogd_domain_breaker_state", BL_METRIC_GAUGE,
          "The domain's circuit breaker on worker failures: 0 closed, 1 open (nothing dispatched), 2 half-open "
          "(probes out).",
          "domain", NULL, 0},
         SLOT(domain_breaker_state)},
        {{"backlogd_domain_breaker_opened_total", BL_METRIC_COUNTER,
          "Times the domain's circuit breaker opened (a share of FAILED results over its window).", "domain", NULL,
          0},
         SLOT(domain_breaker_opened)},
        {{"backlogd_remediations_total", BL_METRIC_COUNTER,
          "Tasks out of retries that a remediation rule took: each waits on a new remediation task instead of the "
          "DLQ.",
          "domain", NULL, 0},
         SLOT(remediations)},
        {{"backlogd_task_outcomes_total", BL_METRIC_COUNTER,
          "Tasks that COMPLETED, attempts that FAILED and tasks that went DEAD, by domain and by the policy "
          "(name@version) that governs the task.",
          "domain,policy,outcome", NULL, 0},
         SLOT(task_outcomes)},
        {{"backlogd_task_wait_seconds", BL_METRIC_HISTOGRAM,
          "Time a task waited READY before it was dispatched, by domain.", "domain", task_time_buckets,
          COUNT_OF(task_time_buckets)},
         SLOT(task_wait_seconds)},
        {{"backlogd_task_end_to_end_seconds", BL_METRIC_HISTOGRAM,
          "Time from a task's submission (its occurred_at) to its completion, by domain.", "domain",
          task_time_buckets, COUNT_OF(task_time_buckets)},
         SLOT(task_end_to_end_seconds)},
        {{"backlogd_capacity_known", BL_METRIC_GAUGE,
          "1 once the domain's capacity estimate has capacity.min_samples results in its window and as many "
          "runtimes (the other capacity gauges and deadline_risk hold from then on), else 0.",
          "domain", NULL, 0},
         SLOT(capacity_known)},
        {{"backlogd_capacity_throughput_per_second", BL_METRIC_GAUGE,
          "Results of the domain's workers per second over capacity.window_ms: their capacity while tasks wait "
          "READY, the arrival rate otherwise.",
          "domain", NULL, 0},
         SLOT(capacity_throughput)},
        {{"backlogd_capacity_pickup_seconds", BL_METRIC_GAUGE,
          "Mean time from a dispatch to the worker's STARTED (DISPATCHED -> RUNNING), recently.", "domain", NULL, 0},
         SLOT(capacity_pickup_seconds)},
        {{"backlogd_capacity_runtime_seconds", BL_METRIC_GAUGE,
          "Mean time from STARTED to COMPLETED of the domain's tasks, every task_type, recently.", "domain", NULL,
          0},
         SLOT(capacity_runtime_seconds)},
        {{"backlogd_capacity_drain_seconds", BL_METRIC_GAUGE,
          "Predicted time to run what the domain has in flight and READY at its throughput; 0 while the estimate "
          "is not known.",
          "domain", NULL, 0},
         SLOT(capacity_drain_seconds)},
        {{"backlogd_agent_consultations_total", BL_METRIC_COUNTER,
          "Consultations of the domain's decision agent, by outcome: answered, timeout, http_error, redirect, tls, "
          "unreachable, too_large, malformed, invalid, cancelled, internal, not_sent (refused before it left).",
          "domain,outcome", NULL, 0},
         SLOT(agent_consultations)},
        {{"backlogd_agent_consultation_seconds", BL_METRIC_HISTOGRAM,
          "Time one consultation of the domain's agent took, from its request queued to its end (bounded by the "
          "agent's timeout_ms).",
          "domain", consultation_buckets, COUNT_OF(consultation_buckets)},
         SLOT(agent_consultation_seconds)},
        {{"backlogd_agent_breaker_state", BL_METRIC_GAUGE,
          "The circuit breaker of the domain's agent: 0 closed, 1 open (the policy alone decides), 2 half-open "
          "(one trial consultation).",
          "domain", NULL, 0},
         SLOT(agent_breaker_state)},
        {{"backlogd_agent_refusals_total", BL_METRIC_COUNTER,
          "Parts of the agent's answers that a guardrail refused, by part (order, hold, escalation) and reason.",
          "domain,part,reason", NULL, 0},
         SLOT(agent_refusals)},
        {{"backlogd_pilot_wait_seconds", BL_METRIC_HISTOGRAM,
          "Wait READY -> DISPATCHED in a domain with a decision agent, by who decided the dispatch: the agent's "
          "name@version (the pilot), policy (a pilot task the policy decided) or control (the control group).",
          "domain,decided_by", pilot_wait_buckets, COUNT_OF(pilot_wait_buckets)},
         SLOT(pilot_wait_seconds)},
        {{"backlogd_pilot_deadline_misses_total", BL_METRIC_COUNTER,
          "Tasks of a domain with a decision agent that ended EXPIRED or COMPLETED after their deadline, by who "
          "decided their last dispatch (or held them): name@version, policy or control.",
          "domain,decided_by", NULL, 0},
         SLOT(pilot_deadline_misses)},
        {{"backlogd_pilot_first_attempts_total", BL_METRIC_COUNTER,
          "First attempts ended in a domain with a decision agent, by who decided their dispatch and by outcome: "
          "completed, or failed (anything else).",
          "domain,decided_by,outcome", NULL, 0},
         SLOT(pilot_first_attempts)},
        {{"backlogd_backlog_frozen_tasks", BL_METRIC_GAUGE,
          "Tasks at rest held as small stubs, the rest of each in the spill file (backlog.spill_enabled).", NULL, NULL,
          0},
         SLOT(backlog_frozen_tasks)},
        {{"backlogd_spill_file_bytes", BL_METRIC_GAUGE,
          "Size of the spill file (backlog.spill_dir), dead bytes included until the next compaction.", NULL, NULL,
          0},
         SLOT(spill_file_bytes)},
        {{"backlogd_spill_freeze_failures_total", BL_METRIC_COUNTER,
          "Tasks kept whole in the heap because the spill file refused their bytes (disk full, I/O error).", NULL,
          NULL, 0},
         SLOT(spill_freeze_failures)},
};
const size_t bl_metrics_catalogue_count = COUNT_OF(bl_metrics_catalogue);

bl_err_t bl_metrics_register_backlogd(bl_metrics_t *registry, bl_metrics_backlogd_t *metrics, char *errstr,
                                      size_t errstr_size) {
        memset(metrics, 0, sizeof(*metrics));
        for (size_t i = 0; i < bl_metrics_catalogue_count; i++) {
                bl_metric_t *metric;
                bl_err_t err = metric_add(registry, &bl_metrics_catalogue[i].desc, &metric, errstr, errstr_size);
                if (err)
                        return err;
                *(bl_metric_t **)((char *)metrics + bl_metrics_catalogue[i].offset) = metric;
        }
        return BL_OK;
}
