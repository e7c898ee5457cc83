/*
 * contracts.c: `backlogd contracts check`: prove, before anything is
 * deployed, that every version of every contract in schemas/ can read the
 * data of every earlier one (BACKWARD, transitive), and optionally that the
 * Schema Registry would accept the newest version of each contract under
 * each subject it is written to.
 *
 * The offline part is contract/compat.c's resolution of each (newer, older)
 * pair from the catalog; every failing pair is reported, not only the first.
 * The registry part asks, per subject (contract/subjects.c), whether the
 * subject exists (GET .../versions/latest: a subject nobody registered yet
 * is "not registered", which is no failure: Apicurio would call anything
 * compatible with it), then the registry's verdict on the newest local
 * version (POST /compatibility/...), and, because a registry with no
 * compatibility rule on the subject accepts anything, our own resolution of
 * the newest local version against the schema registered there.
 *
 * The catalog is what ids.json lists, so a version added as an .avsc file
 * but never given an id there would be checked by nobody and never reach the
 * file registry: every .avsc file under the directory must be listed, the
 * same file however ids.json spells its path.
 *
 * Exit status: 0 all compatible, 1 any incompatibility, a malformed schema,
 * an unlisted .avsc file, a catalog or registry error; 2 usage. Main thread,
 * no Kafka handle.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cmd/cmd.h"
#include "contract/catalog.h"
#include "contract/compat.h"
#include "contract/registry.h"
#include "contract/subjects.h"

#define REASON_MAX_BYTES 1024
#define SCHEMA_DIR_DEPTH_MAX 16 /* how deep the search for unlisted .avsc files goes: a loop of links ends there */

typedef struct check_options_s {
        const char *config_path;
        const char *schemas_dir;  /* NULL: schemas.dir of the config */
        const char *registry_url; /* NULL: registry.url of the config */
        bool offline;
        bool as_json;
} check_options_t;

/* What one contract's versions came to. */
typedef struct contract_result_s {
        const bl_catalog_entry_t *versions; /* inside the catalog, oldest first */
        size_t count;
        json_t *failures; /* [{reader_version, writer_version, kind, reason}] */
} contract_result_t;

/* What the registry part needs while it walks the subjects, and what it found. */
typedef struct registry_walk_s {
        const char *url;             /* NULL: offline */
        bool url_accepted;           /* the client took it: no credentials in it, so it may be shown */
        bl_registry_t *registry;
        const bl_catalog_t *catalog;
        json_t *subjects;            /* [{subject, contract, version, status, ...}] */
        int compatible;
        int incompatible;
        int not_registered;
        int errors;
        char stopped[REASON_MAX_BYTES]; /* why the walk ended early (registry unusable or unreachable), or "" */
} registry_walk_t;

static void usage(FILE *out) {
        fprintf(out, "Usage: backlogd contracts check [-c FILE] [--schemas DIR] [--registry URL] [--offline] [--json]\n"
                     "\n"
                     "Proves that every version of every contract in the schemas directory can read\n"
                     "data written with every earlier version (BACKWARD, transitive), by the Avro\n"
                     "specification's schema resolution rules: a field the reader adds needs a\n"
                     "default, enum symbols may not disappear unless the reader enum has a default,\n"
                     "types may only widen (int -> long -> float -> double, string <-> bytes), and so\n"
                     "on. Prints one line per contract; each failing pair of versions with the path\n"
                     "and the reason. Every .avsc file under the directory must be listed in its\n"
                     "ids.json: one that is not is an error.\n"
                     "\n"
                     "With a registry (--registry URL, else registry.url of the config), it also asks\n"
                     "the registry whether the newest version of each contract is compatible with\n"
                     "what is registered under each subject it is written to (<topic>-value,\n"
                     "topics.prefix applied), and checks that itself too. A subject that does not\n"
                     "exist yet is reported as not registered, which is not a failure.\n"
                     "\n"
                     "Options:\n"
                     "  -c, --config FILE   configuration file (else $BACKLOGD_CONFIG, else defaults);\n"
                     "                      registry.* gives credentials and TLS settings\n"
                     "      --schemas DIR   contracts directory with ids.json (else schemas.dir)\n"
                     "      --registry URL  Schema Registry base URL (overrides registry.url)\n"
                     "      --offline       do not contact a registry, even if one is configured\n"
                     "      --json          print the outcome as one JSON object on stdout\n"
                     "  -h, --help          this help\n"
                     "\n"
                     "Exit status: 0 all compatible, 1 an incompatibility or an error, 2 usage.\n");
}

/* ---- offline: every version against every earlier one ------------------- */

static void record_failure(const bl_compat_failure_t *failure, void *opaque) {
        contract_result_t *result = opaque;
        bool malformed = failure->reader_index == failure->writer_index;
        json_array_append_new(result->failures,
                              json_pack("{s:i, s:i, s:s, s:s}", "reader_version",
                                        result->versions[failure->reader_index].version, "writer_version",
                                        result->versions[failure->writer_index].version, "kind",
                                        malformed ? "malformed" : "incompatible", "reason", failure->reason));
}

/* Checks the @p count versions starting at @p versions. False only when out of memory. */
static bool check_contract(contract_result_t *result, const bl_catalog_entry_t *versions, size_t count) {
        const json_t **schemas = calloc(count, sizeof(*schemas));
        bl_err_t err;
        result->versions = versions;
        result->count = count;
        result->failures = json_array();
        if (!schemas || !result->failures) {
                free(schemas);
                return false;
        }
        for (size_t i = 0; i < count; i++)
                schemas[i] = versions[i].schema;
        err = bl_compat_check_each_backward(schemas, count, record_failure, result);
        free(schemas);
        return err != BL_ERR_NOMEM;
}

static void results_destroy(contract_result_t *results, size_t count) {
        for (size_t i = 0; results && i < count; i++)
                json_decref(results[i].failures);
        free(results);
}

/* One result per contract, in catalog order. NULL when out of memory. */
static contract_result_t *check_catalog(const bl_catalog_t *catalog, size_t *result_count) {
        contract_result_t *results = calloc(catalog->count + 1, sizeof(*results));
        size_t first = 0;
        *result_count = 0;
        while (results && first < catalog->count) {
                size_t count = 1;
                while (first + count < catalog->count &&
                       !strcmp(catalog->entries[first + count].contract, catalog->entries[first].contract))
                        count++;
                if (!check_contract(&results[(*result_count)++], &catalog->entries[first], count)) {
                        results_destroy(results, *result_count);
                        return NULL;
                }
                first += count;
        }
        return results;
}

/* "v1..v2", or "v1" for a single version. */
static void version_range(const contract_result_t *result, char *out, size_t out_size) {
        if (result->count == 1)
                snprintf(out, out_size, "v%d", result->versions[0].version);
        else
                snprintf(out, out_size, "v%d..v%d", result->versions[0].version,
                         result->versions[result->count - 1].version);
}

/* "compatible", "INCOMPATIBLE", or "INVALID" when a version is not a valid schema at all. */
static const char *verdict(const contract_result_t *result) {
        size_t i;
        json_t *failure;
        json_array_foreach(result->failures, i, failure) {
                if (!strcmp(json_string_value(json_object_get(failure, "kind")), "malformed"))
                        return "INVALID";
        }
        return json_array_size(result->failures) ? "INCOMPATIBLE" : "compatible";
}

static void print_contract(const contract_result_t *result) {
        char range[64];
        size_t i;
        json_t *failure;
        version_range(result, range, sizeof(range));
        printf("%-20s %-8s %s\n", result->versions[0].contract, range, verdict(result));
        json_array_foreach(result->failures, i, failure) {
                int reader = (int)json_integer_value(json_object_get(failure, "reader_version"));
                int writer = (int)json_integer_value(json_object_get(failure, "writer_version"));
                const char *reason = json_string_value(json_object_get(failure, "reason"));
                if (!strcmp(json_string_value(json_object_get(failure, "kind")), "malformed"))
                        printf("  v%d is not a valid schema: %s\n", reader, reason);
                else
                        printf("  v%d cannot read v%d: %s\n", reader, writer, reason);
        }
}

static json_t *contract_json(const contract_result_t *result) {
        json_t *versions = json_array(), *ids = json_array();
        for (size_t i = 0; i < result->count; i++) {
                json_array_append_new(versions, json_integer(result->versions[i].version));
                json_array_append_new(ids, json_integer(result->versions[i].id));
        }
        return json_pack("{s:s, s:o, s:o, s:b, s:O}", "contract", result->versions[0].contract, "versions", versions,
                         "ids", ids, "compatible", json_array_size(result->failures) == 0, "failures",
                         result->failures);
}

/* ---- the directory: every .avsc file is listed in ids.json ---------------- */

/* "@p parent/@p name", or @p name when @p parent is empty; NULL when out of memory. */
static char *join_path(const char *parent, const char *name) {
        size_t size = strlen(parent) + strlen(name) + 2;
        char *path = malloc(size);
        if (path)
                snprintf(path, size, "%s%s%s", parent, *parent ? "/" : "", name);
        return path;
}

static bool is_avsc(const char *name) {
        size_t length = strlen(name);
        return length > strlen(".avsc") && !strcmp(name + length - strlen(".avsc"), ".avsc");
}

/* True when @p file is one the catalog lists: the same file, not only the same spelling. */
static bool catalog_lists(const bl_catalog_t *catalog, const struct stat *file) {
        struct stat listed;
        for (size_t i = 0; i < catalog->count; i++)
                if (!stat(catalog->entries[i].path, &listed) && listed.st_dev == file->st_dev &&
                    listed.st_ino == file->st_ino)
                        return true;
        return false;
}

/* Inserts @p relative into the sorted array @p unlisted, so that the report does not depend on readdir's order. */
static void add_sorted(json_t *unlisted, const char *relative) {
        size_t at = 0;
        while (at < json_array_size(unlisted) && strcmp(json_string_value(json_array_get(unlisted, at)), relative) < 0)
                at++;
        json_array_insert_new(unlisted, at, json_string(relative));
}

static bool find_unlisted(const bl_catalog_t *catalog, const char *relative, int depth, json_t *unlisted,
                          char *errstr, size_t errstr_size);

/* One entry @p name of directory @p relative: a directory is searched, an unlisted .avsc file added. */
static bool visit_entry(const bl_catalog_t *catalog, const char *relative, const char *name, int depth,
                        json_t *unlisted, char *errstr, size_t errstr_size) {
        char *child = join_path(relative, name);
        char *child_path = child ? join_path(catalog->dir, child) : NULL;
        struct stat file;
        bool ok = child_path != NULL;
        if (!ok)
                snprintf(errstr, errstr_size, "out of memory");
        else if (stat(child_path, &file))
                ; /* a dangling link: no schema there to list */
        else if (S_ISDIR(file.st_mode))
                ok = find_unlisted(catalog, child, depth + 1, unlisted, errstr, errstr_size);
        else if (S_ISREG(file.st_mode) && is_avsc(name) && !catalog_lists(catalog, &file))
                add_sorted(unlisted, child);
        free(child_path);
        free(child);
        return ok;
}

/*
 * Adds to @p unlisted the path, relative to the catalog's directory, of every
 * .avsc file in @p relative ("" for the top) and below that ids.json does not
 * list. Hidden entries (".git", ".v2.avsc.swp") are skipped. False, with
 * errstr, when a directory cannot be read or memory runs out.
 */
static bool find_unlisted(const bl_catalog_t *catalog, const char *relative, int depth, json_t *unlisted,
                          char *errstr, size_t errstr_size) {
        char *dir_path = join_path(catalog->dir, relative);
        struct dirent *entry;
        bool ok = true;
        DIR *dir;
        if (!dir_path) {
                snprintf(errstr, errstr_size, "out of memory");
                return false;
        }
        if (depth > SCHEMA_DIR_DEPTH_MAX) {
                free(dir_path);
                return true;
        }
        if (!(dir = opendir(dir_path))) {
                snprintf(errstr, errstr_size, "%s: cannot read the directory: %s", dir_path, strerror(errno));
                free(dir_path);
                return false;
        }
        while (ok && (entry = readdir(dir)))
                if (entry->d_name[0] != '.')
                        ok = visit_entry(catalog, relative, entry->d_name, depth, unlisted, errstr, errstr_size);
        closedir(dir);
        free(dir_path);
        return ok;
}

/* ---- online: the newest version against each registered subject -------- */

/* Our own resolution of @p newest against the registered schema text; true when it reads it. */
static bool newest_reads_registered(const bl_catalog_entry_t *newest, const char *registered_text, char *reason,
                                    size_t reason_size) {
        json_error_t error;
        json_t *registered = registered_text ? json_loads(registered_text, 0, &error) : NULL;
        bl_err_t err;
        if (!registered) {
                snprintf(reason, reason_size, "the registered schema is not JSON: %s",
                         registered_text ? error.text : "no text");
                return false;
        }
        err = bl_compat_can_read(newest->schema, registered, reason, reason_size);
        json_decref(registered);
        return err == BL_OK;
}

/*
 * The verdicts on a registered subject: the registry's (under the subject's
 * own level) and ours. Adds the reasons of each "no"; returns the status.
 */
static const char *judge_registered(bool registry_says_compatible, const char *registry_reason,
                                    const bl_catalog_entry_t *newest, const char *registered_text, json_t *reasons) {
        char reason[REASON_MAX_BYTES] = "";
        bool we_say_compatible = newest_reads_registered(newest, registered_text, reason, sizeof(reason));
        if (!registry_says_compatible)
                json_array_append_new(reasons, json_sprintf("registry: %s", registry_reason));
        if (!we_say_compatible)
                json_array_append_new(reasons, json_sprintf("backlogd: %s", reason));
        return registry_says_compatible && we_say_compatible ? "compatible" : "incompatible";
}

/*
 * Looks up one subject and fills @p outcome: status, registered id and
 * version, reasons. A registry that cannot be reached stops the walk: the
 * same timeout for every subject would tell nothing more.
 */
static void check_subject(registry_walk_t *walk, const bl_catalog_entry_t *newest, const char *subject,
                          json_t *outcome) {
        char errstr[REASON_MAX_BYTES] = "", *registered_text = NULL;
        json_t *reasons = json_array();
        int32_t registered_id = 0;
        int registered_version = 0;
        bool registry_says_compatible = false;
        const char *status = "error";
        bl_err_t err = bl_registry_latest(walk->registry, subject, &registered_id, &registered_version,
                                          &registered_text, errstr, sizeof(errstr));
        bool registered = err == BL_OK;
        json_object_set_new(outcome, "reasons", reasons);
        if (registered)
                err = bl_registry_check_compatibility(walk->registry, subject, newest->text,
                                                      &registry_says_compatible, errstr, sizeof(errstr));
        if (!registered && err == BL_ERR_NOT_FOUND) {
                status = "not_registered";
        } else if (err) {
                json_array_append_new(reasons, json_string(errstr));
                if (err == BL_ERR_UNAVAILABLE)
                        snprintf(walk->stopped, sizeof(walk->stopped), "%s", errstr);
        } else {
                json_object_set_new(outcome, "registered_version", json_integer(registered_version));
                json_object_set_new(outcome, "registered_id", json_integer(registered_id));
                status = judge_registered(registry_says_compatible, errstr, newest, registered_text, reasons);
        }
        walk->compatible += !strcmp(status, "compatible");
        walk->incompatible += !strcmp(status, "incompatible");
        walk->not_registered += !strcmp(status, "not_registered");
        walk->errors += !strcmp(status, "error");
        json_object_set_new(outcome, "status", json_string(status));
        free(registered_text);
}

static void visit_subject(const char *contract, const char *subject, bool written_by_backlogd, void *opaque) {
        registry_walk_t *walk = opaque;
        const bl_catalog_entry_t *newest = bl_catalog_find(walk->catalog, contract, 0);
        json_t *outcome;
        (void)written_by_backlogd;
        if (!newest || walk->stopped[0])
                return; /* a catalog without this contract (a test fixture), or a registry out of reach */
        outcome = json_pack("{s:s, s:s, s:i, s:s}", "subject", subject, "contract", contract, "version",
                            newest->version, "status", "error");
        check_subject(walk, newest, subject, outcome);
        json_array_append_new(walk->subjects, outcome);
}

/* Walks every subject of the config; a registry that cannot be used at all ends it in walk->stopped. */
static void check_registry(const bl_config_t *config, registry_walk_t *walk) {
        walk->subjects = json_array();
        walk->registry = bl_registry_new_from_config(config, walk->url, walk->stopped, sizeof(walk->stopped));
        if (!walk->registry)
                return;
        walk->url_accepted = true;
        bl_contract_each_subject(config, visit_subject, walk);
        bl_registry_destroy(walk->registry);
        walk->registry = NULL;
}

/* ---- the report ------------------------------------------------------------ */

static size_t count_incompatible(const contract_result_t *results, size_t count) {
        size_t incompatible = 0;
        for (size_t i = 0; i < count; i++)
                incompatible += json_array_size(results[i].failures) > 0;
        return incompatible;
}

/* "task_event v2  compatible      tasks.events-value (registered version 1, id 7)" and the reasons below. */
static void print_subject(const json_t *outcome) {
        const char *status = json_string_value(json_object_get(outcome, "status"));
        const char *subject = json_string_value(json_object_get(outcome, "subject"));
        char label[128];
        size_t i;
        json_t *reason;
        snprintf(label, sizeof(label), "%s v%d", json_string_value(json_object_get(outcome, "contract")),
                 (int)json_integer_value(json_object_get(outcome, "version")));
        printf("%-24s %-15s %s", label,
               !strcmp(status, "compatible")       ? "compatible"
               : !strcmp(status, "incompatible")   ? "INCOMPATIBLE"
               : !strcmp(status, "not_registered") ? "not registered"
                                                   : "ERROR",
               subject);
        if (json_object_get(outcome, "registered_version"))
                printf(" (registered version %d, id %d)",
                       (int)json_integer_value(json_object_get(outcome, "registered_version")),
                       (int)json_integer_value(json_object_get(outcome, "registered_id")));
        putchar('\n');
        json_array_foreach(json_object_get(outcome, "reasons"), i, reason) {
                printf("  %s\n", json_string_value(reason));
        }
}

static json_t *registry_json(const registry_walk_t *walk) {
        json_t *registry;
        if (!walk->url)
                return json_null();
        registry = json_pack("{s:s?, s:O, s:i, s:i, s:i, s:i}", "url", walk->url_accepted ? walk->url : NULL,
                             "subjects", walk->subjects, "compatible", walk->compatible, "incompatible",
                             walk->incompatible, "not_registered", walk->not_registered, "errors", walk->errors);
        if (walk->stopped[0])
                json_object_set_new(registry, "stopped", json_string(walk->stopped));
        return registry;
}

static void print_json(const bl_catalog_t *catalog, const contract_result_t *results, size_t count,
                       json_t *unlisted, const registry_walk_t *walk, bool ok) {
        json_t *contracts = json_array();
        for (size_t i = 0; i < count; i++)
                json_array_append_new(contracts, contract_json(&results[i]));
        json_t *out = json_pack("{s:s, s:o, s:i, s:O, s:o, s:b}", "schemas_dir", catalog->dir, "contracts",
                                contracts, "incompatible", (int)count_incompatible(results, count), "unlisted",
                                unlisted, "registry", registry_json(walk), "ok", ok);
        json_dumpf(out, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        putchar('\n');
        json_decref(out);
}

static void print_text(const contract_result_t *results, size_t count, const registry_walk_t *walk) {
        size_t i;
        json_t *outcome;
        for (i = 0; i < count; i++)
                print_contract(&results[i]);
        if (!walk->url)
                return;
        printf("\nregistry %s:\n", walk->url_accepted ? walk->url : "(not usable)");
        json_array_foreach(walk->subjects, i, outcome) {
                print_subject(outcome);
        }
}

static void print_summary(size_t incompatible, size_t count, const registry_walk_t *walk) {
        if (incompatible)
                fprintf(stderr, "backlogd contracts: %zu of %zu contract%s %s not backward compatible\n",
                        incompatible, count, count == 1 ? "" : "s", incompatible == 1 ? "is" : "are");
        else
                fprintf(stderr, "backlogd contracts: %s %zu contract%s backward compatible\n",
                        count == 1 ? "the" : "all", count, count == 1 ? " is" : "s are");
        if (walk->stopped[0])
                fprintf(stderr, "backlogd contracts: registry: %s\n", walk->stopped);
        if (walk->url)
                fprintf(stderr,
                        "backlogd contracts: registry: %d compatible, %d incompatible, %d not registered, %d "
                        "error%s%s\n",
                        walk->compatible, walk->incompatible, walk->not_registered, walk->errors,
                        walk->errors == 1 ? "" : "s", walk->stopped[0] ? " (stopped early)" : "");
}

/* One error line per .avsc file that ids.json does not list. */
static void print_unlisted(const bl_catalog_t *catalog, const json_t *unlisted) {
        size_t i;
        json_t *relative;
        json_array_foreach(unlisted, i, relative) {
                fprintf(stderr,
                        "backlogd contracts: %s/%s is not listed in %s/ids.json: add it there with the next free "
                        "id, or remove it\n",
                        catalog->dir, json_string_value(relative), catalog->dir);
        }
}

/* Prints everything; returns the exit status. */
static int report(const bl_catalog_t *catalog, const contract_result_t *results, size_t count, json_t *unlisted,
                  const registry_walk_t *walk, bool as_json) {
        size_t incompatible = count_incompatible(results, count);
        bool ok = incompatible == 0 && json_array_size(unlisted) == 0 && walk->incompatible == 0 &&
                  walk->errors == 0 && !walk->stopped[0];
        if (as_json)
                print_json(catalog, results, count, unlisted, walk, ok);
        else
                print_text(results, count, walk);
        print_summary(incompatible, count, walk);
        print_unlisted(catalog, unlisted);
        return ok ? BL_EXIT_OK : BL_EXIT_FAILURE;
}

static int contracts_check(const bl_config_t *config, const check_options_t *options) {
        char errstr[REASON_MAX_BYTES];
        const char *dir = options->schemas_dir ? options->schemas_dir : bl_config_schemas_dir(config);
        const char *url = options->registry_url ? options->registry_url : config->registry_url;
        bl_catalog_t *catalog = bl_catalog_load(dir, errstr, sizeof(errstr));
        contract_result_t *results = NULL;
        registry_walk_t walk = {.catalog = catalog};
        json_t *unlisted = json_array();
        size_t count = 0;
        int status = BL_EXIT_FAILURE;
        if (!catalog || !unlisted || !find_unlisted(catalog, "", 0, unlisted, errstr, sizeof(errstr))) {
                fprintf(stderr, "backlogd contracts: %s\n", unlisted ? errstr : "out of memory");
        } else if (!(results = check_catalog(catalog, &count))) {
                fprintf(stderr, "backlogd contracts: out of memory\n");
        } else {
                if (!options->offline && url && *url) {
                        walk.url = url;
                        check_registry(config, &walk);
                }
                status = report(catalog, results, count, unlisted, &walk, options->as_json);
        }
        json_decref(unlisted);
        json_decref(walk.subjects);
        results_destroy(results, count);
        bl_catalog_destroy(catalog);
        return status;
}

int bl_cmd_contracts(int argc, char **argv) {
        static const struct option long_options[] = {
                {"config", required_argument, NULL, 'c'},
                {"schemas", required_argument, NULL, 's'},
                {"registry", required_argument, NULL, 'r'},
                {"offline", no_argument, NULL, 'o'},
                {"json", no_argument, NULL, 'j'},
                {"help", no_argument, NULL, 'h'},
                {NULL, 0, NULL, 0},
        };
        check_options_t options = {0};
        bl_config_t *config;
        int opt, status;
        if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
                usage(stdout);
                return BL_EXIT_OK;
        }
        if (argc < 2)
                return bl_cmd_usage_error("contracts", "missing action: check");
        if (strcmp(argv[1], "check"))
                return bl_cmd_usage_error("contracts", "unknown action '%s': expected check", argv[1]);
        argc--, argv++;
        optind = 1;
        while ((opt = getopt_long(argc, argv, "c:h", long_options, NULL)) != -1) {
                switch (opt) {
                case 'c': options.config_path = optarg; break;
                case 's': options.schemas_dir = optarg; break;
                case 'r': options.registry_url = optarg; break;
                case 'o': options.offline = true; break;
                case 'j': options.as_json = true; break;
                case 'h': usage(stdout); return BL_EXIT_OK;
                default: return bl_cmd_usage_error("contracts", "bad option");
                }
        }
        if (optind < argc)
                return bl_cmd_usage_error("contracts", "unexpected argument '%s'", argv[optind]);
        if (options.registry_url && !*options.registry_url)
                return bl_cmd_usage_error("contracts", "--registry needs a URL");
        if (options.registry_url && options.offline)
                return bl_cmd_usage_error("contracts", "--registry and --offline contradict each other");
        config = bl_cmd_load_config(options.config_path);
        if (!config)
                return BL_EXIT_FAILURE;
        status = contracts_check(config, &options);
        bl_config_destroy(config);
        return status;
}
