/*
 * The rapport command line. Each subcommand is a row in a table: name, usage
 * and a function taking the remaining arguments. Commands work on the
 * database directly through the app module (never through HTTP), so they run
 * with or without a server on the same file; SQLite serialises the writers.
 * Exit status: 0 success, 1 failure, 2 usage error.
 */
#include "cli/cli.h"
#include "app/app.h"
#include "base/log.h"
#include "base/time.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_DB     "./data/rapport.db"
#define DEFAULT_LISTEN "127.0.0.1:8080"
#define DEFAULT_WEB    "web/dist"

#define DEFAULT_SHUTDOWN_TIMEOUT_S 10u

struct cli_opts {
    const char *db;
    const char *listen;
    bool demo;
    bool admin;
    bool password_stdin;
    bool access_log;
    bool force; /* restore: replace a database that is not empty */
    unsigned threads;
    struct rp_http_server_config limits; /* serve: admission control; 0 = default */
    unsigned shutdown_timeout_s;         /* serve: bound on a graceful stop; 0 = default */
    unsigned job_lease_s;                /* serve: lease of a claimed job; 0 = default */
    const char *name;
    const char *expires;
    const char *state;
    const char *web;
    const char *nats; /* serve: the message bus URL */
    const char *from; /* copy: the source database */
    const char *to;   /* copy: the destination database */
    const char *positional[4];
    size_t npositional;
};

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "rapport: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'rapport --help'.\n");
    return 2;
}

/* Numeric options of serve: name, what it sets, unit, range. */
struct num_opt {
    const char *name;
    double min, max;
    bool integer;
};

static const struct num_opt num_opts[] = {
    {"--max-connections", 1, 1000000, true}, {"--max-per-ip", 1, 1000000, true},
    {"--max-inflight", 1, 1000000, true},    {"--conn-timeout", 1, 86400, true},
    {"--body-timeout", 1, 86400, true},      {"--rate-limit", 0, 1e9, false},
    {"--rate-burst", 1, 1e9, false},         {"--ip-rate-limit", 0, 1e9, false},
    {"--shutdown-timeout", 1, 86400, true},  {"--header-timeout", 1, 86400, true},
    {"--job-lease", 1, 86400, true},
};

static void set_num_opt(struct cli_opts *o, size_t which, double v)
{
    struct rp_http_server_config *l = &o->limits;
    switch (which) {
    case 0:
        l->max_connections = (unsigned)v;
        break;
    case 1:
        l->max_per_ip = (unsigned)v;
        break;
    case 2:
        l->max_inflight = (unsigned)v;
        break;
    case 3:
        l->connection_timeout_s = (unsigned)v;
        break;
    case 4:
        l->body_timeout_s = (unsigned)v;
        break;
    case 5:
        l->rate_limit = v;
        break;
    case 6:
        l->rate_burst = v;
        break;
    case 7:
        l->ip_rate_limit = v;
        break;
    case 8:
        o->shutdown_timeout_s = (unsigned)v;
        break;
    case 9:
        l->header_timeout_s = (unsigned)v;
        break;
    default:
        o->job_lease_s = (unsigned)v;
        break;
    }
}

/* One of num_opts at argv[*i]: 1 when parsed (and *i moved past its value), 0 when argv[*i] is
 * not one of them, -1 after a usage error was printed. */
static int parse_limit_opt(int argc, char **argv, int *i, struct cli_opts *o)
{
    const char *a = argv[*i];

    for (size_t k = 0; k < sizeof(num_opts) / sizeof(num_opts[0]); k++) {
        const struct num_opt *n = &num_opts[k];
        char *end;
        double v;
        if (strcmp(a, n->name) != 0)
            continue;
        if (*i + 1 >= argc) {
            usage_error("option '%s' needs a value", a);
            return -1;
        }
        errno = 0;
        v = n->integer ? (double)strtol(argv[*i + 1], &end, 10) : strtod(argv[*i + 1], &end);
        if (errno || end == argv[*i + 1] || *end || !(v >= n->min && v <= n->max)) {
            usage_error("option '%s' needs a %s from %g to %g, not '%s'", a,
                        n->integer ? "whole number" : "number", n->min, n->max, argv[*i + 1]);
            return -1;
        }
        set_num_opt(o, k, v);
        *i += 1;
        return 1;
    }
    return 0;
}

/* Options shared by every command; unknown ones are usage errors. */
static int parse_opts(int argc, char **argv, struct cli_opts *o, bool *help)
{
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char **target = NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            *help = true;
            continue;
        }
        if (strcmp(a, "--demo") == 0) {
            o->demo = true;
            continue;
        }
        if (strcmp(a, "--admin") == 0) {
            o->admin = true;
            continue;
        }
        if (strcmp(a, "--password-stdin") == 0) {
            o->password_stdin = true;
            continue;
        }
        if (strcmp(a, "--force") == 0) {
            o->force = true;
            continue;
        }
        if (strcmp(a, "--access-log") == 0) {
            o->access_log = true;
            continue;
        }
        if (strcmp(a, "--no-access-log") == 0) {
            o->access_log = false;
            continue;
        }
        {
            int matched = parse_limit_opt(argc, argv, &i, o);
            if (matched < 0)
                return 2;
            if (matched > 0)
                continue;
        }
        if (strcmp(a, "--db") == 0)
            target = &o->db;
        else if (strcmp(a, "--listen") == 0)
            target = &o->listen;
        else if (strcmp(a, "--name") == 0)
            target = &o->name;
        else if (strcmp(a, "--expires") == 0)
            target = &o->expires;
        else if (strcmp(a, "--state") == 0)
            target = &o->state;
        else if (strcmp(a, "--web") == 0)
            target = &o->web;
        else if (strcmp(a, "--nats") == 0)
            target = &o->nats;
        else if (strcmp(a, "--from") == 0)
            target = &o->from;
        else if (strcmp(a, "--to") == 0)
            target = &o->to;
        else if (strcmp(a, "--threads") == 0) {
            char *end;
            long n;
            if (i + 1 >= argc)
                return usage_error("option '%s' needs a value", a);
            n = strtol(argv[++i], &end, 10);
            if (*end || n < 1 || n > 256)
                return usage_error("option '--threads' needs a number from 1 to 256, not '%s'",
                                   argv[i]);
            o->threads = (unsigned)n;
            continue;
        }
        if (target) {
            if (i + 1 >= argc)
                return usage_error("option '%s' needs a value", a);
            *target = argv[++i];
            continue;
        }
        if (a[0] == '-')
            return usage_error("unknown option '%s'", a);
        if (o->npositional == sizeof(o->positional) / sizeof(o->positional[0]))
            return usage_error("unexpected argument '%s'", a);
        o->positional[o->npositional++] = a;
    }
    return 0;
}

static int open_app(const struct cli_opts *o, struct rp_app **app)
{
    struct rp_arena a;
    struct rp_error err;
    struct rp_app_config cfg = {.db = o->db ? o->db : DEFAULT_DB,
                                .nats_url = o->nats,
                                .job_lease_ms = (int64_t)o->job_lease_s * 1000};
    int rc;

    rp_arena_init(&a);
    rp_error_init(&err, &a);
    rc = rp_app_open(&cfg, app, &err);
    if (rc < 0)
        fprintf(stderr, "rapport: %s\n", err.detail ? err.detail : rp_err_title(rc));
    rp_arena_release(&a);
    return rc < 0 ? 1 : 0;
}

static int report(int rc, const struct rp_error *err)
{
    if (rc >= 0)
        return 0;
    fprintf(stderr, "rapport: %s\n", err->detail ? err->detail : rp_err_title(rc));
    for (size_t i = 0; i < err->nfields; i++)
        fprintf(stderr, "  %s: %s\n", err->fields[i].field, err->fields[i].message);
    return 1;
}

/* Reads a password from stdin: without echo when it is a terminal. */
static int read_password(const char *prompt, char *buf, size_t size)
{
    struct termios old, quiet;
    bool tty = isatty(STDIN_FILENO);
    size_t n;

    if (tty) {
        fprintf(stderr, "%s", prompt);
        tcgetattr(STDIN_FILENO, &old);
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
    }
    if (!fgets(buf, (int)size, stdin))
        buf[0] = '\0';
    if (tty) {
        tcsetattr(STDIN_FILENO, TCSANOW, &old);
        fprintf(stderr, "\n");
    }
    n = strlen(buf);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    return n > 0 ? 0 : -1;
}

/* ---- commands ---- */

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
    stop_signal = sig;
}

/*
 * Bounds a graceful stop: waiting for in-flight requests and the last commit
 * group normally takes milliseconds, but a stuck handler must not keep the
 * process alive. After the bound the process ends with status 1; nothing is
 * lost that was acknowledged, since acknowledgement follows the commit.
 */
static void *watchdog_main(void *arg)
{
    unsigned seconds = *(unsigned *)arg;
    struct timespec ts = {.tv_sec = seconds};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
    fprintf(stderr, "rapport: requests still running %u s after the stop signal; exiting\n",
            seconds);
    _exit(1);
    return NULL;
}

static void start_watchdog(unsigned seconds)
{
    static unsigned bound;
    pthread_t t;

    bound = seconds;
    if (pthread_create(&t, NULL, watchdog_main, &bound) == 0)
        pthread_detach(t);
}

static int parse_listen(const char *listen, char *addr, size_t size, unsigned *port)
{
    const char *colon = strrchr(listen, ':');
    char *end;
    long p;

    if (!colon || (size_t)(colon - listen) >= size || colon == listen)
        return -1;
    p = strtol(colon + 1, &end, 10);
    if (*end || p < 0 || p > 65535 || colon[1] == '\0')
        return -1;
    memcpy(addr, listen, (size_t)(colon - listen));
    addr[colon - listen] = '\0';
    *port = (unsigned)p;
    return 0;
}

/* The web UI is optional: without its directory the server answers only the API. */
static void set_web_dir(struct rp_app *app, const char *dir)
{
    struct stat st;

    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr,
                "rapport: no web UI at %s (build it with: make web); serving the API only\n", dir);
        return;
    }
    rp_api_set_web_dir(app->api, dir);
}

static int cmd_serve(struct cli_opts *o)
{
    struct rp_http_server_config scfg = o->limits;
    struct rp_app *app = NULL;
    struct rp_arena a;
    struct rp_error err;
    char addr[256], password[64];
    unsigned port;
    int rc, created;

    if (parse_listen(o->listen ? o->listen : DEFAULT_LISTEN, addr, sizeof(addr), &port) < 0)
        return usage_error("--listen needs ADDRESS:PORT, e.g. 127.0.0.1:8080, not '%s'",
                           o->listen ? o->listen : "");
    if (o->nats && !rp_records_setting_is_valid(RP_RECORDS_BUS_URL_SETTING, o->nats))
        return usage_error("--nats needs a nats:// or tls:// URL, e.g. nats://127.0.0.1:4222, "
                           "not '%s'",
                           o->nats);
    if (open_app(o, &app) != 0)
        return 1;
    rp_arena_init(&a);
    rp_error_init(&err, &a);
    created = rp_app_ensure_admin(app, password, sizeof(password), &err);
    if (created < 0) {
        rc = report(created, &err);
        goto out;
    }
    if (o->demo) {
        rc = rp_app_load_demo(app, &err);
        if (rc < 0) {
            rc = report(rc, &err);
            goto out;
        }
        if (rc > 0)
            fprintf(stderr, "rapport: loaded %d demo records\n", rc);
    }
    scfg.access_log = o->access_log;
    scfg.threads = o->threads;
    scfg.address = addr;
    scfg.port = port;
    set_web_dir(app, o->web ? o->web : DEFAULT_WEB);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);
    rc = rp_app_serve(app, &scfg, &err);
    if (rc < 0) {
        rc = report(rc, &err);
        goto out;
    }
    printf("rapport %s serving http://%s:%u/\n", RP_VERSION, addr,
           rp_http_server_port(app->server));
    if (created > 0)
        printf("\n  first start: administrator created\n  username: admin\n  password: %s\n\n"
               "  (shown once; change it with: rapport user passwd admin)\n\n",
               password);
    fflush(stdout);
    while (!stop_signal)
        pause();
    fprintf(stderr, "rapport: stopping (signal %d)\n", (int)stop_signal);
    start_watchdog(o->shutdown_timeout_s ? o->shutdown_timeout_s : DEFAULT_SHUTDOWN_TIMEOUT_S);
    rc = 0;
out:
    rp_app_close(app); /* stops the server: in-flight requests finish, queued writes commit */
    rp_arena_release(&a);
    return rc;
}

static int cmd_migrate(struct cli_opts *o)
{
    struct rp_app *app;
    if (open_app(o, &app) != 0)
        return 1;
    printf("database %s is at schema version %d\n", o->db ? o->db : DEFAULT_DB,
           rp_store_schema_version(app->store));
    rp_app_close(app);
    return 0;
}

static int cmd_user_add(struct cli_opts *o, struct rp_app *app, const char *password,
                        struct rp_error *err)
{
    struct rp_user_info u;
    int rc = rp_auth_user_add(app->auth, o->positional[2], password, o->name, o->admin, &u, err);
    if (rc < 0)
        return report(rc, err);
    printf("created user %s (%s)%s\n", u.username, u.id, u.is_admin ? ", administrator" : "");
    return 0;
}

static int cmd_user_passwd(struct cli_opts *o, struct rp_app *app, const char *password,
                           struct rp_error *err)
{
    int rc = rp_auth_user_passwd(app->auth, o->positional[2], password, err);
    if (rc < 0)
        return report(rc, err);
    printf("password changed for %s; their sessions were revoked\n", o->positional[2]);
    return 0;
}

static void print_user(void *ctx, const struct rp_user_info *u)
{
    struct rp_buf b;
    (void)ctx;
    rp_buf_init(&b, NULL, 64);
    rp_time_format_datetime(&b, u->created_at);
    printf("%-36s  %-20s  %-5s  %-8s  %s  %s\n", u->id, u->username, u->is_admin ? "admin" : "user",
           u->active ? "active" : "inactive", b.data, u->display_name);
    rp_buf_release(&b);
}

static int cmd_user(struct cli_opts *o)
{
    struct rp_app *app;
    struct rp_arena a;
    struct rp_error err;
    const char *sub = o->npositional > 1 ? o->positional[1] : "";
    int rc;

    char password[1100] = "";

    if (strcmp(sub, "add") != 0 && strcmp(sub, "passwd") != 0 && strcmp(sub, "list") != 0)
        return usage_error("usage: rapport user add|passwd|list ...");
    if (strcmp(sub, "list") != 0) {
        /* The password is read before the database is touched, so a missing one changes nothing. */
        if (o->npositional != 3)
            return usage_error("usage: rapport user %s USERNAME", sub);
        if (read_password(strcmp(sub, "add") == 0 ? "password: " : "new password: ", password,
                          sizeof(password)) < 0) {
            fprintf(stderr, "rapport: a password is required (read from standard input)\n");
            return 1;
        }
    }
    if (open_app(o, &app) != 0) {
        explicit_bzero(password, sizeof(password));
        return 1;
    }
    rp_arena_init(&a);
    rp_error_init(&err, &a);
    if (strcmp(sub, "add") == 0) {
        rc = cmd_user_add(o, app, password, &err);
    } else if (strcmp(sub, "passwd") == 0) {
        rc = cmd_user_passwd(o, app, password, &err);
    } else {
        printf("%-36s  %-20s  %-5s  %-8s  %-20s  %s\n", "ID", "USERNAME", "ROLE", "STATUS",
               "CREATED", "NAME");
        rc = report(rp_auth_user_list(app->auth, print_user, NULL, &err), &err);
    }
    explicit_bzero(password, sizeof(password));
    rp_app_close(app);
    rp_arena_release(&a);
    return rc;
}

static int cmd_token(struct cli_opts *o)
{
    struct rp_app *app;
    struct rp_arena a;
    struct rp_error err;
    struct rp_user_info u;
    struct rp_buf token;
    int64_t expires = 0;
    char id[40];
    int rc;

    if (o->npositional != 3 || strcmp(o->positional[1], "create") != 0)
        return usage_error(
            "usage: rapport token create USERNAME [--name NAME] [--expires RFC3339]");
    if (o->expires && rp_time_parse_datetime(o->expires, strlen(o->expires), &expires) < 0)
        return usage_error("--expires needs an RFC 3339 timestamp, not '%s'", o->expires);
    if (open_app(o, &app) != 0)
        return 1;
    rp_arena_init(&a);
    rp_error_init(&err, &a);
    rp_buf_init(&token, &a, 256);
    rc = rp_auth_user_get(app->auth, o->positional[2], &u, &err);
    if (rc == 0)
        rc = rp_auth_token_create(app->auth, u.id, o->name ? o->name : "cli", expires, &token, id,
                                  &err);
    if (rc == 0)
        printf("%s\n", token.data); /* shown once: only its hash is stored */
    rc = report(rc, &err);
    rp_app_close(app);
    rp_arena_release(&a);
    return rc;
}

static int cmd_backup(struct cli_opts *o)
{
    struct rp_app *app;
    struct rp_arena a;
    struct rp_error err;
    int rc;

    if (o->npositional != 2)
        return usage_error("usage: rapport backup FILE [--db DATABASE]");
    if (access(o->positional[1], F_OK) == 0) {
        fprintf(stderr, "rapport: %s exists; refusing to overwrite it\n", o->positional[1]);
        return 1;
    }
    if (open_app(o, &app) != 0)
        return 1;
    rp_arena_init(&a);
    rp_error_init(&err, &a);
    rc = rp_store_backup(app->store, o->positional[1], &err);
    if (rc == 0)
        printf("backed up %s to %s\n", o->db ? o->db : DEFAULT_DB, o->positional[1]);
    rc = report(rc, &err);
    rp_app_close(app);
    rp_arena_release(&a);
    return rc;
}

/*
 * restore BACKUP [--db TARGET] [--force]: the backup is checked (integrity, a known schema
 * version) and copied into TARGET, which is then opened as a server would open it (migrations
 * bring an older backup up to date) and checked again. Stop the server on TARGET first.
 */
static int cmd_restore(struct cli_opts *o)
{
    const char *target = o->db ? o->db : DEFAULT_DB;
    struct rp_app *app = NULL;
    struct rp_arena a;
    struct rp_error err;
    int rc, version = 0;

    if (o->npositional != 2)
        return usage_error("usage: rapport restore BACKUP [--db DATABASE] [--force]");
    if (access(o->positional[1], R_OK) != 0) {
        fprintf(stderr, "rapport: cannot read backup %s: %s\n", o->positional[1], strerror(errno));
        return 1;
    }
    rp_arena_init(&a);
    rp_error_init(&err, &a);
    rc = rp_store_restore(o->positional[1], target, o->force, &version, &err);
    if (rc == 0 && open_app(o, &app) != 0)
        rc = rp_error_set(&err, RP_EDB, "the restored database %s does not open", target);
    if (rc == 0)
        rc = rp_store_integrity_check(app->store, &err);
    if (rc == 0)
        printf("restored %s (schema version %d) to %s\n", o->positional[1], version, target);
    rc = report(rc, &err);
    rp_app_close(app);
    rp_arena_release(&a);
    return rc;
}

static bool is_pg_url(const char *s)
{
    return strncmp(s, "postgres://", 11) == 0 || strncmp(s, "postgresql://", 13) == 0;
}

/* The schema step of a copy: the destination's record tables from the copied metadata. */
static int copy_schema(struct rp_store_conn *dst, void *ctx, struct rp_error *err)
{
    struct rp_clock clock;

    (void)ctx;
    rp_clock_init_system(&clock);
    return rp_records_sync_schema_in(dst, rp_clock_now_ms(&clock), err);
}

static void print_copy_report(const struct rp_store_copy_report *rep)
{
    printf("%-32s %10s  %-16s  %s\n", "TABLE", "ROWS", "CHECKSUM", "RESULT");
    for (size_t i = 0; i < rep->ntables; i++) {
        const struct rp_store_copy_table *t = &rep->tables[i];
        if (t->ok) {
            printf("%-32s %10" PRId64 "  %.16s  ok\n", t->name, t->src_rows, t->src_sum);
            continue;
        }
        printf("%-32s %10" PRId64 "  %.16s  MISMATCH: destination has %" PRId64
               " rows, checksum %.16s\n",
               t->name, t->src_rows, t->src_sum, t->dst_rows, t->dst_sum);
    }
}

/*
 * copy --from SQLITE --to POSTGRES [--force]: the whole database in one destination
 * transaction, then counted and checksummed on both sides (rp_store_copy). The source may be
 * served meanwhile: the copy is its state at the start; writes after that are not copied.
 */
static int cmd_copy(struct cli_opts *o)
{
    struct rp_store_copy_options opt = {.force = o->force, .schema = copy_schema};
    struct rp_store_copy_report rep = {0};
    struct rp_store *src = NULL, *dst = NULL;
    const char *path;
    struct rp_arena a;
    struct rp_error err;
    int rc;

    if (o->npositional != 1 || !o->from || !o->to)
        return usage_error("usage: rapport copy --from sqlite:FILE --to postgres://... [--force]");
    if (is_pg_url(o->from))
        return usage_error("--from must be a SQLite database: a copy goes from SQLite to "
                           "PostgreSQL");
    if (strstr(o->from, "://"))
        return usage_error("--from needs sqlite:FILE or a file path, not '%s'", o->from);
    if (!is_pg_url(o->to))
        return usage_error("--to needs a postgres:// or postgresql:// URL (a SQLite source "
                           "goes to PostgreSQL)");
    path = strncmp(o->from, "sqlite:", 7) == 0 ? o->from + 7 : o->from;
    /* opening would create a missing file: a typo must not copy an empty database */
    if (access(path, R_OK) != 0) {
        fprintf(stderr, "rapport: cannot read source database %s: %s\n", path, strerror(errno));
        return 1;
    }
    rp_arena_init(&a);
    rp_error_init(&err, &a);
    rc = rp_store_open(o->from, &(struct rp_store_config){.readers = 1}, &src, &err);
    if (rc == 0) {
        rc = rp_store_open(o->to, &(struct rp_store_config){.readers = 1}, &dst, &err);
        if (rc < 0)
            rp_error_set(&err, rc, "could not open the destination database");
    }
    if (rc == 0)
        rc = rp_store_copy(src, dst, &opt, &rep, &err);
    if (rep.ntables)
        print_copy_report(&rep);
    if (rc == 0)
        printf("copied %" PRId64 " rows in %zu tables from %s to PostgreSQL; every table "
               "verified\n",
               rep.rows, rep.ntables, path);
    rc = report(rc, &err);
    rp_store_copy_report_release(&rep);
    rp_store_close(dst);
    rp_store_close(src);
    rp_arena_release(&a);
    return rc;
}

static int cmd_jobs(struct cli_opts *o)
{
    const char *sub = o->npositional > 1 ? o->positional[1] : "";
    struct rp_app *app;
    struct rp_arena a;
    struct rp_error err;
    struct rp_buf out;
    int rc;

    if (!(strcmp(sub, "list") == 0 && o->npositional == 2) &&
        !((strcmp(sub, "retry") == 0 || strcmp(sub, "cancel") == 0) && o->npositional == 3))
        return usage_error(
            "usage: rapport jobs list [--state STATE] | jobs retry ID | jobs cancel ID");
    if (open_app(o, &app) != 0)
        return 1;
    rp_arena_init(&a);
    rp_error_init(&err, &a);
    rp_buf_init(&out, &a, 16 << 20);
    if (strcmp(sub, "list") == 0) {
        rc = rp_jobs_list(app->store, o->state, 1000, &out, &err);
        if (rc == 0)
            printf("%s\n", out.data);
    } else if (strcmp(sub, "retry") == 0) {
        rc = rp_jobs_retry(app->store, &app->clock, o->positional[2], &err);
        if (rc == 0)
            printf("job %s queued again\n", o->positional[2]);
    } else {
        rc = rp_jobs_cancel(app->store, &app->clock, o->positional[2], &err);
        if (rc == 0)
            printf("job %s cancelled\n", o->positional[2]);
    }
    rc = report(rc, &err);
    rp_app_close(app);
    rp_arena_release(&a);
    return rc;
}

static int cmd_version(struct cli_opts *o)
{
    (void)o;
    printf("rapport %s\n", RP_VERSION);
    return 0;
}

struct command {
    const char *name;
    const char *usage;
    const char *help;
    int (*fn)(struct cli_opts *o);
};

static const struct command commands[] = {
    {"serve",
     "serve [--db DATABASE] [--listen ADDR:PORT] [--demo] [--threads N] [--access-log] [--web DIR]\n"
     "          [--max-connections N] [--max-per-ip N] [--max-inflight N]\n"
     "          [--conn-timeout S] [--header-timeout S] [--body-timeout S]\n"
     "          [--shutdown-timeout S]\n"
     "          [--rate-limit RPS] [--ip-rate-limit RPS] [--rate-burst N] [--nats URL]\n"
     "          [--job-lease S]",
     "serve the CRM over HTTP (creates the database and an admin on first start).\n"
     "DATABASE (every command): a SQLite file (or sqlite:FILE), or a PostgreSQL URL\n"
     "postgres://USER[:PASSWORD]@HOST[:PORT]/DBNAME[?PARAMS] (libpq's connection URI).\n"
     "Limits (defaults): --max-connections 1024, --max-per-ip 256 (more are closed at once),\n"
     "--max-inflight 256 (more requests get 503), --conn-timeout 30 s idle,\n"
     "--header-timeout 20 s per request's headers (and idle keep-alive),\n"
     "--body-timeout 60 s per body, --shutdown-timeout 10 s after SIGTERM/SIGINT,\n"
     "--rate-limit and --ip-rate-limit 0 = off (429 past them), --rate-burst 2 s worth.\n"
     "--nats URL publishes change events to NATS (else the setting bus.nats_url; off).\n"
     "--job-lease 300 s: a job claimed by a process that died runs again after it.",
     cmd_serve},
    {"migrate", "migrate [--db DATABASE]", "create or upgrade the database schema", cmd_migrate},
    {"user", "user add USERNAME [--admin] [--name NAME] | user passwd USERNAME | user list",
     "manage users; passwords are read from standard input", cmd_user},
    {"token", "token create USERNAME [--name NAME] [--expires RFC3339]",
     "create a named API token (printed once)", cmd_token},
    {"backup", "backup FILE [--db DATABASE]",
     "write a consistent online copy of a SQLite database (PostgreSQL: use pg_dump)", cmd_backup},
    {"restore", "restore BACKUP [--db FILE] [--force]",
     "check a SQLite backup (integrity, schema version) and copy it into the database; a\n"
     "            database that is not empty is replaced only with --force (stop its server first)",
     cmd_restore},
    {"copy", "copy --from sqlite:FILE --to postgres://USER@HOST/DBNAME [--force]",
     "move an installation from SQLite to PostgreSQL: the destination is migrated, the source\n"
     "            read in one snapshot (a server may keep running; later writes are not copied:\n"
     "            stop it, or make it read-only, for the final copy) and every table written in\n"
     "            one transaction, then counted and checksummed on both sides (exit 0 only when\n"
     "            all match). A destination holding data is refused unless --force empties it.",
     cmd_copy},
    {"jobs", "jobs list [--state STATE] | jobs retry ID | jobs cancel ID",
     "list durable jobs (JSON; STATE: queued, running, done, dead, cancelled), revive a dead or\n"
     "            cancelled one, or cancel a queued one",
     cmd_jobs},
    {"version", "version", "print the version", cmd_version},
};

static void print_help(FILE *f, const struct command *only)
{
    if (only) {
        fprintf(f, "usage: rapport %s\n\n%s\n", only->usage, only->help);
        return;
    }
    fprintf(f, "usage: rapport COMMAND [OPTIONS]\n\nRapport %s, a CRM server.\n\ncommands:\n",
            RP_VERSION);
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(f, "  %-9s %s\n            %s\n", commands[i].name, commands[i].help,
                commands[i].usage);
    fprintf(f, "\nThe default database is %s. 'rapport COMMAND --help' shows one command.\n",
            DEFAULT_DB);
}

int rp_cli_main(int argc, char **argv)
{
    struct cli_opts o = {.access_log = true};
    const struct command *cmd = NULL;
    bool help = false;
    int rc;

    rp_log_init_from_env();
    if (argc < 2) {
        print_help(stderr, NULL);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        print_help(stdout, NULL);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0)
        return cmd_version(&o);
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            cmd = &commands[i];
    if (!cmd)
        return usage_error("unknown command '%s'", argv[1]);
    o.positional[o.npositional++] = argv[1];
    rc = parse_opts(argc - 2, argv + 2, &o, &help);
    if (rc != 0)
        return rc;
    if (help) {
        print_help(stdout, cmd);
        return 0;
    }
    return cmd->fn(&o);
}
