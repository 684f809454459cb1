/* UTF-8 checks shared by the JSON writer, the expression language and validation. */
#ifndef RP_BASE_UTF8_H
#define RP_BASE_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/** Length (1-4) of the valid UTF-8 sequence at s, or 0 if it is not valid
 *  (overlong forms, surrogates and code points past U+10FFFF are invalid). */
size_t rp_utf8_valid_prefix(const char *s, size_t n);
/** True if all n bytes are valid UTF-8 with no NUL. */
bool rp_utf8_is_valid(const char *s, size_t n);
/** Number of code points in valid UTF-8 text. */
size_t rp_utf8_length(const char *s, size_t n);

#endif
