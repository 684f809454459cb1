/*
 * The web UI's files: the router's fallback serves the built Vue app (web/dist) at "/".
 *
 * Paths under /api stay problem+json 404s. Any other GET or HEAD maps onto a file below the
 * web directory: "/" is index.html, and a path whose file is missing and whose last segment
 * has no dot is a client-side route, answered with index.html so that reloading a deep link
 * works. A missing file with an extension (an asset) is a 404 problem.
 *
 * A path is served only when every segment is a plain name: no empty, ".", ".." or hidden
 * segment and no backslash (the path arrives percent-decoded, so "%2e%2e" is caught here).
 * The file is opened with O_NOFOLLOW and must be a regular file no larger than the response
 * limit. Vite names the files under assets/ by content hash, so they are cached for a year;
 * everything else (index.html) is revalidated on every load. The build writes a gzip copy
 * (name.gz) of the larger text assets; it is sent, with Content-Encoding: gzip, to clients
 * that accept gzip, and the type stays that of the original file.
 *
 * The transport's Content-Security-Policy for non-API answers is "default-src 'self'". The
 * files served here widen it by exactly one source: Element Plus's stylesheet draws a few
 * icons (the check mark of a selected option) as data: SVG images, so img-src also allows
 * data:. Scripts, styles and connections stay same-origin only.
 */
#include "api/api_int.h"
#include "base/limits.h"
#include "base/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define WEB_PATH_MAX 1024 /* web directory plus request path */
#define WEB_CSP      "default-src 'self'; img-src 'self' data:"

static const struct {
    const char *ext;
    const char *type;
} web_types[] = {
    {"html", "text/html; charset=utf-8"},
    {"js", "text/javascript; charset=utf-8"},
    {"mjs", "text/javascript; charset=utf-8"},
    {"css", "text/css; charset=utf-8"},
    {"json", "application/json"},
    {"map", "application/json"},
    {"webmanifest", "application/manifest+json"},
    {"svg", "image/svg+xml"},
    {"png", "image/png"},
    {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"},
    {"gif", "image/gif"},
    {"webp", "image/webp"},
    {"ico", "image/x-icon"},
    {"woff", "font/woff"},
    {"woff2", "font/woff2"},
    {"ttf", "font/ttf"},
    {"txt", "text/plain; charset=utf-8"},
    {"wasm", "application/wasm"},
};

void rp_api_set_web_dir(struct rp_api *api, const char *dir)
{
    api->web_dir = dir;
}

static const char *web_content_type(const char *name)
{
    const char *dot = strrchr(name, '.');

    if (!dot)
        return "application/octet-stream";
    for (size_t i = 0; i < sizeof(web_types) / sizeof(web_types[0]); i++)
        if (strcasecmp(dot + 1, web_types[i].ext) == 0)
            return web_types[i].type;
    return "application/octet-stream";
}

/* True when every segment of path (which starts with '/') is a plain, visible name. */
static bool web_path_is_safe(const char *path)
{
    const char *seg = path + 1;

    if (strchr(path, '\\'))
        return false;
    if (*seg == '\0')
        return true; /* "/" */
    for (;;) {
        const char *end = strchr(seg, '/');
        size_t len = end ? (size_t)(end - seg) : strlen(seg);
        if (len == 0 || seg[0] == '.')
            return false;
        if (!end)
            return true;
        seg = end + 1;
    }
}

static bool web_is_api_path(const char *p)
{
    return strncmp(p, "/api", 4) == 0 && (p[4] == '\0' || p[4] == '/');
}

/* True when Accept-Encoding lists gzip without refusing it (q=0). */
static bool web_accepts_gzip(const struct rp_http_req *req)
{
    const char *h = rp_http_header(req, "Accept-Encoding"), *p;

    if (!h || !(p = strcasestr(h, "gzip")))
        return false;
    p += 4;
    while (*p == ' ')
        p++;
    if (*p != ';')
        return true;
    p++;
    while (*p == ' ')
        p++;
    /* "q=0", "q=0.0", "q=0.000" refuse; any other weight accepts */
    if (strncmp(p, "q=0", 3) != 0)
        return true;
    p += 3;
    if (*p == '.')
        p += strspn(p + 1, "0") + 1;
    return *p != '\0' && *p != ',' && *p != ' ';
}

/* 0 with the file in resp, RP_ENOTFOUND when there is no regular file, or another error. */
static int web_send_file(struct rp_http_req *req, struct rp_http_resp *resp, const char *file)
{
    struct stat st;
    int fd, rc = RP_ENOTFOUND;
    size_t done = 0;

    fd = open(file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return errno == ENOENT || errno == ENOTDIR || errno == ELOOP ? RP_ENOTFOUND : RP_EIO;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        goto out;
    rc = RP_EIO;
    if ((uint64_t)st.st_size >= RP_LIMIT_RESPONSE_BYTES) {
        rp_log_error("web file %s is too large to serve", file);
        goto out;
    }
    rp_buf_init(&resp->body, &req->arena, RP_LIMIT_RESPONSE_BYTES);
    if (!rp_buf_grow(&resp->body, (size_t)st.st_size))
        goto out;
    while (done < (size_t)st.st_size) {
        ssize_t n = read(fd, resp->body.data + done, (size_t)st.st_size - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rp_log_error("could not read web file %s: %s", file, n < 0 ? strerror(errno) : "EOF");
            goto out;
        }
        done += (size_t)n;
    }
    /* read straight into the reserved space rather than through a second copy */
    resp->body.len = done;
    resp->body.data[done] = '\0';
    resp->status = 200;
    resp->content_type = web_content_type(file);
    rc = 0;
out:
    close(fd);
    return rc;
}

static int web_fallback(struct rp_http_req *req, struct rp_http_resp *resp)
{
    struct rp_api *api = api_of(req);
    const char *path = req->path, *last;
    char file[WEB_PATH_MAX];
    bool asset;
    int rc, n;

    if (web_is_api_path(path) || !api->web_dir)
        return rp_error_set(&req->err, RP_ENOTFOUND, "no resource at this path");
    if (req->method != RP_HTTP_GET && req->method != RP_HTTP_HEAD) {
        rp_http_resp_header(req, resp, "Allow", "GET, HEAD");
        return rp_error_set(&req->err, RP_EMETHOD, "method %s is not allowed here",
                            req->method_name);
    }
    if (!web_path_is_safe(path))
        return rp_error_set(&req->err, RP_ENOTFOUND, "no resource at this path");
    n = snprintf(file, sizeof(file), "%s%s", api->web_dir,
                 strcmp(path, "/") == 0 ? "/index.html" : path);
    if (n < 0 || (size_t)n >= sizeof(file))
        return rp_error_set(&req->err, RP_ENOTFOUND, "no resource at this path");
    asset = strncmp(path, "/assets/", 8) == 0;
    rc = RP_ENOTFOUND;
    if (asset && web_accepts_gzip(req) && (size_t)n + 3 < sizeof(file)) {
        memcpy(file + n, ".gz", 4);
        rc = web_send_file(req, resp, file);
        file[n] = '\0';
        if (rc == 0) {
            resp->content_type = web_content_type(file);
            rp_http_resp_header(req, resp, "Content-Encoding", "gzip");
        }
    }
    if (rc == RP_ENOTFOUND)
        rc = web_send_file(req, resp, file);
    last = strrchr(path, '/');
    if (rc == RP_ENOTFOUND && !asset && !strchr(last, '.')) {
        /* a client-side route: the app decides what it shows */
        n = snprintf(file, sizeof(file), "%s/index.html", api->web_dir);
        if (n > 0 && (size_t)n < sizeof(file))
            rc = web_send_file(req, resp, file);
    }
    if (rc == RP_ENOTFOUND)
        return rp_error_set(&req->err, RP_ENOTFOUND, "no file at this path");
    if (rc < 0)
        return rp_error_set(&req->err, rc, "could not read the file for this path");
    rp_http_resp_header(req, resp, "Cache-Control",
                        asset ? "public, max-age=31536000, immutable" : "no-cache");
    if (asset)
        rp_http_resp_header(req, resp, "Vary", "Accept-Encoding");
    rp_http_resp_header(req, resp, "Content-Security-Policy", WEB_CSP);
    return 0;
}

void api_register_web(struct rp_http_router *r)
{
    rp_http_router_fallback(r, web_fallback);
}
