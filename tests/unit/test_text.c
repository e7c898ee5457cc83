/*
 * test_text.c: the UTF-8 validator against RFC 3629's edge cases (overlongs,
 * surrogates, code points above U+10FFFF, sequences cut short, the largest
 * valid ones), the byte escaper that keeps quoted input printable, the
 * character-boundary prefix, and the edit distance.
 */
#include <stdint.h>

#include "check.h"
#include "base/text.h"

/* Whether @p text (of @p size bytes) is valid; when not, the offset must be @p bad_offset. */
static void expect_utf8(const char *text, size_t size, bool valid, size_t bad_offset) {
        size_t offset = SIZE_MAX;
        CHECK(bl_text_utf8_valid(text, size, &offset) == valid);
        if (!valid)
                CHECK_INT(offset, bad_offset);
}

static void test_valid_sequences(void) {
        expect_utf8("", 0, true, 0);
        expect_utf8("plain ascii", 11, true, 0);
        expect_utf8("\x7f", 1, true, 0);
        expect_utf8("\xc2\x80", 2, true, 0);                /* U+0080, the smallest 2-byte */
        expect_utf8("\xdf\xbf", 2, true, 0);                /* U+07FF */
        expect_utf8("\xe0\xa0\x80", 3, true, 0);            /* U+0800, the smallest 3-byte */
        expect_utf8("\xed\x9f\xbf", 3, true, 0);            /* U+D7FF, just below the surrogates */
        expect_utf8("\xee\x80\x80", 3, true, 0);            /* U+E000, just above them */
        expect_utf8("\xef\xbf\xbf", 3, true, 0);            /* U+FFFF */
        expect_utf8("\xf0\x90\x80\x80", 4, true, 0);        /* U+10000, the smallest 4-byte */
        expect_utf8("\xf0\x9f\x92\x80", 4, true, 0);        /* U+1F480 */
        expect_utf8("\xf4\x8f\xbf\xbf", 4, true, 0);        /* U+10FFFF, the largest */
        expect_utf8("a\xc3\xa9z\xe2\x82\xac", 7, true, 0);  /* mixed */
        CHECK_INT(bl_text_utf8_char_size((const unsigned char *)"\xf0\x9f\x92\x80", 4), 4);
        CHECK_INT(bl_text_utf8_char_size((const unsigned char *)"\xe2\x82\xac", 3), 3);
}

static void test_overlongs(void) {
        expect_utf8("\xc0\x80", 2, false, 0);         /* NUL in two bytes */
        expect_utf8("a\xc1\xbf", 3, false, 1);        /* U+007F in two bytes */
        expect_utf8("\xe0\x80\xaf", 3, false, 0);     /* '/' in three bytes */
        expect_utf8("\xe0\x9f\xbf", 3, false, 0);     /* U+07FF in three bytes */
        expect_utf8("\xf0\x80\x80\xaf", 4, false, 0); /* '/' in four bytes */
        expect_utf8("\xf0\x8f\xbf\xbf", 4, false, 0); /* U+FFFF in four bytes */
}

static void test_surrogates(void) {
        expect_utf8("\xed\xa0\x80", 3, false, 0);                     /* U+D800 */
        expect_utf8("xy\xed\xbf\xbf", 5, false, 2);                   /* U+DFFF */
        expect_utf8("\xed\xa0\xbd\xed\xb2\xa9", 6, false, 0);         /* a CESU-8 pair */
}

static void test_above_the_last_code_point(void) {
        expect_utf8("\xf4\x90\x80\x80", 4, false, 0); /* U+110000 */
        expect_utf8("\xf5\x80\x80\x80", 4, false, 0);
        expect_utf8("\xf7\xbf\xbf\xbf", 4, false, 0);
        expect_utf8("\xf8\x88\x80\x80\x80", 5, false, 0); /* the old 5-byte form */
        expect_utf8("\xfe", 1, false, 0);
        expect_utf8("ok\xff", 3, false, 2);
}

static void test_truncated_and_stray_bytes(void) {
        expect_utf8("\xc3", 1, false, 0);
        expect_utf8("ab\xe2\x82", 4, false, 2);
        expect_utf8("\xf0\x9f\x92", 3, false, 0);
        expect_utf8("\xf0\x9f\x92z", 4, false, 0);     /* the 4th byte is not a continuation */
        expect_utf8("\xe2\x28\xa1", 3, false, 0);      /* the 2nd byte is not a continuation */
        expect_utf8("a\x80", 2, false, 1);             /* a continuation with no lead */
        expect_utf8("\xc3\xa9\xbf", 3, false, 2);      /* one continuation too many */
        /* the size given is what counts, not a NUL */
        expect_utf8("\xc3\xa9", 1, false, 0);
        CHECK_INT(bl_text_utf8_char_size((const unsigned char *)"\xe2\x82\xac", 2), 0);
        CHECK_INT(bl_text_utf8_char_size((const unsigned char *)"", 0), 0);
        CHECK(bl_text_utf8_valid("\xff", 1, NULL) == false); /* no offset wanted */
}

static void test_escape_bytes(void) {
        char out[64];
        CHECK_INT(bl_text_escape_bytes(out, sizeof(out), "t\xff-1\n\xc3\xa9\x7f", 8), 17);
        CHECK_STR(out, "t\\xff-1\\x0a\xc3\xa9\\x7f");
        CHECK(bl_text_utf8_valid(out, strlen(out), NULL));
        CHECK_INT(bl_text_escape_bytes(out, sizeof(out), "a\0b", 3), 6); /* a NUL inside is a control character */
        CHECK_STR(out, "a\\x00b");
        /* cut whole: neither half of an escape nor of a character */
        char small[6];
        CHECK_INT(bl_text_escape_bytes(small, sizeof(small), "ab\xff", 3), 2);
        CHECK_STR(small, "ab");
        CHECK_INT(bl_text_escape_bytes(small, sizeof(small), "abc\xe2\x82\xac", 6), 3);
        CHECK_STR(small, "abc");
        CHECK_INT(bl_text_escape_bytes(small, 0, "abc", 3), 0);
}

static void test_prefix_ends_at_a_character(void) {
        const char *text = "ab\xe2\x82\xac" "cd";
        CHECK_INT(bl_text_utf8_prefix(text, 7, 10), 7);
        CHECK_INT(bl_text_utf8_prefix(text, 7, 5), 5);
        CHECK_INT(bl_text_utf8_prefix(text, 7, 4), 2);
        CHECK_INT(bl_text_utf8_prefix(text, 7, 3), 2);
        CHECK_INT(bl_text_utf8_prefix(text, 7, 2), 2);
        CHECK_INT(bl_text_utf8_prefix(text, 7, 0), 0);
}

static void test_edit_distance(void) {
        CHECK_INT(bl_text_edit_distance("topics.partitons", "topics.partitions"), 1);
        CHECK_INT(bl_text_edit_distance("", "abc"), 3);
        CHECK_INT(bl_text_edit_distance("same", "same"), 0);
}

int main(void) {
        RUN(test_valid_sequences);
        RUN(test_overlongs);
        RUN(test_surrogates);
        RUN(test_above_the_last_code_point);
        RUN(test_truncated_and_stray_bytes);
        RUN(test_escape_bytes);
        RUN(test_prefix_ends_at_a_character);
        RUN(test_edit_distance);
        return check_exit_status();
}
