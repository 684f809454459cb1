/* String builder; see buf.h for the invariants. */
#include "base/buf.h"
#include "base/arena.h"
#include "base/err.h"
#include "base/utf8.h"

#include <inttypes.h>
#include <stdio.h>

static char buf_empty[1];

void rp_buf_init(struct rp_buf *b, struct rp_arena *arena, size_t max)
{
    b->data = buf_empty;
    b->len = 0;
    b->cap = 0;
    b->max = max;
    b->arena = arena;
    b->err = 0;
}

void rp_buf_release(struct rp_buf *b)
{
    if (b->cap && !b->arena)
        free(b->data);
    rp_buf_init(b, b->arena, b->max);
}

void rp_buf_reset(struct rp_buf *b)
{
    b->len = 0;
    b->err = 0;
    b->data[0] = '\0';
}

bool rp_buf_grow(struct rp_buf *b, size_t n)
{
    size_t want, ncap;

    if (b->err)
        return false;
    if (n > b->max || b->len > b->max - n) {
        b->err = RP_ETOOBIG;
        return false;
    }
    want = b->len + n + 1;
    if (want <= b->cap)
        return true;
    ncap = b->cap ? b->cap : 64;
    while (ncap < want)
        ncap = ncap * 2 > ncap ? ncap * 2 : want;
    if (b->arena) {
        char *p = rp_arena_alloc(b->arena, ncap);
        memcpy(p, b->data, b->len + 1);
        b->data = p;
    } else if (b->cap) {
        b->data = rp_xrealloc(b->data, ncap);
    } else {
        b->data = rp_xmalloc(ncap);
        b->data[0] = '\0';
    }
    b->cap = ncap;
    return true;
}

void rp_buf_add(struct rp_buf *b, const void *mem, size_t n)
{
    if (!rp_buf_grow(b, n))
        return;
    if (n)
        memcpy(b->data + b->len, mem, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void rp_buf_adds(struct rp_buf *b, const char *s)
{
    rp_buf_add(b, s, strlen(s));
}

void rp_buf_addc(struct rp_buf *b, char c)
{
    rp_buf_add(b, &c, 1);
}

void rp_buf_vaddf(struct rp_buf *b, const char *fmt, va_list ap)
{
    va_list cp;
    int n;

    if (b->err)
        return;
    va_copy(cp, ap);
    n = vsnprintf(NULL, 0, fmt, cp);
    va_end(cp);
    if (n < 0 || !rp_buf_grow(b, (size_t)n))
        return;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
}

void rp_buf_addf(struct rp_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    rp_buf_vaddf(b, fmt, ap);
    va_end(ap);
}

void rp_buf_add_i64(struct rp_buf *b, int64_t v)
{
    char tmp[24];
    size_t n = sizeof(tmp);
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

    do {
        tmp[--n] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        tmp[--n] = '-';
    rp_buf_add(b, tmp + n, sizeof(tmp) - n);
}

void rp_buf_add_json_str(struct rp_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t i = 0, run = 0;

    rp_buf_addc(b, '"');
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
            i++;
            run++;
            continue;
        }
        rp_buf_add(b, s + i - run, run);
        run = 0;
        if (c >= 0x80) {
            size_t len = rp_utf8_valid_prefix(s + i, n - i);
            if (len == 0) {
                rp_buf_adds(b, "\\ufffd");
                i++;
            } else {
                rp_buf_add(b, s + i, len);
                i += len;
            }
            continue;
        }
        switch (c) {
        case '"':
            rp_buf_adds(b, "\\\"");
            break;
        case '\\':
            rp_buf_adds(b, "\\\\");
            break;
        case '\n':
            rp_buf_adds(b, "\\n");
            break;
        case '\r':
            rp_buf_adds(b, "\\r");
            break;
        case '\t':
            rp_buf_adds(b, "\\t");
            break;
        default: {
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            rp_buf_add(b, esc, sizeof(esc));
        }
        }
        i++;
    }
    rp_buf_add(b, s + i - run, run);
    rp_buf_addc(b, '"');
}

void rp_buf_add_ident(struct rp_buf *b, const char *s)
{
    rp_buf_addc(b, '"');
    rp_buf_adds(b, s);
    rp_buf_addc(b, '"');
}

void rp_buf_truncate(struct rp_buf *b, size_t len)
{
    if (len < b->len) {
        b->len = len;
        b->data[len] = '\0';
    }
}

int rp_buf_error(const struct rp_buf *b)
{
    return b->err;
}

char *rp_buf_detach(struct rp_buf *b, size_t *len)
{
    char *p;
    if (len)
        *len = b->len;
    p = b->cap ? b->data : rp_xstrdup("");
    rp_buf_init(b, b->arena, b->max);
    return p;
}

void rp_buf_add_html(struct rp_buf *b, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        switch (s[i]) {
        case '&':
            rp_buf_adds(b, "&amp;");
            break;
        case '<':
            rp_buf_adds(b, "&lt;");
            break;
        case '>':
            rp_buf_adds(b, "&gt;");
            break;
        case '"':
            rp_buf_adds(b, "&quot;");
            break;
        case '\'':
            rp_buf_adds(b, "&#39;");
            break;
        default:
            rp_buf_addc(b, s[i]);
        }
    }
}
