/*
 * The machinery of the API case files (tests/api/run_cases.c runs them; the torture test
 * replays them with faults injected). Format, see api_cases.h.
 */
#include "api_cases.h"
#include "base/log.h"

#include <dirent.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>

#define MAX_VARS 64

struct vars {
    char *name[MAX_VARS];
    char *value[MAX_VARS];
    size_t n;
};

static void var_set(struct vars *v, const char *name, const char *value)
{
    for (size_t i = 0; i < v->n; i++) {
        if (strcmp(v->name[i], name) == 0) {
            free(v->value[i]);
            v->value[i] = rp_xstrdup(value);
            return;
        }
    }
    if (v->n < MAX_VARS) {
        v->name[v->n] = rp_xstrdup(name);
        v->value[v->n++] = rp_xstrdup(value);
    }
}

static void vars_free(struct vars *v)
{
    for (size_t i = 0; i < v->n; i++) {
        free(v->name[i]);
        free(v->value[i]);
    }
    v->n = 0;
}

/* Replaces $name (longest known name) in text; unknown $words stay as they are. */
static char *substitute(const struct vars *v, const char *text)
{
    struct rp_buf b;
    rp_buf_init(&b, NULL, 64 << 20);
    for (const char *p = text; *p;) {
        size_t best = 0, bi = 0;
        if (*p == '$') {
            for (size_t i = 0; i < v->n; i++) {
                size_t n = strlen(v->name[i]);
                if (strncmp(p + 1, v->name[i], n) == 0 && n > best) {
                    char next = p[1 + n];
                    if (!((next >= 'a' && next <= 'z') || (next >= '0' && next <= '9') ||
                          next == '_')) {
                        best = n;
                        bi = i;
                    }
                }
            }
        }
        if (best) {
            rp_buf_adds(&b, v->value[bi]);
            p += best + 1;
        } else {
            rp_buf_addc(&b, *p++);
        }
    }
    return rp_buf_detach(&b, NULL);
}

static int failf(const char *file, int step, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "FAIL %s step %d: ", file, step);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    return -1;
}

/* Structural match; on mismatch writes the path into where. */
static bool match(const json_t *want, const json_t *got, struct vars *v, char *where, size_t wsize)
{
    if (json_is_string(want)) {
        const char *s = json_string_value(want);
        if (strcmp(s, "$any") == 0)
            return got != NULL;
        if (strncmp(s, "$capture:", 9) == 0) {
            char *text;
            if (!got)
                return false;
            text = json_is_string(got) ? rp_xstrdup(json_string_value(got))
                                       : json_dumps(got, JSON_ENCODE_ANY | JSON_COMPACT);
            var_set(v, s + 9, text);
            free(text);
            return true;
        }
    }
    if (json_is_object(want)) {
        const char *key;
        json_t *wv;
        if (!json_is_object(got))
            return false;
        json_object_foreach((json_t *)want, key, wv)
        {
            json_t *gv = json_object_get(got, key);
            if (!gv && !json_is_null(wv)) {
                snprintf(where, wsize, "missing key \"%s\"", key);
                return false;
            }
            if (gv && !match(wv, gv, v, where, wsize)) {
                if (!*where)
                    snprintf(where, wsize, "at key \"%s\"", key);
                return false;
            }
        }
        return true;
    }
    if (json_is_array(want)) {
        size_t i;
        json_t *wv;
        if (!json_is_array(got) || json_array_size(got) != json_array_size(want)) {
            snprintf(where, wsize, "array length %zu, expected %zu",
                     json_is_array(got) ? json_array_size(got) : 0, json_array_size(want));
            return false;
        }
        json_array_foreach(want, i, wv)
        {
            if (!match(wv, json_array_get(got, i), v, where, wsize)) {
                if (!*where)
                    snprintf(where, wsize, "at index %zu", i);
                return false;
            }
        }
        return true;
    }
    if (json_is_number(want) && json_is_number(got))
        return json_number_value(want) == json_number_value(got);
    return json_equal(want, got);
}

struct step {
    char *method, *target;
    struct rp_http_pair headers[16];
    size_t nheaders;
    char *body;
    bool noauth;
    int status;
    bool raw;
    struct rp_http_pair want_headers[8];
    size_t nwant_headers;
    char *want_body;
};

static void step_free(struct step *s)
{
    free(s->method);
    free(s->target);
    for (size_t i = 0; i < s->nheaders; i++) {
        free((char *)s->headers[i].name);
        free((char *)s->headers[i].value);
    }
    for (size_t i = 0; i < s->nwant_headers; i++) {
        free((char *)s->want_headers[i].name);
        free((char *)s->want_headers[i].value);
    }
    free(s->body);
    free(s->want_body);
    memset(s, 0, sizeof(*s));
}

static bool split_header(const char *line, struct rp_http_pair *out)
{
    const char *colon = strchr(line, ':');
    const char *val;
    if (!colon)
        return false;
    val = colon + 1;
    while (*val == ' ')
        val++;
    out->name = rp_xstrndup(line, (size_t)(colon - line));
    out->value = rp_xstrdup(val);
    return true;
}

struct check_ctx {
    const char *file;
    int n;
    struct step *s;
    struct vars *v;
    const char *target;
};

static int check_result(void *ctx, const struct rp_http_result *resp);

static int run_step(struct rp_test_app *t, const char *file, int n, struct step *s, struct vars *v,
                    const struct rp_case_hooks *hooks)
{
    struct rp_http_dispatch in = {0};
    struct rp_http_result res;
    struct rp_http_pair headers[20];
    struct check_ctx cc = {file, n, s, v, NULL};
    char auth[160];
    int hrc = 0;
    char *body = s->body ? substitute(v, s->body) : NULL;
    char *target = substitute(v, s->target);
    char *values[16] = {0};
    bool has_auth = false, has_type = false;
    int rc = 0;

    for (size_t i = 0; i < s->nheaders; i++) {
        values[i] = substitute(v, s->headers[i].value);
        headers[i].name = s->headers[i].name;
        headers[i].value = values[i];
        has_auth |= strcasecmp(s->headers[i].name, "Authorization") == 0;
        has_type |= strcasecmp(s->headers[i].name, "Content-Type") == 0;
    }
    in.nheaders = s->nheaders;
    if (!has_auth && !s->noauth) {
        snprintf(auth, sizeof(auth), "Bearer %s", t->token);
        headers[in.nheaders].name = "Authorization";
        headers[in.nheaders++].value = auth;
    }
    if (body && !has_type) {
        headers[in.nheaders].name = "Content-Type";
        headers[in.nheaders++].value = "application/json";
    }
    in.method = s->method;
    in.target = target;
    in.headers = headers;
    in.body = body;
    in.body_len = body ? strlen(body) : 0;
    cc.target = target;
    if (hooks && hooks->dispatch) {
        struct rp_case_step cs = {.file = file,
                                  .step = n,
                                  .want_status = s->status,
                                  .check = check_result,
                                  .check_ctx = &cc};
        hrc = hooks->dispatch(hooks->ctx, t, &cs, &in, &res);
        if (hrc < 0 || hrc == RP_CASE_STOP_UNCHECKED) {
            rc = hrc < 0 ? -1 : RP_CASE_STOP;
            goto out;
        }
    } else if (rp_http_dispatch(t->app->router, &in, &res) < 0) {
        rc = failf(file, n, "%s %s could not be dispatched", s->method, target);
        goto out;
    }
    rc = check_result(&cc, &res);
    if (rc == 0 && hrc == RP_CASE_STOP)
        rc = RP_CASE_STOP;
    rp_http_dispatch_release(&res);
out:
    for (size_t i = 0; i < s->nheaders; i++)
        free(values[i]);
    free(body);
    free(target);
    return rc;
}

/* Judges one response against the step's expectations (captures variables). */
static int check_result(void *ctx, const struct rp_http_result *resp)
{
    struct check_ctx *cc = ctx;
    const struct rp_http_result res = *resp;
    const char *file = cc->file, *target = cc->target;
    int n = cc->n;
    struct step *s = cc->s;
    struct vars *v = cc->v;
    char where[256] = "";
    int rc = 0;

    if (res.status != s->status) {
        rc = failf(file, n, "%s %s: status %d, expected %d; body: %.*s", s->method, target,
                   res.status, s->status, (int)(res.body_len > 2000 ? 2000 : res.body_len),
                   res.body);
        goto out;
    }
    for (size_t i = 0; i < s->nwant_headers; i++) {
        const char *got = rp_http_result_header(&res, s->want_headers[i].name);
        char *want = substitute(v, s->want_headers[i].value);
        bool ok = got && (strcmp(want, "$any") == 0 || strcmp(want, got) == 0);
        if (!ok)
            rc = failf(file, n, "%s %s: header %s is \"%s\", expected \"%s\"", s->method, target,
                       s->want_headers[i].name, got ? got : "(absent)", want);
        free(want);
        if (rc < 0)
            goto out;
    }
    if (s->want_body) {
        char *want_text = substitute(v, s->want_body);
        if (s->raw) {
            size_t wl = strlen(want_text);
            if (wl > 0 && want_text[wl - 1] == '\n')
                want_text[wl - 1] = '\0'; /* the case file's line break, not the body's */
            if (res.body_len != strlen(want_text) || memcmp(res.body, want_text, res.body_len))
                rc = failf(file, n, "%s %s: body \"%.*s\", expected \"%s\"", s->method, target,
                           (int)res.body_len, res.body, want_text);
        } else {
            json_error_t jerr;
            json_t *want = json_loads(want_text, 0, &jerr);
            json_t *got = json_loadb(res.body, res.body_len, 0, NULL);
            if (!want)
                rc = failf(file, n, "expected JSON does not parse: %s", jerr.text);
            else if (!got)
                rc = failf(file, n, "%s %s: response is not JSON: %.*s", s->method, target,
                           (int)res.body_len, res.body);
            else if (!match(want, got, v, where, sizeof(where)))
                rc = failf(file, n, "%s %s: body mismatch (%s)\n  got:      %.*s\n  expected: %s",
                           s->method, target, where,
                           (int)(res.body_len > 3000 ? 3000 : res.body_len), res.body, want_text);
            json_decref(want);
            json_decref(got);
        }
        free(want_text);
    }
out:
    return rc;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    struct rp_buf b;
    char chunk[8192];
    size_t n;
    if (!f)
        return NULL;
    rp_buf_init(&b, NULL, 64 << 20);
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        rp_buf_add(&b, chunk, n);
    fclose(f);
    return rp_buf_detach(&b, NULL);
}

/* Splits text in place into lines, keeping empty ones; NULL at the end. */
static char *next_line(char **cursor)
{
    char *line = *cursor, *nl;
    if (!line || !*line)
        return NULL;
    nl = strchr(line, '\n');
    if (nl) {
        *nl = '\0';
        *cursor = nl + 1;
    } else {
        *cursor = line + strlen(line);
    }
    if (nl && nl > line && nl[-1] == '\r')
        nl[-1] = '\0';
    return line;
}

int rp_case_run(const char *path, const char *name, const struct rp_case_hooks *hooks)
{
    struct rp_test_app t;
    struct vars v = {0};
    struct step s = {0};
    char *text = read_file(path), *line, *cursor = text;
    enum { NONE, REQ_LINE, REQ_HEADERS, REQ_BODY, EXP_HEADERS, EXP_BODY } state = NONE;
    struct rp_buf body;
    int steps = 0, rc = 0;

    if (!text)
        return failf(name, 0, "cannot read %s", path);
    rp_test_app_open(&t);
    if (hooks && hooks->opened)
        hooks->opened(hooks->ctx, &t);
    var_set(&v, "token", t.token);
    var_set(&v, "user_id", t.user_id);
    rp_buf_init(&body, NULL, 64 << 20);
    for (line = next_line(&cursor);; line = next_line(&cursor)) {
        bool end = line == NULL;
        bool marker = !end && strncmp(line, "### ", 4) == 0;
        if (end || marker) {
            /* Close the section that was open. */
            if (state == REQ_BODY || state == REQ_HEADERS) {
                s.body = body.len ? rp_xstrdup(body.data) : NULL;
            } else if (state == EXP_BODY || state == EXP_HEADERS) {
                s.want_body = body.len ? rp_xstrdup(body.data) : NULL;
                steps++;
                rc = run_step(&t, name, steps, &s, &v, hooks);
                if (rc != 0) {
                    step_free(&s);
                    break;
                }
                step_free(&s);
            }
            rp_buf_reset(&body);
            if (end)
                break;
            if (strncmp(line + 4, "request", 7) == 0) {
                if (state == REQ_BODY || state == REQ_HEADERS) {
                    rc = failf(name, steps + 1, "request without expect");
                    break;
                }
                step_free(&s);
                s.noauth = strstr(line, "noauth") != NULL;
                state = REQ_LINE;
            } else if (strncmp(line + 4, "expect ", 7) == 0) {
                s.status = (int)strtol(line + 11, NULL, 10);
                s.raw = strstr(line + 11, "raw") != NULL;
                state = EXP_HEADERS;
            } else {
                rc = failf(name, steps + 1, "unknown marker: %s", line);
                break;
            }
            continue;
        }
        switch (state) {
        case NONE:
            break; /* comments before the first request */
        case REQ_LINE: {
            char *sp = strchr(line, ' ');
            if (line[0] == '#' || !*line)
                break;
            if (!sp) {
                rc = failf(name, steps + 1, "bad request line: %s", line);
                goto done;
            }
            s.method = rp_xstrndup(line, (size_t)(sp - line));
            s.target = rp_xstrdup(sp + 1);
            state = REQ_HEADERS;
            break;
        }
        case REQ_HEADERS:
            if (!*line || line[0] == '{' || line[0] == '[') {
                state = REQ_BODY;
                if (*line) {
                    rp_buf_adds(&body, line);
                    rp_buf_addc(&body, '\n');
                }
            } else if (s.nheaders < 16 && !split_header(line, &s.headers[s.nheaders++])) {
                rc = failf(name, steps + 1, "bad header line: %s", line);
                goto done;
            }
            break;
        case EXP_HEADERS:
            if (line[0] == '>' && s.nwant_headers < 8) {
                split_header(line + 2, &s.want_headers[s.nwant_headers++]);
                break;
            }
            state = EXP_BODY;
            /* fall through */
        case REQ_BODY:
        case EXP_BODY:
            rp_buf_adds(&body, line);
            rp_buf_addc(&body, '\n');
            break;
        }
    }
done:
    step_free(&s);
    rp_buf_release(&body);
    vars_free(&v);
    rp_test_app_close(&t);
    free(text);
    if (rc == 0 && !(hooks && hooks->quiet))
        printf("ok   %s (%d steps)\n", name, steps);
    return rc < 0 ? -1 : rc;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

size_t rp_case_list(const char *dir, const char *only, char ***out)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char **names = NULL;
    size_t n = 0, cap = 0;

    *out = NULL;
    if (!d)
        return 0;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len > 5 && strcmp(e->d_name + len - 5, ".case") == 0 &&
            (!only || strstr(e->d_name, only))) {
            if (n == cap) {
                cap = cap ? cap * 2 : 64;
                names = rp_xrealloc(names, cap * sizeof(*names));
            }
            names[n++] = rp_xstrdup(e->d_name);
        }
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof(names[0]), cmp_names);
    *out = names;
    return n;
}

void rp_case_list_free(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}
