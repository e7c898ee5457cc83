/*
 * text.h: small pure text helpers shared by the parsers (config, policy).
 */
#ifndef BL_TEXT_H
#define BL_TEXT_H

#include <stddef.h>

/** Levenshtein distance between @p a and @p b; SIZE_MAX when @p b is longer than 127 bytes. */
size_t bl_text_edit_distance(const char *a, const char *b);

#endif
