/* UUID version 7 identifiers: time-ordered, so new records sort last and B-tree inserts stay local. */
#ifndef RP_BASE_UUID_H
#define RP_BASE_UUID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RP_UUID_STRLEN 36

/** Writes a new UUIDv7 for time ms as 36 lower-case characters plus NUL. Thread-safe. */
void rp_uuid_v7(char out[RP_UUID_STRLEN + 1], int64_t ms);
/** True if s is a canonical lower- or upper-case UUID string of any version. */
bool rp_uuid_is_valid(const char *s, size_t n);
/** Fills buf with n cryptographically random bytes (getrandom); aborts if the kernel cannot. */
void rp_random_bytes(void *buf, size_t n);

#endif
