/*
 * test_agent_answer.c: the strict decoder of an agent's answer
 * (agent/answer.c). Every document in tests/fixtures/agent/response/valid
 * must decode and every one in .../invalid must be refused; the same
 * fixtures are validated against schemas/agent/response-v1.json by
 * tests/cli/test_agent_schemas.py, so the decoder and the schema agree on
 * each of them. Then the decoded values of a full answer, the errors that
 * name the path at fault, malformed versus invalid, an answer to another
 * consultation, duplicate keys, and a body that is not NUL-terminated.
 */
#include "check.h"
#include "agent/answer.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *read_fixture(const char *path, size_t *length) {
        FILE *file = fopen(path, "rb");
        char *text = NULL;
        long size;
        if (!file)
                return NULL;
        if (fseek(file, 0, SEEK_END) == 0 && (size = ftell(file)) >= 0 && fseek(file, 0, SEEK_SET) == 0 &&
            (text = malloc((size_t)size + 1)) != NULL) {
                *length = fread(text, 1, (size_t)size, file);
                text[*length] = '\0';
        }
        fclose(file);
        return text;
}

static const char *fixtures_dir(void) {
        const char *dir = getenv("BACKLOGD_FIXTURES");
        return dir ? dir : "tests/fixtures";
}

/* Decodes every fixture of @p kind ("valid", "invalid"); returns how many it read. */
static size_t decode_every(const char *kind, bool expect_ok) {
        char dir_path[1024];
        size_t count = 0;
        snprintf(dir_path, sizeof(dir_path), "%s/agent/response/%s", fixtures_dir(), kind);
        DIR *dir = opendir(dir_path);
        CHECK(dir != NULL);
        if (!dir)
                return 0;
        for (struct dirent *entry; (entry = readdir(dir));) {
                char path[2048], errstr[256] = "";
                size_t length = 0;
                if (!strstr(entry->d_name, ".json"))
                        continue;
                snprintf(path, sizeof(path), "%s/%s", dir_path, entry->d_name);
                char *body = read_fixture(path, &length);
                CHECK(body != NULL);
                if (!body)
                        continue;
                bl_agent_answer_t answer;
                bl_err_t err = bl_agent_answer_decode(body, length, "c-1", &answer, errstr, sizeof(errstr));
                if ((err == BL_OK) != expect_ok)
                        fprintf(stderr, "  %s/%s: %s (%s)\n", kind, entry->d_name, bl_err_name(err), errstr);
                CHECK((err == BL_OK) == expect_ok);
                if (!expect_ok) {
                        CHECK(err == BL_ERR_REFUSED || err == BL_ERR_MISMATCH);
                        CHECK(answer.order == NULL && answer.agent_name == NULL); /* nothing kept */
                }
                bl_agent_answer_clear(&answer);
                free(body);
                count++;
        }
        closedir(dir);
        return count;
}

static void test_every_valid_fixture_decodes(void) {
        CHECK(decode_every("valid", true) >= 9);
}

static void test_every_invalid_fixture_is_refused(void) {
        CHECK(decode_every("invalid", false) >= 40);
}

static bl_err_t decode_text(const char *text, const char *consultation_id, bl_agent_answer_t *answer, char *errstr,
                            size_t errstr_size) {
        return bl_agent_answer_decode(text, strlen(text), consultation_id, answer, errstr, errstr_size);
}

static void test_a_full_answer(void) {
        char path[1024], errstr[256];
        size_t length = 0;
        snprintf(path, sizeof(path), "%s/agent/response/valid/full.json", fixtures_dir());
        char *body = read_fixture(path, &length);
        bl_agent_answer_t answer;
        CHECK(body != NULL);
        if (!body)
                return;
        CHECK_INT(bl_agent_answer_decode(body, length, "c-1", &answer, errstr, sizeof(errstr)), BL_OK);
        CHECK_STR(answer.agent_name, "ref-agent");
        CHECK_STR(answer.agent_version, "1.0.0");
        CHECK_STR(answer.label, "ref-agent@1.0.0");
        CHECK_INT(answer.order_count, 2);
        if (answer.order_count == 2) {
                CHECK_STR(answer.order[0].task_id, "task-3");
                CHECK_STR(answer.order[0].reason, "deadline in 4 minutes");
                CHECK_STR(answer.order[1].reason, ""); /* none given */
        }
        CHECK_INT(answer.hold_count, 1);
        if (answer.hold_count == 1) {
                CHECK_STR(answer.holds[0].task_id, "task-1");
                CHECK_INT(answer.holds[0].hold_ms, 300000);
                CHECK_STR(answer.holds[0].reason, "input data 3 h old");
        }
        CHECK_INT(answer.escalation_count, 1);
        if (answer.escalation_count == 1)
                CHECK_STR(answer.escalations[0].reason, "risk 0.95 remediation");
        bl_agent_answer_clear(&answer);
        CHECK(answer.label == NULL && answer.order_count == 0);

        /* Not NUL-terminated: only length bytes are read. */
        char *copy = malloc(length + 8);
        memcpy(copy, body, length);
        memcpy(copy + length, "garbage", 7);
        CHECK_INT(bl_agent_answer_decode(copy, length, "c-1", &answer, errstr, sizeof(errstr)), BL_OK);
        bl_agent_answer_clear(&answer);
        free(copy);
        free(body);
}

static void test_errors_name_the_path(void) {
        char errstr[256];
        bl_agent_answer_t answer;
        const char *head = "{\"schema\": \"backlogd.agent.response.v1\", \"consultation_id\": \"c-1\", "
                           "\"agent\": {\"name\": \"a\", \"version\": \"1\"}";
        char text[1024];
        snprintf(text, sizeof(text), "%s, \"holds\": [{\"task_id\": \"x\", \"hold_ms\": 5, \"reason\": \"\"}, "
                                     "{\"task_id\": \"y\", \"hold_ms\": 0, \"reason\": \"\"}]}",
                 head);
        CHECK_INT(decode_text(text, "c-1", &answer, errstr, sizeof(errstr)), BL_ERR_MISMATCH);
        CHECK_CONTAINS(errstr, "holds[1].hold_ms: 0 is out of [1, 86400000]");
        snprintf(text, sizeof(text), "%s, \"order\": [{\"task_id\": \"x\", \"rank\": 1}]}", head);
        CHECK_INT(decode_text(text, "c-1", &answer, errstr, sizeof(errstr)), BL_ERR_MISMATCH);
        CHECK_CONTAINS(errstr, "order[0]: unknown member \"rank\"");
        snprintf(text, sizeof(text), "%s, \"escalations\": [{\"task_id\": \"x\"}]}", head);
        CHECK_INT(decode_text(text, "c-1", &answer, errstr, sizeof(errstr)), BL_ERR_MISMATCH);
        CHECK_CONTAINS(errstr, "escalations[0]: missing \"reason\"");
        CHECK_INT(decode_text("{\"schema\": 1}", "c-1", &answer, errstr, sizeof(errstr)), BL_ERR_MISMATCH);
        CHECK_CONTAINS(errstr, "missing \"consultation_id\"");
}

static void test_malformed_is_not_invalid(void) {
        char errstr[256];
        bl_agent_answer_t answer;
        CHECK_INT(decode_text("{\"schema\": \"secret-token-in-body", "c-1", &answer, errstr, sizeof(errstr)),
                  BL_ERR_REFUSED);
        CHECK_CONTAINS(errstr, "not JSON: line 1");
        CHECK(strstr(errstr, "secret") == NULL); /* the body is never quoted */
        CHECK_INT(decode_text("", "c-1", &answer, errstr, sizeof(errstr)), BL_ERR_REFUSED);
        /* Duplicate keys: refused as malformed (JSON objects' names should be unique; an agent must not rely
         * on which one wins). */
        CHECK_INT(decode_text("{\"schema\": \"backlogd.agent.response.v1\", \"consultation_id\": \"c-1\", "
                              "\"consultation_id\": \"c-1\", \"agent\": {\"name\": \"a\", \"version\": \"1\"}}",
                              "c-1", &answer, errstr, sizeof(errstr)),
                  BL_ERR_REFUSED);
        /* A NUL escaped in a string: malformed (the schema's patterns refuse it as well). */
        CHECK_INT(decode_text("{\"schema\": \"backlogd.agent.response.v1\", \"consultation_id\": \"c-1\", "
                              "\"agent\": {\"name\": \"a\", \"version\": \"1\"}, \"order\": [{\"task_id\": "
                              "\"a\\u0000b\"}]}",
                              "c-1", &answer, errstr, sizeof(errstr)),
                  BL_ERR_REFUSED);
}

static void test_an_answer_to_another_consultation(void) {
        char errstr[256];
        bl_agent_answer_t answer;
        const char *text = "{\"schema\": \"backlogd.agent.response.v1\", \"consultation_id\": \"c-2\", "
                           "\"agent\": {\"name\": \"a\", \"version\": \"1\"}}";
        CHECK_INT(decode_text(text, "c-1", &answer, errstr, sizeof(errstr)), BL_ERR_MISMATCH);
        CHECK_CONTAINS(errstr, "consultation_id: the answer to another consultation");
        CHECK_INT(decode_text(text, "c-2", &answer, errstr, sizeof(errstr)), BL_OK);
        bl_agent_answer_clear(&answer);
        CHECK_INT(decode_text(text, NULL, &answer, errstr, sizeof(errstr)), BL_OK); /* not checked */
        bl_agent_answer_clear(&answer);
}

int main(void) {
        RUN(test_every_valid_fixture_decodes);
        RUN(test_every_invalid_fixture_is_refused);
        RUN(test_a_full_answer);
        RUN(test_errors_name_the_path);
        RUN(test_malformed_is_not_invalid);
        RUN(test_an_answer_to_another_consultation);
        return check_exit_status();
}
