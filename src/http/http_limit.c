/*
 * Token buckets for the per-client request rate limit of the server.
 *
 * A client is a key (a bearer token, a session cookie or an address) that
 * is hashed with a random per-limiter key, so that clients cannot aim at
 * each other's slots. The table has a fixed size, set at creation, split in
 * stripes with a lock each: memory does not grow with the number of clients.
 * When a stripe is full the least recently seen client of that stripe is
 * forgotten, and comes back with a full bucket; an attacker who cycles
 * through many keys therefore gains at most one burst per eviction, which is
 * why the server also limits per address (see rp_http_server_config).
 *
 * Time is passed in, so the arithmetic is tested without sleeping.
 */
#include "http/http_int.h"

#include "base/uuid.h"

#define LIMIT_STRIPES      64
#define LIMIT_STRIPE_SLOTS 64 /* clients remembered per stripe: 4,096 in all */

struct limit_slot {
    uint64_t key;    /* keyed hash of the client; 0 = free */
    double tokens;   /* requests the client may still make at once */
    int64_t last_us; /* when tokens was last brought up to date */
};

struct limit_stripe {
    pthread_mutex_t mu;
    struct limit_slot slots[LIMIT_STRIPE_SLOTS];
};

struct http_ratelimit {
    double rate;  /* tokens added per second */
    double burst; /* bucket size */
    uint64_t seed;
    struct limit_stripe stripes[LIMIT_STRIPES];
};

struct http_ratelimit *http_ratelimit_new(double rate, double burst)
{
    struct http_ratelimit *rl;

    if (!(rate > 0))
        return NULL;
    rl = rp_xcalloc(1, sizeof(*rl));
    rl->rate = rate;
    rl->burst = burst >= 1 ? burst : 1;
    rp_random_bytes(&rl->seed, sizeof(rl->seed));
    for (size_t i = 0; i < LIMIT_STRIPES; i++)
        pthread_mutex_init(&rl->stripes[i].mu, NULL);
    return rl;
}

void http_ratelimit_free(struct http_ratelimit *rl)
{
    if (!rl)
        return;
    for (size_t i = 0; i < LIMIT_STRIPES; i++)
        pthread_mutex_destroy(&rl->stripes[i].mu);
    free(rl);
}

/* FNV-1a over the key, started from the seed and finished with a 64-bit mixer. */
static uint64_t key_hash(uint64_t seed, const char *key, size_t n)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325) ^ seed;

    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)key[i];
        h *= UINT64_C(0x100000001b3);
    }
    h ^= h >> 33;
    h *= UINT64_C(0xff51afd7ed558ccd);
    h ^= h >> 33;
    return h ? h : 1;
}

unsigned http_ratelimit_take(struct http_ratelimit *rl, const char *key, size_t n, int64_t now_us)
{
    uint64_t h;
    struct limit_stripe *st;
    struct limit_slot *slot = NULL, *oldest = NULL;
    unsigned wait = 0;

    if (!rl)
        return 0;
    h = key_hash(rl->seed, key, n);
    st = &rl->stripes[h % LIMIT_STRIPES];
    pthread_mutex_lock(&st->mu);
    for (size_t i = 0; i < LIMIT_STRIPE_SLOTS; i++) {
        struct limit_slot *s = &st->slots[i];
        if (s->key == h) {
            slot = s;
            break;
        }
        if (!oldest || s->key == 0 || (oldest->key != 0 && s->last_us < oldest->last_us))
            oldest = s;
    }
    if (!slot) {
        slot = oldest;
        slot->key = h;
        slot->tokens = rl->burst;
        slot->last_us = now_us;
    }
    if (now_us > slot->last_us) {
        slot->tokens += (double)(now_us - slot->last_us) / 1e6 * rl->rate;
        if (slot->tokens > rl->burst)
            slot->tokens = rl->burst;
        slot->last_us = now_us;
    }
    if (slot->tokens >= 1) {
        slot->tokens -= 1;
    } else {
        /* Whole seconds until one token is back, as Retry-After counts them. */
        double s = (1 - slot->tokens) / rl->rate;
        wait = s < 1 ? 1 : (s > 86400 ? 86400u : (unsigned)s + (s > (unsigned)s));
    }
    pthread_mutex_unlock(&st->mu);
    return wait;
}
