/*
 * test_spill_glue.c: the pipeline's spill store from the configuration:
 * off, it is no store and no ops (tasks stay whole); on, its ops store,
 * read back and release bytes in the directory of backlog.spill_dir; a
 * directory where no file can be made stops startup with the key and the
 * directory named; a compaction of a real backlog's frozen tasks (restored
 * at rest, then half of them dropped) moves the rest, which thaw whole.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <stdio.h>

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

static void drop_change(void *opaque, const bl_transition_t *transition, const bl_item_t *item) {
        (void)opaque, (void)transition, (void)item;
}
static void drop_dispatch(void *opaque, const bl_dispatch_t *dispatch) {
        (void)opaque, (void)dispatch;
}
static void drop_notice(void *opaque, const bl_notice_t *notice) {
        (void)opaque, (void)notice;
}
static void drop_letter(void *opaque, const bl_item_t *item, bl_reason_t reason, const char *detail) {
        (void)opaque, (void)item, (void)reason, (void)detail;
}
static void drop_purge(void *opaque, const char *task_id, int32_t partition) {
        (void)opaque, (void)task_id, (void)partition;
}

enum { TASKS = 3000 };

static void test_compaction_moves_a_backlogs_frozen_tasks(void) {
        bl_config_t *config = bl_config_new_defaults();
        char errstr[256];
        bl_spill_glue_t *glue = NULL;
        CHECK_INT(bl_spill_glue_new(config, &glue, errstr, sizeof(errstr)), BL_OK);
        bl_backlog_sink_t sink = {drop_change, drop_dispatch, drop_notice, drop_letter, drop_purge, NULL};
        bl_backlog_options_t options = {.lease_ms = 60000, .max_attempts = 3, .dedup_window = 8,
                                        .retention_ms = 3600000, .spill = bl_spill_glue_ops(glue)};
        bl_backlog_t *backlog = bl_backlog_new(&options, &sink);
        CHECK(backlog != NULL);
        for (int i = 0; backlog && i < TASKS; i++) {
                char task_id[32];
                snprintf(task_id, sizeof(task_id), "task-%04d", i);
                bl_item_t *item = bl_item_new_of_kind(task_id, i % 2, "render", "d", NULL, "standard");
                item->state = BL_STATE_DISPATCHED;
                item->seq = i + 1;
                item->attempt = 1;
                item->state_since_ms = item->submitted_at_ms = 1700000000000 + i;
                item->lease_expires_at_ms = 1700000060000 + i;
                item->payload = malloc(100);
                memset(item->payload, i & 0xff, 100);
                item->payload_size = 100;
                item->has_payload = true;
                bl_backlog_restore(backlog, item);
        }
        if (!backlog) {
                bl_spill_glue_destroy(glue);
                bl_config_destroy(config);
                return;
        }
        bl_backlog_restore_finish(backlog, 1700000000000);
        bl_backlog_spill_stats_t frozen;
        bl_backlog_spill_stats(backlog, &frozen);
        CHECK_INT(frozen.frozen, TASKS);
        CHECK(!bl_spill_glue_compact_if_due(glue, backlog, 0)); /* nothing dead yet */
        bl_backlog_drop_partition(backlog, 0);                  /* half the stubs go, their bytes dead */
        bl_spill_stats_t before, after;
        bl_spill_glue_stats(glue, &before);
        CHECK(before.dead_bytes > 0 && before.dead_bytes <= before.live_bytes); /* the same tasks but their seq */
        CHECK_INT(before.blobs_live, TASKS / 2);
        bl_backlog_drop_partition(backlog, 2); /* no such partition: nothing changes */
        CHECK(!bl_spill_glue_compact_if_due(glue, backlog, 0)); /* dead not above live */
        bl_item_t *extra = bl_item_new_of_kind("task-x", 0, "render", "d", NULL, "standard");
        extra->state = BL_STATE_COMPLETED;
        extra->terminal_at_ms = extra->state_since_ms = 1700000000000;
        bl_backlog_restore(backlog, extra);
        bl_backlog_drop_partition(backlog, 0); /* one more dead: now above live */
        bl_spill_glue_stats(glue, &before);
        CHECK(before.dead_bytes > before.live_bytes);
        CHECK(!bl_spill_glue_compact_if_due(glue, backlog, before.file_bytes + 1)); /* too small a file */
        CHECK(bl_spill_glue_compact_if_due(glue, backlog, 0));
        bl_spill_glue_stats(glue, &after);
        CHECK_INT(after.dead_bytes, 0);
        CHECK_INT(after.live_bytes, before.live_bytes);
        CHECK_INT(after.file_bytes, before.live_bytes);
        CHECK_INT(after.compactions_total, 1);
        for (int i = 0; i < TASKS; i++) {
                char task_id[32];
                snprintf(task_id, sizeof(task_id), "task-%04d", i);
                const bl_item_t *item = bl_backlog_find(backlog, task_id);
                if (i % 2 == 0) {
                        CHECK(item == NULL);
                        continue;
                }
                CHECK(item != NULL);
                if (!item)
                        continue;
                CHECK_INT(item->state, BL_STATE_DISPATCHED);
                CHECK_INT(item->seq, i + 1);
                CHECK_INT(item->lease_expires_at_ms, 1700000060000 + i);
                CHECK(item->payload_size == 100 && ((unsigned char *)item->payload)[99] == (i & 0xff));
        }
        bl_backlog_destroy(backlog);
        bl_spill_glue_destroy(glue);
        bl_config_destroy(config);
}

int main(void) {
        RUN(test_off_is_no_store);
        RUN(test_ops_store_and_read_back);
        RUN(test_a_bad_dir_stops_startup);
        RUN(test_compaction_moves_a_backlogs_frozen_tasks);
        return check_exit_status();
}
