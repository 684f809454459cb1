/*
 * Chunked bump allocator. Chunks form a list, newest first; a request larger
 * than a quarter chunk gets a chunk of its own so that big bodies don't waste
 * the tail of the current chunk.
 */
#include "base/arena.h"

#include <stdint.h>
#include <stdio.h>

#define ARENA_ALIGN       16
#define ARENA_CHUNK_BYTES 8192

struct rp_arena_chunk {
    struct rp_arena_chunk *next;
    size_t size; /* usable bytes in data */
    size_t used;
    _Alignas(ARENA_ALIGN) unsigned char data[];
};

struct rp_arena_cleanup {
    struct rp_arena_cleanup *next;
    rp_arena_cleanup_fn fn;
    void *ptr;
};

static void out_of_memory(size_t n)
{
    fprintf(stderr, "rapport: out of memory allocating %zu bytes\n", n);
    abort();
}

void *rp_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        out_of_memory(n);
    return p;
}

void *rp_xcalloc(size_t n, size_t sz)
{
    void *p = calloc(n ? n : 1, sz ? sz : 1);
    if (!p)
        out_of_memory(n * sz);
    return p;
}

void *rp_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        out_of_memory(n);
    return q;
}

char *rp_xstrdup(const char *s)
{
    return rp_xstrndup(s, strlen(s));
}

char *rp_xstrndup(const char *s, size_t n)
{
    char *p = rp_xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void rp_arena_init(struct rp_arena *a)
{
    a->_head = NULL;
    a->_cleanups = NULL;
    a->_chunk_size = ARENA_CHUNK_BYTES;
}

void rp_arena_release(struct rp_arena *a)
{
    while (a->_cleanups) {
        struct rp_arena_cleanup *c = a->_cleanups;
        a->_cleanups = c->next;
        c->fn(c->ptr); /* the cleanup record itself lives in a chunk */
    }
    while (a->_head) {
        struct rp_arena_chunk *c = a->_head;
        a->_head = c->next;
        free(c);
    }
}

void rp_arena_reset(struct rp_arena *a)
{
    rp_arena_release(a);
    rp_arena_init(a);
}

static struct rp_arena_chunk *chunk_new(size_t size)
{
    struct rp_arena_chunk *c = rp_xmalloc(sizeof(*c) + size);
    c->next = NULL;
    c->size = size;
    c->used = 0;
    return c;
}

void *rp_arena_alloc(struct rp_arena *a, size_t n)
{
    struct rp_arena_chunk *c = a->_head;
    size_t need = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);

    if (need < n)
        out_of_memory(n);
    if (c && c->size - c->used >= need) {
        void *p = c->data + c->used;
        c->used += need;
        return p;
    }
    if (need > a->_chunk_size / 4) {
        /* A big block gets its own chunk, linked behind the current one. */
        struct rp_arena_chunk *big = chunk_new(need);
        big->used = need;
        if (c) {
            big->next = c->next;
            c->next = big;
        } else {
            a->_head = big;
        }
        return big->data;
    }
    c = chunk_new(a->_chunk_size);
    c->next = a->_head;
    a->_head = c;
    c->used = need;
    return c->data;
}

void *rp_arena_calloc(struct rp_arena *a, size_t n, size_t sz)
{
    void *p;
    if (sz && n > SIZE_MAX / sz)
        out_of_memory(SIZE_MAX);
    p = rp_arena_alloc(a, n * sz);
    memset(p, 0, n * sz);
    return p;
}

void *rp_arena_realloc(struct rp_arena *a, void *old, size_t oldn, size_t n)
{
    void *p = rp_arena_alloc(a, n);
    if (old && oldn)
        memcpy(p, old, oldn < n ? oldn : n);
    return p;
}

void *rp_arena_memdup(struct rp_arena *a, const void *p, size_t n)
{
    void *q = rp_arena_alloc(a, n);
    if (n)
        memcpy(q, p, n);
    return q;
}

char *rp_arena_strndup(struct rp_arena *a, const char *s, size_t n)
{
    char *p = rp_arena_alloc(a, n + 1);
    if (n)
        memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *rp_arena_strdup(struct rp_arena *a, const char *s)
{
    return s ? rp_arena_strndup(a, s, strlen(s)) : NULL;
}

char *rp_arena_vsprintf(struct rp_arena *a, const char *fmt, va_list ap)
{
    va_list cp;
    int n;
    char *p;

    va_copy(cp, ap);
    n = vsnprintf(NULL, 0, fmt, cp);
    va_end(cp);
    if (n < 0)
        return rp_arena_strdup(a, "");
    p = rp_arena_alloc(a, (size_t)n + 1);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    return p;
}

char *rp_arena_sprintf(struct rp_arena *a, const char *fmt, ...)
{
    va_list ap;
    char *p;
    va_start(ap, fmt);
    p = rp_arena_vsprintf(a, fmt, ap);
    va_end(ap);
    return p;
}

void rp_arena_defer(struct rp_arena *a, rp_arena_cleanup_fn fn, void *ptr)
{
    struct rp_arena_cleanup *c = rp_arena_alloc(a, sizeof(*c));
    c->fn = fn;
    c->ptr = ptr;
    c->next = a->_cleanups;
    a->_cleanups = c;
}

struct rp_arena_mark rp_arena_mark(struct rp_arena *a)
{
    struct rp_arena_mark m = {a->_head, a->_head ? a->_head->used : 0};
    return m;
}

void rp_arena_rewind(struct rp_arena *a, struct rp_arena_mark m)
{
    /*
     * Chunks added after the mark are freed. Big blocks are linked behind the
     * head, so a chunk that sits behind the marked one but was added later is
     * kept until release; that only wastes memory, never corrupts it.
     */
    while (a->_head && a->_head != m.chunk) {
        struct rp_arena_chunk *c = a->_head;
        a->_head = c->next;
        free(c);
    }
    if (a->_head)
        a->_head->used = m.used;
}
