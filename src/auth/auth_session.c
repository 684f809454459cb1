/*
 * Web UI sessions: the rp_session cookie and CSRF tokens.
 *
 * The cookie holds an ordinary session token (the one login returns to API
 * clients in JSON), so verification, expiry and revocation are the token's.
 * A browser sends the cookie with every request to the site, including ones
 * another site makes it send, so writes with the cookie must also prove they
 * come from our own pages: the X-CSRF-Token header, which only a page of
 * ours can read (from the login response or GET /auth/me).
 *
 * The CSRF token is HMAC-SHA-512-256 (crypto_auth) of the session's id under
 * a key derived from the token pepper with crypto_kdf. It is stateless, is
 * the same for the whole session, cannot be computed without the pepper
 * (session ids are not secret: they are listed), and stops working when the
 * session does. Comparison is constant-time.
 */
#include "auth/auth.h"
#include "auth/auth_int.h"
#include "http/http.h"

#include <string.h>
#include <strings.h>

#define CSRF_KDF_CONTEXT "rp_csrf_" /* crypto_kdf_CONTEXTBYTES characters */
#define CSRF_KDF_ID      1
#define B64_VARIANT      sodium_base64_VARIANT_URLSAFE_NO_PADDING

/* ---- the cookie ---- */

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* RFC 6265 cookie-octet: visible ASCII but DQUOTE, comma, semicolon and backslash. */
static bool is_cookie_octet(unsigned char c)
{
    return c >= 0x21 && c <= 0x7E && c != '"' && c != ',' && c != ';' && c != '\\';
}

/* The value of one "name=value" pair, unquoted; false if it breaks the syntax. */
static bool cookie_value(const char *p, size_t n, const char **v, size_t *vlen)
{
    if (n >= 2 && p[0] == '"' && p[n - 1] == '"') {
        p++;
        n -= 2;
    }
    for (size_t i = 0; i < n; i++)
        if (!is_cookie_octet((unsigned char)p[i]))
            return false;
    *v = p;
    *vlen = n;
    return true;
}

/*
 * If the pair p[0..n) (trimmed) is rp_session=<valid, non-empty value>,
 * points v at its value. Names are case-sensitive; spaces around '=' are tolerated as
 * browsers tolerate them.
 */
static bool session_pair(const char *p, size_t n, const char **v, size_t *vlen)
{
    static const size_t name_len = sizeof(RP_AUTH_COOKIE) - 1;
    const char *eq = memchr(p, '=', n), *vp;
    size_t nl;

    if (!eq)
        return false;
    nl = (size_t)(eq - p);
    while (nl > 0 && is_ows(p[nl - 1]))
        nl--;
    if (nl != name_len || memcmp(p, RP_AUTH_COOKIE, name_len) != 0)
        return false;
    for (vp = eq + 1; vp < p + n && is_ows(*vp); vp++)
        ;
    /* An empty value is what a cleared cookie leaves behind: no session, not a bad one. */
    return cookie_value(vp, (size_t)(p + n - vp), v, vlen) && *vlen > 0;
}

struct cookie_scan {
    int found; /* 0 none, 1 one value (or several equal ones), RP_EINVAL several that differ */
    const char *v;
    size_t vlen;
};

/* Scans one Cookie header value ("a=1; b=2") for rp_session pairs. */
static void scan_header(struct cookie_scan *s, const char *h)
{
    while (*h) {
        const char *pair = h, *end = strchr(h, ';'), *v;
        size_t n, vlen;

        if (!end)
            end = h + strlen(h);
        h = *end ? end + 1 : end;
        while (pair < end && is_ows(*pair))
            pair++;
        n = (size_t)(end - pair);
        while (n > 0 && is_ows(pair[n - 1]))
            n--;
        if (!session_pair(pair, n, &v, &vlen))
            continue;
        if (s->found == 0) {
            s->found = 1;
            s->v = v;
            s->vlen = vlen;
        } else if (s->found == 1 && (vlen != s->vlen || memcmp(v, s->v, vlen) != 0)) {
            s->found = RP_EINVAL;
        }
    }
}

int rp_auth_session_cookie(const struct rp_http_pair *headers, size_t n, char *out, size_t size)
{
    struct cookie_scan s = {0};

    if (size > 0)
        out[0] = '\0';
    for (size_t i = 0; i < n; i++)
        if (headers[i].name && headers[i].value && strcasecmp(headers[i].name, "Cookie") == 0)
            scan_header(&s, headers[i].value);
    if (s.found == 1 && s.vlen < size) {
        memcpy(out, s.v, s.vlen);
        out[s.vlen] = '\0';
    }
    return s.found;
}

void rp_auth_session_cookie_format(struct rp_buf *out, const char *token, int64_t max_age_s,
                                   bool secure)
{
    rp_buf_adds(out, RP_AUTH_COOKIE "=");
    if (token)
        rp_buf_adds(out, token);
    rp_buf_addf(out, "; Path=/; Max-Age=%lld; HttpOnly; SameSite=Strict",
                (long long)(token && max_age_s > 0 ? max_age_s : 0));
    if (secure)
        rp_buf_adds(out, "; Secure");
}

/* ---- CSRF tokens ---- */

static int csrf_tag(struct rp_auth *a, const char *token_id, unsigned char tag[crypto_auth_BYTES],
                    struct rp_error *err)
{
    unsigned char pepper[RP_AUTH_KEY_BYTES];
    unsigned char key[crypto_auth_KEYBYTES];
    int rc;

    /* The pepper doubles as a KDF master key: both are 32 random bytes. */
    _Static_assert(RP_AUTH_KEY_BYTES == crypto_kdf_KEYBYTES, "the pepper is a KDF key");
    _Static_assert(crypto_auth_KEYBYTES >= crypto_kdf_BYTES_MIN &&
                       crypto_auth_KEYBYTES <= crypto_kdf_BYTES_MAX,
                   "an HMAC key can be derived");
    rc = rp_auth_pepper(a, pepper, err);
    if (rc < 0)
        return rc;
    crypto_kdf_derive_from_key(key, sizeof(key), CSRF_KDF_ID, CSRF_KDF_CONTEXT, pepper);
    crypto_auth(tag, (const unsigned char *)token_id, strlen(token_id), key);
    sodium_memzero(pepper, sizeof(pepper));
    sodium_memzero(key, sizeof(key));
    return 0;
}

int rp_auth_csrf_token(struct rp_auth *a, const char *token_id, struct rp_buf *out,
                       struct rp_error *err)
{
    struct rp_error local;
    unsigned char tag[crypto_auth_BYTES];
    char text[RP_AUTH_CSRF_LEN + 1];
    int rc;

    _Static_assert(sizeof(text) == sodium_base64_ENCODED_LEN(crypto_auth_BYTES, B64_VARIANT),
                   "RP_AUTH_CSRF_LEN fits the tag");
    err = rp_auth_err_or(err, &local);
    if (!rp_auth_text_is_valid(token_id, RP_AUTH_ID_SIZE - 1))
        return rp_error_set(err, RP_EINVAL, "no session");
    rc = csrf_tag(a, token_id, tag, err);
    if (rc < 0)
        return rc;
    sodium_bin2base64(text, sizeof(text), tag, sizeof(tag), B64_VARIANT);
    rp_buf_add(out, text, RP_AUTH_CSRF_LEN);
    return 0;
}

bool rp_auth_csrf_is_valid(struct rp_auth *a, const char *token_id, const char *csrf)
{
    unsigned char tag[crypto_auth_BYTES];
    char want[RP_AUTH_CSRF_LEN + 1];
    struct rp_error ignore;
    bool ok;

    if (!csrf || strnlen(csrf, RP_AUTH_CSRF_LEN + 1) != RP_AUTH_CSRF_LEN)
        return false;
    if (!rp_auth_text_is_valid(token_id, RP_AUTH_ID_SIZE - 1))
        return false;
    rp_error_init(&ignore, NULL);
    if (csrf_tag(a, token_id, tag, &ignore) < 0)
        return false;
    sodium_bin2base64(want, sizeof(want), tag, sizeof(tag), B64_VARIANT);
    ok = sodium_memcmp(want, csrf, RP_AUTH_CSRF_LEN) == 0;
    sodium_memzero(want, sizeof(want));
    return ok;
}
