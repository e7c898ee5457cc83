/*
 * test_spill_glue.c: the pipeline's spill store from the configuration:
 * off, it is no store and no ops (tasks stay whole); on, its ops store,
 * read back and release bytes in the directory of backlog.spill_dir; a
 * directory where no file can be made stops startup with the key and the
 * directory named.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "ops/config.h"
#include "pipeline/spill_glue.h"

static void test_off_is_no_store(void) {
        bl_config_t *config = bl_config_new_defaults();
        config->backlog_spill_enabled = false;
        char errstr[256];
        bl_spill_glue_t *glue = (bl_spill_glue_t *)1;
        CHECK_INT(bl_spill_glue_new(config, &glue, errstr, sizeof(errstr)), BL_OK);
        CHECK(glue == NULL);
        CHECK(bl_spill_glue_ops(glue) == NULL);
        bl_spill_stats_t stats;
        bl_spill_glue_stats(glue, &stats);
        CHECK_INT(stats.file_bytes, 0);
        bl_spill_glue_destroy(glue);
        bl_config_destroy(config);
}

static void test_ops_store_and_read_back(void) {
        bl_config_t *config = bl_config_new_defaults();
        char dir[] = "/tmp/test_spill_glue.XXXXXX", errstr[256];
        CHECK(mkdtemp(dir) != NULL);
        free(config->backlog_spill_dir);
        config->backlog_spill_dir = strdup(dir);
        bl_spill_glue_t *glue = NULL;
        CHECK_INT(bl_spill_glue_new(config, &glue, errstr, sizeof(errstr)), BL_OK);
        const bl_spill_ops_t *ops = bl_spill_glue_ops(glue);
        CHECK(ops != NULL);
        if (ops) {
                uint64_t first = 99, second = 99;
                CHECK_INT(ops->append(ops->opaque, "frozen task", 11, &first, errstr, sizeof(errstr)), BL_OK);
                CHECK_INT(ops->append(ops->opaque, "another", 7, &second, errstr, sizeof(errstr)), BL_OK);
                CHECK_INT(first, 0);
                CHECK_INT(second, 11);
                char out[16] = "";
                CHECK_INT(ops->read(ops->opaque, second, 7, out, errstr, sizeof(errstr)), BL_OK);
                CHECK(!memcmp(out, "another", 7));
                CHECK_INT(ops->read(ops->opaque, 100, 7, out, errstr, sizeof(errstr)), BL_ERR_INVALID_ARG);
                ops->release(ops->opaque, first, 11);
                bl_spill_stats_t stats;
                bl_spill_glue_stats(glue, &stats);
                CHECK_INT(stats.live_bytes, 7);
                CHECK_INT(stats.dead_bytes, 11);
                CHECK_INT(stats.blobs_live, 1);
        }
        bl_spill_glue_destroy(glue);
        rmdir(dir);
        bl_config_destroy(config);
}

static void test_a_bad_dir_stops_startup(void) {
        bl_config_t *config = bl_config_new_defaults();
        free(config->backlog_spill_dir);
        config->backlog_spill_dir = strdup("/nonexistent/spill");
        char errstr[256] = "";
        bl_spill_glue_t *glue = NULL;
        CHECK_INT(bl_spill_glue_new(config, &glue, errstr, sizeof(errstr)), BL_ERR_IO);
        CHECK(glue == NULL);
        CHECK_CONTAINS(errstr, "backlog.spill_dir");
        CHECK_CONTAINS(errstr, "/nonexistent/spill");
        bl_config_destroy(config);
}

int main(void) {
        RUN(test_off_is_no_store);
        RUN(test_ops_store_and_read_back);
        RUN(test_a_bad_dir_stops_startup);
        return check_exit_status();
}
