/*
 * check.h: the few macros backlogd's unit tests need, and nothing else.
 *
 * A failed CHECK prints file:line and the expression and marks the test
 * executable as failed, but the test goes on so one run shows every failure.
 * RUN(fn) runs one test function and names it; check_exit_status() is what
 * main returns.
 */
#ifndef BL_TEST_CHECK_H
#define BL_TEST_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_failures;
static int check_count;

#define CHECK(cond)                                                                         \
        do {                                                                                \
                check_count++;                                                              \
                if (!(cond)) {                                                              \
                        check_failures++;                                                   \
                        fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
                }                                                                           \
        } while (0)

#define CHECK_INT(actual, expected)                                                            \
        do {                                                                                   \
                long long check_a_ = (long long)(actual), check_e_ = (long long)(expected);    \
                check_count++;                                                                 \
                if (check_a_ != check_e_) {                                                    \
                        check_failures++;                                                      \
                        fprintf(stderr, "%s:%d: %s is %lld, expected %lld\n", __FILE__, __LINE__, \
                                #actual, check_a_, check_e_);                                  \
                }                                                                              \
        } while (0)

#define CHECK_STR(actual, expected)                                                              \
        do {                                                                                     \
                const char *check_a_ = (actual), *check_e_ = (expected);                         \
                check_count++;                                                                   \
                if (!check_a_ || !check_e_ || strcmp(check_a_, check_e_)) {                      \
                        check_failures++;                                                        \
                        fprintf(stderr, "%s:%d: %s is \"%s\", expected \"%s\"\n", __FILE__, __LINE__, \
                                #actual, check_a_ ? check_a_ : "(null)", check_e_ ? check_e_ : "(null)"); \
                }                                                                                \
        } while (0)

/* Checks that @p haystack contains @p needle. */
#define CHECK_CONTAINS(haystack, needle)                                                          \
        do {                                                                                      \
                const char *check_h_ = (haystack), *check_n_ = (needle);                          \
                check_count++;                                                                    \
                if (!check_h_ || !strstr(check_h_, check_n_)) {                                   \
                        check_failures++;                                                         \
                        fprintf(stderr, "%s:%d: \"%s\" does not contain \"%s\"\n", __FILE__, __LINE__, \
                                check_h_ ? check_h_ : "(null)", check_n_);                        \
                }                                                                                 \
        } while (0)

#define RUN(test_fn)                                                 \
        do {                                                         \
                int check_before_ = check_failures;                  \
                test_fn();                                           \
                fprintf(stderr, "%-50s %s\n", #test_fn,              \
                        check_failures == check_before_ ? "ok" : "FAILED"); \
        } while (0)

static inline int check_exit_status(void) {
        fprintf(stderr, "%d checks, %d failed\n", check_count, check_failures);
        return check_failures ? 1 : 0;
}

#endif
