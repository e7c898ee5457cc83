/*
 * test_err.c: every error code has a name and a description, and
 * bl_err_set formats safely into small buffers.
 */
#include "check.h"
#include "base/err.h"

static void test_every_code_has_a_name(void) {
        for (int code = 0; code > -BL_ERR__COUNT; code--) {
                CHECK(strcmp(bl_err_name((bl_err_t)code), "BL_ERR_UNKNOWN") != 0);
                CHECK(strcmp(bl_err_str((bl_err_t)code), "unknown error") != 0);
        }
        CHECK_STR(bl_err_name(BL_ERR_CONFIG), "BL_ERR_CONFIG");
        CHECK_STR(bl_err_name((bl_err_t)-100), "BL_ERR_UNKNOWN");
        CHECK_STR(bl_err_str((bl_err_t)5), "unknown error");
}

static void test_err_set_truncates(void) {
        char small[8];
        CHECK_INT(bl_err_set(small, sizeof(small), BL_ERR_IO, "%s", "a long message"), BL_ERR_IO);
        CHECK_STR(small, "a long ");
        CHECK_INT(bl_err_set(NULL, 0, BL_ERR_TIMEOUT, "ignored"), BL_ERR_TIMEOUT);
}

int main(void) {
        RUN(test_every_code_has_a_name);
        RUN(test_err_set_truncates);
        return check_exit_status();
}
