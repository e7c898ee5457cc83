/*
 * text.c: pure text helpers.
 *
 * The edit distance behind "unknown key (did you mean ...?)" in the config
 * and policy parsers keeps one row of the dynamic-programming table on the
 * stack: keys are short, and a longer one simply gets no suggestion.
 *
 * The UTF-8 validator follows RFC 3629's table of well-formed byte
 * sequences (Unicode's Table 3-7): the second byte's range depends on the
 * first (E0 needs A0..BF against overlongs, ED needs 80..9F against
 * surrogates, F0 needs 90..BF, F4 needs 80..8F against code points above
 * U+10FFFF); C0, C1 and F5..FF never appear. Every string backlogd takes
 * from input goes through it (contract/validate.c, contract/records.c), and
 * whatever quotes input bytes into a log line or a header escapes with it
 * (base/log.c, pipeline/dlq.c). Pure, no allocation; any thread.
 */
#include "base/text.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

size_t bl_text_edit_distance(const char *a, const char *b) {
        size_t la = strlen(a), lb = strlen(b), row[128];
        if (lb >= sizeof(row) / sizeof(row[0]))
                return SIZE_MAX;
        for (size_t j = 0; j <= lb; j++)
                row[j] = j;
        for (size_t i = 1; i <= la; i++) {
                size_t diag = row[0];
                row[0] = i;
                for (size_t j = 1; j <= lb; j++) {
                        size_t up = row[j];
                        size_t best = diag + (a[i - 1] != b[j - 1]);
                        if (up + 1 < best)
                                best = up + 1;
                        if (row[j - 1] + 1 < best)
                                best = row[j - 1] + 1;
                        row[j] = best;
                        diag = up;
                }
        }
        return row[lb];
}

static bool is_continuation(unsigned char byte) {
        return (byte & 0xC0) == 0x80;
}

size_t bl_text_utf8_char_size(const unsigned char *text, size_t available) {
        unsigned char lead, low = 0x80, high = 0xBF;
        size_t size;
        if (available == 0)
                return 0;
        lead = text[0];
        if (lead < 0x80)
                return 1;
        if (lead >= 0xC2 && lead <= 0xDF)
                size = 2;
        else if (lead >= 0xE0 && lead <= 0xEF)
                size = 3;
        else if (lead >= 0xF0 && lead <= 0xF4)
                size = 4;
        else
                return 0; /* a continuation byte, C0/C1 (overlong ASCII) or F5..FF (above U+10FFFF) */
        if (lead == 0xE0)
                low = 0xA0; /* overlong below U+0800 */
        else if (lead == 0xED)
                high = 0x9F; /* U+D800..U+DFFF: surrogates */
        else if (lead == 0xF0)
                low = 0x90; /* overlong below U+10000 */
        else if (lead == 0xF4)
                high = 0x8F; /* above U+10FFFF */
        if (available < size || text[1] < low || text[1] > high)
                return 0;
        for (size_t i = 2; i < size; i++)
                if (!is_continuation(text[i]))
                        return 0;
        return size;
}

bool bl_text_utf8_valid(const void *text, size_t size, size_t *bad_offset) {
        const unsigned char *bytes = text;
        size_t offset = 0;
        while (offset < size) {
                size_t char_size;
                if (bytes[offset] < 0x80) { /* ASCII: the common case, one byte at a time */
                        offset++;
                        continue;
                }
                char_size = bl_text_utf8_char_size(bytes + offset, size - offset);
                if (char_size == 0) {
                        if (bad_offset)
                                *bad_offset = offset;
                        return false;
                }
                offset += char_size;
        }
        return true;
}

size_t bl_text_escape_bytes(char *out, size_t out_size, const void *text, size_t size) {
        const unsigned char *bytes = text;
        size_t used = 0;
        if (out_size == 0)
                return 0;
        for (size_t offset = 0; offset < size;) {
                size_t char_size = bl_text_utf8_char_size(bytes + offset, size - offset);
                bool escape = char_size == 0 || (char_size == 1 && (bytes[offset] < 0x20 || bytes[offset] == 0x7F));
                size_t needed = escape ? 4 : char_size;
                if (used + needed >= out_size)
                        break;
                if (escape) {
                        snprintf(out + used, out_size - used, "\\x%02x", bytes[offset]);
                        offset++;
                } else {
                        memcpy(out + used, bytes + offset, char_size);
                        offset += char_size;
                }
                used += needed;
        }
        out[used] = '\0';
        return used;
}

size_t bl_text_utf8_prefix(const char *text, size_t size, size_t max_bytes) {
        size_t end;
        if (size <= max_bytes)
                return size;
        end = max_bytes;
        while (end > 0 && is_continuation((unsigned char)text[end]))
                end--;
        return end;
}
