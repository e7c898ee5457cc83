/*
 * text.h: small pure text helpers: the edit distance behind "did you mean"
 * in the parsers (config, policy), and the one UTF-8 validator that the
 * contract, the logs and the DLQ headers share.
 */
#ifndef BL_TEXT_H
#define BL_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/** Levenshtein distance between @p a and @p b; SIZE_MAX when @p b is longer than 127 bytes. */
size_t bl_text_edit_distance(const char *a, const char *b);

/**
 * The size (1 to 4) of the well-formed UTF-8 character that starts at
 * @p text, of which @p available bytes may be read; 0 when the bytes there
 * are not one (a stray continuation byte, an overlong form, a surrogate,
 * a code point above U+10FFFF, a sequence cut short). RFC 3629, as the
 * Avro specification requires of strings.
 */
size_t bl_text_utf8_char_size(const unsigned char *text, size_t available);

/**
 * Whether the @p size bytes at @p text are well-formed UTF-8. When not, and
 * @p bad_offset is not NULL, *bad_offset is the offset of the first byte
 * that does not begin a well-formed character.
 */
bool bl_text_utf8_valid(const void *text, size_t size, size_t *bad_offset);

/**
 * Copies the @p size bytes at @p text into @p out (NUL-terminated, at most
 * out_size - 1 bytes) as valid UTF-8 without control characters: every byte
 * that is not part of a well-formed character, and every control character
 * (below 0x20, and 0x7F), is written as the four characters \xNN (lowercase
 * hex). Text that does not fit is cut at a character boundary. Returns the
 * bytes written. For text that quotes input into a header or a log.
 */
size_t bl_text_escape_bytes(char *out, size_t out_size, const void *text, size_t size);

/** The longest prefix of @p text (at most @p max_bytes of its @p size) that ends at a character boundary. */
size_t bl_text_utf8_prefix(const char *text, size_t size, size_t max_bytes);

#endif
