/*
 * registry_probe.c: drives the registry client (src/contract/registry.c)
 * through every call against a real registry, and says which step failed.
 *
 *   registry_probe URL
 *
 * Registers a schema under a subject no earlier run used, registers it again
 * (same id), fetches it by id and as the latest version, sets the subject to
 * BACKWARD, checks a compatible and an incompatible successor, registers the
 * incompatible one (refused), and asks for an unknown id and subject (not
 * found). Prints one line a step and exits 0 only when every step gave the
 * expected answer; 2 on a usage error. Single-threaded.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "contract/registry.h"

#define V1 "{\"type\":\"record\",\"name\":\"Probe\",\"namespace\":\"backlogd.test\"," \
           "\"fields\":[{\"name\":\"id\",\"type\":\"string\"}]}"
#define V2_COMPATIBLE "{\"type\":\"record\",\"name\":\"Probe\",\"namespace\":\"backlogd.test\"," \
                      "\"fields\":[{\"name\":\"id\",\"type\":\"string\"}," \
                      "{\"name\":\"tier\",\"type\":\"string\",\"default\":\"standard\"}]}"
#define V2_INCOMPATIBLE "{\"type\":\"record\",\"name\":\"Probe\",\"namespace\":\"backlogd.test\"," \
                        "\"fields\":[{\"name\":\"id\",\"type\":\"string\"},{\"name\":\"tier\",\"type\":\"string\"}]}"
#define UNKNOWN_ID 2147483000

static int failed_steps;

/* Prints the step and counts it as failed unless @p ok. */
static void report(const char *step, bool ok, bl_err_t err, const char *errstr) {
        printf("%-4s %-44s %s%s%s\n", ok ? "ok" : "FAIL", step, bl_err_name(err), errstr[0] ? ": " : "", errstr);
        failed_steps += !ok;
}

static bool same_schema(const char *actual, const char *expected) {
        json_t *a = actual ? json_loads(actual, 0, NULL) : NULL, *e = json_loads(expected, 0, NULL);
        bool same = a && e && json_equal(a, e);
        json_decref(a);
        json_decref(e);
        return same;
}

static void probe_register(bl_registry_t *registry, const char *subject, int32_t *id) {
        char errstr[1024] = "";
        int32_t again = 0;
        bl_err_t err = bl_registry_register(registry, subject, V1, id, errstr, sizeof(errstr));
        report("register v1", err == BL_OK && *id > 0, err, errstr);
        printf("     subject %s, id %d\n", subject, (int)*id);
        errstr[0] = '\0';
        err = bl_registry_register(registry, subject, V1, &again, errstr, sizeof(errstr));
        report("register v1 again gives the same id", err == BL_OK && again == *id, err, errstr);
}

static void probe_fetch(bl_registry_t *registry, const char *subject, int32_t id) {
        char errstr[1024] = "", *schema = NULL;
        int32_t latest_id = 0;
        int version = 0;
        bl_err_t err = bl_registry_get_schema(registry, id, &schema, errstr, sizeof(errstr));
        report("get schema by id", err == BL_OK && same_schema(schema, V1), err, errstr);
        free(schema);
        schema = NULL;
        err = bl_registry_latest(registry, subject, &latest_id, &version, &schema, errstr, sizeof(errstr));
        report("latest is version 1 with that id", err == BL_OK && latest_id == id && version == 1 &&
                                                            same_schema(schema, V1),
               err, errstr);
        free(schema);
}

static void probe_compatibility(bl_registry_t *registry, const char *subject) {
        char errstr[1024] = "";
        bool compatible = false;
        int32_t id = 0;
        bl_err_t err = bl_registry_set_compatibility(registry, subject, "BACKWARD", errstr, sizeof(errstr));
        report("set compatibility BACKWARD", err == BL_OK, err, errstr);
        err = bl_registry_check_compatibility(registry, subject, V2_COMPATIBLE, &compatible, errstr, sizeof(errstr));
        report("v2 with a default is compatible", err == BL_OK && compatible, err, errstr);
        errstr[0] = '\0';
        err = bl_registry_check_compatibility(registry, subject, V2_INCOMPATIBLE, &compatible, errstr,
                                              sizeof(errstr));
        report("v2 without a default is incompatible", err == BL_OK && !compatible, err, errstr);
        errstr[0] = '\0';
        err = bl_registry_register(registry, subject, V2_INCOMPATIBLE, &id, errstr, sizeof(errstr));
        report("registering it is refused", err == BL_ERR_REFUSED, err, errstr);
}

static void probe_not_found(bl_registry_t *registry, const char *subject) {
        char errstr[1024] = "", *schema = NULL, missing[300];
        int32_t id = 0;
        int version = 0;
        bl_err_t err = bl_registry_get_schema(registry, UNKNOWN_ID, &schema, errstr, sizeof(errstr));
        report("unknown id is not found", err == BL_ERR_NOT_FOUND && !schema, err, errstr);
        free(schema);
        snprintf(missing, sizeof(missing), "%s-never-registered", subject);
        errstr[0] = '\0';
        err = bl_registry_latest(registry, missing, &id, &version, NULL, errstr, sizeof(errstr));
        report("latest of an unknown subject is not found", err == BL_ERR_NOT_FOUND, err, errstr);
}

int main(int argc, char **argv) {
        char errstr[1024] = "", subject[128];
        int32_t id = 0;
        if (argc != 2) {
                fprintf(stderr, "usage: %s REGISTRY_URL\n", argv[0]);
                return 2;
        }
        bl_registry_options_t options = {.url = argv[1], .verify_tls = true, .timeout_ms = 10000};
        bl_registry_t *registry = bl_registry_new(&options, errstr, sizeof(errstr));
        if (!registry) {
                fprintf(stderr, "registry_probe: %s\n", errstr);
                return 2;
        }
        snprintf(subject, sizeof(subject), "probe-%ld-%d-value", (long)time(NULL), (int)getpid());
        probe_register(registry, subject, &id);
        probe_fetch(registry, subject, id);
        probe_compatibility(registry, subject);
        probe_not_found(registry, subject);
        bl_registry_destroy(registry);
        printf("%s: %d step(s) failed\n", failed_steps ? "FAIL" : "ok", failed_steps);
        return failed_steps ? 1 : 0;
}
