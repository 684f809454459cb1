/*
 * String builder with a mandatory size cap.
 *
 * Invariants (git strbuf): data is never NULL after init and is always
 * NUL-terminated; len excludes the NUL. An append that would pass max sets
 * the sticky error RP_ETOOBIG and leaves the contents unchanged; every later
 * append is ignored, so a long sequence is checked once with rp_buf_error().
 * A buffer initialised with an arena grows inside that arena and needs no
 * release; one without lives on the heap and is freed by rp_buf_release().
 */
#ifndef RP_BASE_BUF_H
#define RP_BASE_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rp_arena;

struct rp_buf {
    char *data;
    size_t len;
    size_t cap; /* bytes available in data, NUL included; 0 while data is static "" */
    size_t max; /* largest allowed len */
    struct rp_arena *arena;
    int err; /* 0 or the first failure */
};

void rp_buf_init(struct rp_buf *b, struct rp_arena *arena, size_t max);
void rp_buf_release(struct rp_buf *b);
/** Empties the buffer and clears the sticky error; keeps the memory. */
void rp_buf_reset(struct rp_buf *b);
/** Makes room for n more bytes; false (and sticky error) past max. */
bool rp_buf_grow(struct rp_buf *b, size_t n);
void rp_buf_add(struct rp_buf *b, const void *mem, size_t n);
void rp_buf_adds(struct rp_buf *b, const char *s);
void rp_buf_addc(struct rp_buf *b, char c);
void rp_buf_addf(struct rp_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void rp_buf_vaddf(struct rp_buf *b, const char *fmt, va_list ap);
void rp_buf_add_i64(struct rp_buf *b, int64_t v);
/** Appends s as a JSON string literal, quotes included; invalid UTF-8 becomes U+FFFD. */
void rp_buf_add_json_str(struct rp_buf *b, const char *s, size_t n);
/** Appends s with SQL identifier quoting ("name"). Callers pass validated names only. */
void rp_buf_add_ident(struct rp_buf *b, const char *s);
/** Appends s[0..n) as HTML text or attribute value: & < > " ' escaped. */
void rp_buf_add_html(struct rp_buf *b, const char *s, size_t n);
/** Shortens to len (<= current len). */
void rp_buf_truncate(struct rp_buf *b, size_t len);
/** 0 or the sticky error (RP_ETOOBIG). */
int rp_buf_error(const struct rp_buf *b);
/** Heap buffers only: returns the malloc'd string (caller frees) and re-inits b. */
char *rp_buf_detach(struct rp_buf *b, size_t *len);

#endif
