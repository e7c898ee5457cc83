/*
 * random.h: a seeded xorshift64 generator for the randomised unit tests, so
 * that every run draws the same sequence and a failure reproduces.
 */
#ifndef BL_TEST_RANDOM_H
#define BL_TEST_RANDOM_H

#include <stdbool.h>
#include <stdint.h>

static uint64_t random_state = 0x9e3779b97f4a7c15u;

static inline uint64_t next_random(void) {
        random_state ^= random_state << 13;
        random_state ^= random_state >> 7;
        random_state ^= random_state << 17;
        return random_state;
}

/* True once in @p n draws, on average. */
static inline bool one_in(unsigned n) {
        return next_random() % n == 0;
}

#endif
