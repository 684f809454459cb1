/*
 * Region allocator: many allocations, one release.
 *
 * An arena hands out memory from chunks and frees all of it at once in
 * rp_arena_release(). Cleanups registered with rp_arena_defer() run at release
 * in reverse order, for handles that are not memory (statements, JSON values).
 * Allocation never returns NULL: out of memory aborts the process (see
 * rp_xmalloc), so limits on input are the real defence. An arena is used by
 * one thread at a time.
 */
#ifndef RP_BASE_ARENA_H
#define RP_BASE_ARENA_H

#include <stdarg.h>
#include <stddef.h>

struct rp_arena_chunk;
struct rp_arena_cleanup;

struct rp_arena {
    /* private */
    struct rp_arena_chunk *_head;       /* newest chunk */
    struct rp_arena_cleanup *_cleanups; /* newest first */
    size_t _chunk_size;                 /* default size of a new chunk */
};

/** Position in an arena, for rp_arena_rewind. */
struct rp_arena_mark {
    struct rp_arena_chunk *chunk;
    size_t used;
};

typedef void (*rp_arena_cleanup_fn)(void *ptr);

/** Sets up an empty arena; nothing is allocated until first use. */
void rp_arena_init(struct rp_arena *a);
/** Runs cleanups and frees every chunk; the arena may be initialised again. */
void rp_arena_release(struct rp_arena *a);
/** Release then init: the arena stays usable. */
void rp_arena_reset(struct rp_arena *a);

/** Returns n bytes aligned for any type; never NULL. */
void *rp_arena_alloc(struct rp_arena *a, size_t n);
/** Zeroed array of n elements of size sz; aborts on multiplication overflow. */
void *rp_arena_calloc(struct rp_arena *a, size_t n, size_t sz);
/** Grows an allocation made from this arena (copying); old memory stays until release. */
void *rp_arena_realloc(struct rp_arena *a, void *old, size_t oldn, size_t n);
char *rp_arena_strdup(struct rp_arena *a, const char *s); /* NULL gives NULL */
char *rp_arena_strndup(struct rp_arena *a, const char *s, size_t n);
char *rp_arena_sprintf(struct rp_arena *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
char *rp_arena_vsprintf(struct rp_arena *a, const char *fmt, va_list ap);
void *rp_arena_memdup(struct rp_arena *a, const void *p, size_t n);

/** Registers fn(ptr) to run at release; later registrations run first. */
void rp_arena_defer(struct rp_arena *a, rp_arena_cleanup_fn fn, void *ptr);

/** Scratch use: remember a position and later free everything allocated after it.
 *  Cleanups registered after the mark are not run by rewind; don't defer in scratch. */
struct rp_arena_mark rp_arena_mark(struct rp_arena *a);
void rp_arena_rewind(struct rp_arena *a, struct rp_arena_mark m);

/* Allocation wrappers that abort on failure (redis, PostgreSQL). */
void *rp_xmalloc(size_t n);
void *rp_xcalloc(size_t n, size_t sz);
void *rp_xrealloc(void *p, size_t n);
char *rp_xstrdup(const char *s);
char *rp_xstrndup(const char *s, size_t n);

#endif
