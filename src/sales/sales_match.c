/*
 * Match keys for duplicate detection (sales.h, "Dedup"): pure normalisers that turn a field
 * value into the key two duplicates share (or into no key when the value is not plausible),
 * Jaro-Winkler similarity over code points, and the table of match methods. A new method is a
 * function of the rp_sales_match_fn shape and one row of methods[].
 *
 * Text is folded with utf8proc (NFKC and case folding), so full-width letters and digits,
 * compatibility forms and case differences give the same key.
 */
#include "sales/sales_int.h"

#include "base/utf8.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

/* Values longer than this are not matched (no key): nobody's name or address is. */
#define MATCH_MAX_BYTES 1024
#define MAX_TOKENS      64
#define MAX_CPS         256

/* NFKC + case fold into a malloc'd NUL-terminated string, or NULL for invalid UTF-8. */
static char *fold(const char *in, size_t n)
{
    utf8proc_uint8_t *out = NULL;
    utf8proc_ssize_t len;

    if (n > MATCH_MAX_BYTES || !rp_utf8_is_valid(in, n))
        return NULL;
    len = utf8proc_map((const utf8proc_uint8_t *)in, (utf8proc_ssize_t)n, &out,
                       UTF8PROC_STABLE | UTF8PROC_COMPAT | UTF8PROC_COMPOSE | UTF8PROC_CASEFOLD);
    if (len < 0) {
        free(out);
        return NULL;
    }
    return (char *)out;
}

static bool is_word_char(utf8proc_int32_t cp)
{
    utf8proc_category_t c = utf8proc_category(cp);
    return (c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_NO);
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

static void trim(const char **in, size_t *n)
{
    while (*n && is_space(**in))
        (*in)++, (*n)--;
    while (*n && is_space((*in)[*n - 1]))
        (*n)--;
}

/* ---- email ---- */

bool rp_sales_match_email(const char *in, size_t n, const char *country, struct rp_buf *out)
{
    const char *at = NULL, *domain;
    size_t local, dlen;

    (void)country;
    trim(&in, &n);
    if (n == 0 || n > 254 || !rp_utf8_is_valid(in, n))
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c <= 0x20 || c == 0x7f || c == '<' || c == '>' || c == ',' || c == ';')
            return false;
        if (c == '@') {
            if (at)
                return false;
            at = in + i;
        }
    }
    if (!at)
        return false;
    local = (size_t)(at - in);
    domain = at + 1;
    dlen = n - local - 1;
    if (local == 0 || local > 64 || dlen < 3 || !memchr(domain, '.', dlen) || domain[0] == '.' ||
        domain[dlen - 1] == '.' || memmem(domain, dlen, "..", 2))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = in[i];
        rp_buf_addc(out, c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c);
    }
    return rp_buf_error(out) == 0;
}

/* ---- phone ---- */

static bool all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return n > 0;
}

/* A Chinese national significant number: a mobile, or an area code and a local number. */
static bool plausible_cn(const char *d, size_t n)
{
    if (n == 11 && d[0] == '1' && d[1] >= '3' && d[1] <= '9')
        return true; /* mobile */
    if (n == 10 && d[0] == '1' && d[1] == '0')
        return true; /* Beijing 010 + 8 digits */
    if (n == 10 && d[0] == '2')
        return true;                                           /* 02x + 8 digits */
    return (n == 10 || n == 11) && d[0] >= '3' && d[0] <= '9'; /* 0xxx + 7 or 8 digits */
}

/* Where an extension starts ("ext. 12", "x12", "#12", "转12", ",12"), or n. */
static size_t extension_at(const char *s, size_t n)
{
    static const char *const marks[] = {"ext", "x", "#", "转", "分机", ",", ";", "p", "w"};
    bool digit_seen = false;

    for (size_t i = 0; i < n; i++) {
        if (s[i] >= '0' && s[i] <= '9') {
            digit_seen = true;
            continue;
        }
        for (size_t k = 0; digit_seen && k < sizeof(marks) / sizeof(marks[0]); k++)
            if (strncmp(s + i, marks[k], strlen(marks[k])) == 0)
                return i;
    }
    return n;
}

bool rp_sales_match_phone(const char *in, size_t n, const char *country, struct rp_buf *out)
{
    char digits[32], e164[40];
    size_t nd = 0, cut;
    bool plus = false, ok = false;
    const char *cc =
        country && all_digits(country, strlen(country)) && strlen(country) <= 3 && country[0] != '0'
            ? country
            : "86";
    size_t ccn = strlen(cc);
    char *s = fold(in, n);

    if (!s)
        return false;
    cut = extension_at(s, strlen(s));
    for (size_t i = 0; i < cut; i++) {
        char c = s[i];
        if (c >= '0' && c <= '9') {
            if (nd == sizeof(digits) - 1)
                goto out;
            digits[nd++] = c;
        } else if (c == '+' && nd == 0 && !plus) {
            plus = true;
        } else if (!(is_space(c) || c == '-' || c == '.' || c == '(' || c == ')' || c == '/')) {
            goto out; /* letters and other signs: not a phone number */
        }
    }
    digits[nd] = '\0';
    if (!plus && nd > 2 && digits[0] == '0' && digits[1] == '0') {
        memmove(digits, digits + 2, nd - 1); /* 00: the international prefix */
        nd -= 2;
        plus = true;
    }
    if (!plus && nd >= ccn + 9 && strncmp(digits, cc, ccn) == 0)
        plus = true; /* the country code without its plus */
    if (plus) {
        snprintf(e164, sizeof(e164), "%s", digits);
    } else {
        const char *nsn = digits[0] == '0' ? digits + 1 : digits; /* the trunk prefix */
        snprintf(e164, sizeof(e164), "%s%s", cc, nsn);
    }
    nd = strlen(e164);
    if (strncmp(e164, "86", 2) == 0) {
        char *nsn = e164 + 2;
        if (nsn[0] == '0') /* "+86 (0)10 ...": a trunk zero written after the country code */
            memmove(nsn, nsn + 1, strlen(nsn));
        ok = plausible_cn(nsn, strlen(nsn));
    } else {
        ok = nd >= 8 && nd <= 15 && e164[0] != '0';
    }
    if (ok) {
        rp_buf_addc(out, '+');
        rp_buf_adds(out, e164);
        ok = rp_buf_error(out) == 0;
    }
out:
    free(s);
    return ok;
}

/* ---- unified social credit code (GB 32100-2015) ---- */

static const char USCC_CHARS[] = "0123456789ABCDEFGHJKLMNPQRTUWXY";

bool rp_sales_uscc_is_valid(const char *s, size_t n)
{
    static const int weights[17] = {1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28};
    int sum = 0;

    if (n != 18)
        return false;
    for (size_t i = 0; i < 18; i++) {
        const char *p = s[i] ? strchr(USCC_CHARS, s[i]) : NULL;
        if (!p)
            return false;
        if (i < 17)
            sum += (int)(p - USCC_CHARS) * weights[i];
        else
            return USCC_CHARS[(31 - sum % 31) % 31] == s[i];
    }
    return false;
}

bool rp_sales_match_uscc(const char *in, size_t n, const char *country, struct rp_buf *out)
{
    char code[19];
    size_t k = 0;
    char *s = fold(in, n);
    bool ok = false;

    (void)country;
    if (!s)
        return false;
    for (size_t i = 0; s[i]; i++) {
        char c = s[i];
        if (is_space(c) || c == '-')
            continue;
        if (k == 18)
            goto out;
        code[k++] = c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
    }
    code[k] = '\0';
    if ((ok = rp_sales_uscc_is_valid(code, k))) {
        rp_buf_add(out, code, k);
        ok = rp_buf_error(out) == 0;
    }
out:
    free(s);
    return ok;
}

/* ---- company names ---- */

struct tokens {
    char text[MATCH_MAX_BYTES * 4 + 1]; /* the words, each NUL-terminated */
    size_t start[MAX_TOKENS], n;
    size_t used;
};

/*
 * Splits folded text into words of letters, digits and marks. Dots and apostrophes join ("Co.",
 * "S.A." and "O'Neil" are one word); every other sign or space separates.
 */
static bool tokenize(const char *s, struct tokens *t)
{
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)s;
    utf8proc_ssize_t len = (utf8proc_ssize_t)strlen(s), i = 0;
    bool in_word = false;

    t->n = t->used = 0;
    while (i < len) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate(p + i, len - i, &cp);
        if (k <= 0)
            return false;
        if (is_word_char(cp)) {
            if (!in_word) {
                if (t->n == MAX_TOKENS)
                    return false;
                t->start[t->n++] = t->used;
                in_word = true;
            }
            if (t->used + (size_t)k + 1 >= sizeof(t->text))
                return false;
            memcpy(t->text + t->used, p + i, (size_t)k);
            t->used += (size_t)k;
        } else if (cp == '.' || cp == '\'' || cp == 0x2019) {
            /* joins */
        } else if (in_word) {
            t->text[t->used++] = '\0';
            in_word = false;
        }
        i += k;
    }
    if (in_word)
        t->text[t->used++] = '\0';
    return true;
}

/* Legal forms, folded and without dots, dropped from the end of a company name. */
static const char *const LEGAL_WORDS[] = {
    "co",  "company", "ltd",         "limited", "inc",     "incorporated", "llc", "llp",
    "lp",  "corp",    "corporation", "gmbh",    "ag",      "sa",           "sas", "sarl",
    "srl", "spa",     "bv",          "nv",      "plc",     "pte",          "pty", "pvt",
    "kk",  "oy",      "ab",          "group",   "holdings"};
/* Chinese legal forms, longest first, cut from the end of the last word. */
static const char *const LEGAL_SUFFIXES[] = {"股份有限公司", "有限责任公司", "有限公司", "集团",
                                             "公司"};

static bool in_list(const char *w, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(w, list[i]) == 0)
            return true;
    return false;
}

/* Drops one legal form from the end; false when there is none (or nothing would be left). */
static bool strip_legal_form(struct tokens *t)
{
    char *last = t->text + t->start[t->n - 1];
    size_t len = strlen(last);

    if (t->n > 1 && in_list(last, LEGAL_WORDS, sizeof(LEGAL_WORDS) / sizeof(LEGAL_WORDS[0]))) {
        t->n--;
        return true;
    }
    for (size_t i = 0; i < sizeof(LEGAL_SUFFIXES) / sizeof(LEGAL_SUFFIXES[0]); i++) {
        size_t k = strlen(LEGAL_SUFFIXES[i]);
        if (len < k || strcmp(last + len - k, LEGAL_SUFFIXES[i]) != 0)
            continue;
        if (len > k) {
            last[len - k] = '\0';
            return true;
        }
        if (t->n > 1) {
            t->n--;
            return true;
        }
    }
    return false;
}

bool rp_sales_match_company(const char *in, size_t n, const char *country, struct rp_buf *out)
{
    struct tokens *t;
    char *s = fold(in, n);
    bool ok = false;

    (void)country;
    if (!s)
        return false;
    t = rp_xmalloc(sizeof(*t));
    if (tokenize(s, t) && t->n > 0) {
        while (strip_legal_form(t))
            ;
        for (size_t i = 0; i < t->n; i++)
            rp_buf_adds(out, t->text + t->start[i]);
        ok = out->len > 0 && rp_buf_error(out) == 0;
    }
    free(t);
    free(s);
    return ok;
}

/* ---- person names ---- */

bool rp_sales_match_name(const char *in, size_t n, const char *country, struct rp_buf *out)
{
    struct tokens *t;
    char *s = fold(in, n);
    bool ok = false;

    (void)country;
    if (!s)
        return false;
    t = rp_xmalloc(sizeof(*t));
    if (tokenize(s, t) && t->n > 0) {
        for (size_t i = 0; i < t->n; i++) {
            if (i)
                rp_buf_addc(out, ' ');
            rp_buf_adds(out, t->text + t->start[i]);
        }
        ok = rp_buf_error(out) == 0;
    }
    free(t);
    free(s);
    return ok;
}

/* ---- similarity ---- */

static size_t code_points(const char *s, size_t n, utf8proc_int32_t *cps)
{
    utf8proc_ssize_t i = 0;
    size_t k = 0;

    while ((size_t)i < n && k < MAX_CPS) {
        utf8proc_ssize_t len =
            utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)n - i, &cps[k]);
        if (len <= 0)
            break;
        i += len;
        k++;
    }
    return k;
}

double rp_sales_similarity(const char *a, size_t an, const char *b, size_t bn)
{
    utf8proc_int32_t x[MAX_CPS], y[MAX_CPS];
    bool xm[MAX_CPS] = {false}, ym[MAX_CPS] = {false};
    size_t nx = code_points(a, an, x), ny = code_points(b, bn, y);
    size_t window, matches = 0, transpositions = 0, prefix = 0, k = 0;
    double jaro;

    if (nx == 0 && ny == 0)
        return 1.0;
    if (nx == 0 || ny == 0)
        return 0.0;
    window = (nx > ny ? nx : ny) / 2;
    window = window > 0 ? window - 1 : 0;
    for (size_t i = 0; i < nx; i++) {
        size_t lo = i > window ? i - window : 0, hi = i + window + 1 < ny ? i + window + 1 : ny;
        for (size_t j = lo; j < hi; j++) {
            if (ym[j] || x[i] != y[j])
                continue;
            xm[i] = ym[j] = true;
            matches++;
            break;
        }
    }
    if (matches == 0)
        return 0.0;
    for (size_t i = 0; i < nx; i++) {
        if (!xm[i])
            continue;
        while (!ym[k])
            k++;
        if (x[i] != y[k])
            transpositions++;
        k++;
    }
    jaro = ((double)matches / (double)nx + (double)matches / (double)ny +
            ((double)matches - (double)transpositions / 2.0) / (double)matches) /
           3.0;
    while (prefix < 4 && prefix < nx && prefix < ny && x[prefix] == y[prefix])
        prefix++;
    return jaro + (double)prefix * 0.1 * (1.0 - jaro);
}

/* ---- the methods ---- */

static const struct rp_sales_match_method methods[] = {
    {"email", rp_sales_match_email, false},     {"phone", rp_sales_match_phone, false},
    {"company", rp_sales_match_company, false}, {"uscc", rp_sales_match_uscc, false},
    {"name", rp_sales_match_name, true},
};

const struct rp_sales_match_method *rp_sales_match_method(const char *name)
{
    for (size_t i = 0; name && i < sizeof(methods) / sizeof(methods[0]); i++)
        if (strcmp(methods[i].name, name) == 0)
            return &methods[i];
    return NULL;
}
