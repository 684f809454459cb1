/*
 * The quote PDF (sales.h, rp_sales_quote_pdf), drawn with libharu (libhpdf).
 *
 * All text is set in SimSun, one of libharu's built-in Chinese CID fonts, with the GBK-EUC-H
 * encoding: GBK holds ASCII as single bytes and simplified Chinese as two, so one font serves
 * both languages; text is converted from UTF-8 with iconv, and a character GBK lacks prints as
 * '?'. The built-in CID fonts are referenced, not embedded (viewers substitute an Adobe-GB1
 * font).
 *
 * The bytes must depend only on the quote's data, since signing hashes the exact document:
 * nothing reads the clock, the document dates are the quote's updated_at, libharu writes no
 * document ID without encryption, and compression (zlib) is deterministic.
 */
#include "sales/sales_int.h"

#include "base/arena.h"
#include "base/sql.h"
#include "base/time.h"

#include <errno.h>
#include <hpdf.h>
#include <iconv.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGE_W     595.0f /* A4 in points */
#define PAGE_H     842.0f
#define MARGIN     50.0f
#define BOTTOM     90.0f /* a new page below this */
#define LINES_MAX  500
#define TEXT_MAX   32000 /* bytes of one text value drawn */
#define ITEM_WIDTH 200.0f

/* Column right edges of the lines table. */
#define COL_NO    62.0f
#define COL_ITEM  70.0f
#define COL_QTY   330.0f
#define COL_PRICE 415.0f
#define COL_DISC  470.0f
#define COL_TOTAL 545.0f

struct quote_doc {
    const char *number, *name, *status, *currency, *terms, *account, *contact_first, *contact_last;
    struct rp_value valid_until, subtotal, discount_pct, discount_amount, tax_pct, tax_amount,
        total, updated_at;
    bool found;
};

struct quote_line_doc {
    const char *item, *sku;
    struct rp_value quantity, unit_price, discount, line_total;
};

struct render {
    HPDF_Doc pdf;
    HPDF_Page page;
    HPDF_Font font, bold;
    iconv_t cd;
    struct rp_arena *arena;
    float y;
    int page_no;
    HPDF_STATUS error; /* the first libharu error */
    int64_t step;      /* the currency's minor unit in money units */
};

/* ---- reading ---- */

static const char *text_of(struct rp_arena *a, const struct rp_value *v)
{
    return v->type == RP_V_TEXT ? rp_arena_strndup(a, v->u.s.p, v->u.s.len) : NULL;
}

struct read_ctx {
    struct rp_arena *arena;
    struct quote_doc *q;
    struct quote_line_doc *lines;
    size_t n;
};

static int quote_row(void *ctx, const struct rp_value *c, size_t n)
{
    struct read_ctx *x = ctx;
    struct quote_doc *q = x->q;

    if (n < 17)
        return 1;
    q->number = text_of(x->arena, &c[0]);
    q->name = text_of(x->arena, &c[1]);
    q->status = text_of(x->arena, &c[2]);
    q->valid_until = c[3];
    q->currency = text_of(x->arena, &c[4]);
    q->subtotal = c[5];
    q->discount_pct = c[6];
    q->discount_amount = c[7];
    q->tax_pct = c[8];
    q->tax_amount = c[9];
    q->total = c[10];
    q->terms = text_of(x->arena, &c[11]);
    q->updated_at = c[12];
    q->account = text_of(x->arena, &c[13]);
    q->contact_first = text_of(x->arena, &c[14]);
    q->contact_last = text_of(x->arena, &c[15]);
    q->found = c[16].type == RP_V_NULL;
    return 1;
}

static int line_row(void *ctx, const struct rp_value *c, size_t n)
{
    struct read_ctx *x = ctx;
    struct quote_line_doc *l;

    if (n < 6 || x->n == LINES_MAX)
        return 0;
    l = &x->lines[x->n++];
    l->item = text_of(x->arena, &c[0]);
    l->sku = text_of(x->arena, &c[1]);
    l->quantity = c[2];
    l->unit_price = c[3];
    l->discount = c[4];
    l->line_total = c[5];
    return 0;
}

static int read_quote_doc(struct rp_store_conn *c, const char *id, struct rp_arena *a,
                          struct read_ctx *x, struct rp_error *err)
{
    struct rp_sql q;
    int rc;

    rp_sql_init(&q, a, rp_store_conn_dialect(c));
    rp_sql_add(
        &q, "SELECT q.\"quote_number\", q.\"name\", q.\"status\", q.\"valid_until\","
            " q.\"currency\", q.\"subtotal\", q.\"discount_percent\", q.\"discount_amount\","
            " q.\"tax_percent\", q.\"tax_amount\", q.\"total\", q.\"terms\", q.\"updated_at\","
            " (SELECT a.\"name\" FROM \"account\" AS a WHERE a.\"id\" = q.\"account_id\"),"
            " (SELECT ct.\"first_name\" FROM \"contact\" AS ct WHERE ct.\"id\" = q.\"contact_id\"),"
            " (SELECT ct.\"last_name\" FROM \"contact\" AS ct WHERE ct.\"id\" = q.\"contact_id\"),"
            " q.\"deleted_at\" FROM \"quote\" AS q WHERE q.\"id\" = ");
    rp_sql_param(&q, rp_value_cstr(id));
    if ((rc = rp_store_query(c, &q, quote_row, x, err)) < 0)
        return rc;
    if (!x->q->found)
        return rp_error_set(err, RP_ENOTFOUND, "quote \"%s\" not found", id);
    rp_sql_init(&q, a, rp_store_conn_dialect(c));
    rp_sql_add(&q, "SELECT COALESCE(p.\"name\", l.\"description\", ''), p.\"sku\", l.\"quantity\","
                   " l.\"unit_price\", l.\"discount_percent\", l.\"line_total\" FROM \"quote_line\""
                   " AS l LEFT JOIN \"product\" AS p ON p.\"id\" = l.\"product_id\" WHERE"
                   " l.\"deleted_at\" IS NULL AND l.\"quote_id\" = ");
    rp_sql_param(&q, rp_value_cstr(id));
    rp_sql_addf(&q,
                " ORDER BY COALESCE(l.\"sort_order\", 0), l.\"created_at\", l.\"rowid\" LIMIT %d",
                LINES_MAX);
    return rp_store_query(c, &q, line_row, x, err);
}

/* ---- formatting ---- */

/* UTF-8 to GBK; a character GBK lacks (or bad UTF-8) becomes '?', control characters spaces. */
static const char *gbk(struct render *r, const char *s)
{
    size_t in_left, out_left, cap;
    char *out, *o, *in;

    if (!s)
        return "";
    in_left = strnlen(s, TEXT_MAX);
    cap = in_left * 2 + 1;
    out = rp_arena_alloc(r->arena, cap);
    o = out;
    out_left = cap - 1;
    in = (char *)s;
    iconv(r->cd, NULL, NULL, NULL, NULL);
    while (in_left > 0) {
        if (iconv(r->cd, &in, &in_left, &o, &out_left) != (size_t)-1)
            break;
        if (errno == E2BIG || out_left == 0)
            break;
        /* skip one UTF-8 sequence (or one stray byte) */
        {
            unsigned char b = (unsigned char)*in;
            size_t len = b < 0xC0 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
            if (len > in_left)
                len = in_left;
            in += len;
            in_left -= len;
            *o++ = '?';
            out_left--;
        }
    }
    *o = '\0';
    for (char *p = out; *p; p++)
        if ((unsigned char)*p < 0x20)
            *p = ' ';
    return out;
}

/* 1234567.5 → "1,234,567.50": at least the currency's decimals, at most 4, exact. */
static const char *money_text(struct render *r, const struct rp_value *v)
{
    static const int64_t pow10[] = {1, 10, 100, 1000, 10000};
    int64_t u, whole, frac;
    int decimals = r->step == RP_MONEY_SCALE ? 0 : 2;
    char digits[32], grouped[48], fr[8];
    size_t n, k = 0;
    bool neg;

    if (v->type != RP_V_MONEY && v->type != RP_V_INT)
        return "";
    u = v->u.i;
    neg = u < 0;
    if (neg)
        u = -u;
    whole = u / RP_MONEY_SCALE;
    frac = u % RP_MONEY_SCALE;
    /* more decimals only for a value that has them (unit prices may carry 4) */
    while (decimals < 4 && frac % pow10[4 - decimals] != 0)
        decimals++;
    n = (size_t)snprintf(digits, sizeof(digits), "%lld", (long long)whole);
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && (n - i) % 3 == 0)
            grouped[k++] = ',';
        grouped[k++] = digits[i];
    }
    grouped[k] = '\0';
    if (decimals == 0)
        return rp_arena_sprintf(r->arena, "%s%s", neg ? "-" : "", grouped);
    snprintf(fr, sizeof(fr), "%04lld", (long long)frac);
    fr[decimals] = '\0';
    return rp_arena_sprintf(r->arena, "%s%s.%s", neg ? "-" : "", grouped, fr);
}

/* A number or percent as written (at most 4 decimals, no trailing zeros). */
static const char *number_text(struct render *r, const struct rp_value *v)
{
    int64_t f;
    struct rp_value m;
    const char *s;

    if (v->type != RP_V_NUM)
        return "";
    f = (int64_t)llround(v->u.d * 10000.0);
    m = rp_value_typed_int(RP_V_MONEY, f);
    {
        int64_t step = r->step;
        r->step = RP_MONEY_SCALE; /* no forced decimals */
        s = money_text(r, &m);
        r->step = step;
    }
    return s;
}

static const char *date_text(struct render *r, const struct rp_value *v)
{
    struct rp_buf b;

    if (v->type != RP_V_DATE && v->type != RP_V_INT)
        return "";
    rp_buf_init(&b, r->arena, 32);
    rp_time_format_date(&b, v->u.i);
    return b.data;
}

static const char *status_label(const char *status)
{
    static const char *const labels[][2] = {
        {"draft", "草稿 Draft"},         {"pending_approval", "待审批 Pending approval"},
        {"approved", "已审批 Approved"}, {"sent", "已发送 Sent"},
        {"signed", "已签署 Signed"},     {"rejected", "已拒绝 Rejected"},
        {"expired", "已过期 Expired"}};
    for (size_t i = 0; status && i < sizeof(labels) / sizeof(labels[0]); i++)
        if (strcmp(labels[i][0], status) == 0)
            return labels[i][1];
    return status ? status : "";
}

/* ---- drawing ---- */

static void on_error(HPDF_STATUS error_no, HPDF_STATUS detail_no, void *user_data)
{
    struct render *r = user_data;
    (void)detail_no;
    if (!r->error)
        r->error = error_no;
}

static void new_page(struct render *r)
{
    r->page = HPDF_AddPage(r->pdf);
    HPDF_Page_SetSize(r->page, HPDF_PAGE_SIZE_A4, HPDF_PAGE_PORTRAIT);
    r->page_no++;
    r->y = PAGE_H - MARGIN;
}

/* Draws GBK text s at x (align: 'l' left edge, 'r' right edge at x). */
static void draw(struct render *r, HPDF_Font font, float size, float x, float y, char align,
                 const char *s)
{
    if (!r->page || !s || !*s)
        return;
    HPDF_Page_BeginText(r->page);
    HPDF_Page_SetFontAndSize(r->page, font, size);
    if (align == 'r')
        x -= HPDF_Page_TextWidth(r->page, s);
    HPDF_Page_TextOut(r->page, x, y, s);
    HPDF_Page_EndText(r->page);
}

/* The GBK prefix of s that fits width at size (whole characters). */
static const char *fit(struct render *r, float size, float width, const char *s)
{
    HPDF_UINT n;

    HPDF_Page_SetFontAndSize(r->page, r->font, size);
    n = HPDF_Page_MeasureText(r->page, s, width, HPDF_FALSE, NULL);
    return rp_arena_strndup(r->arena, s, n);
}

/* As fit, for a line of wrapped text: broken at a space or a Chinese character when one fits,
   so English words stay whole. */
static const char *fit_words(struct render *r, float size, float width, const char *s)
{
    HPDF_UINT n;

    HPDF_Page_SetFontAndSize(r->page, r->font, size);
    n = HPDF_Page_MeasureText(r->page, s, width, HPDF_TRUE, NULL);
    if (n == 0)
        n = HPDF_Page_MeasureText(r->page, s, width, HPDF_FALSE, NULL);
    return rp_arena_strndup(r->arena, s, n);
}

static void rule(struct render *r, float y, float width)
{
    HPDF_Page_SetLineWidth(r->page, width);
    HPDF_Page_MoveTo(r->page, MARGIN, y);
    HPDF_Page_LineTo(r->page, PAGE_W - MARGIN, y);
    HPDF_Page_Stroke(r->page);
}

static void need(struct render *r, float height)
{
    if (r->y - height < BOTTOM)
        new_page(r);
}

static void label_value(struct render *r, float x, const char *label, const char *value)
{
    draw(r, r->bold, 9, x, r->y, 'l', gbk(r, label));
    draw(r, r->font, 10, x + 95, r->y, 'l', fit(r, 10, 150, gbk(r, value)));
}

static void table_head(struct render *r)
{
    need(r, 40);
    draw(r, r->bold, 9, COL_NO, r->y, 'r', "#");
    draw(r, r->bold, 9, COL_ITEM, r->y, 'l', gbk(r, "产品 Item"));
    draw(r, r->bold, 9, COL_QTY, r->y, 'r', gbk(r, "数量 Qty"));
    draw(r, r->bold, 9, COL_PRICE, r->y, 'r', gbk(r, "单价 Unit price"));
    draw(r, r->bold, 9, COL_DISC, r->y, 'r', gbk(r, "折扣 Disc."));
    draw(r, r->bold, 9, COL_TOTAL, r->y, 'r', gbk(r, "金额 Amount"));
    rule(r, r->y - 5, 0.5f);
    r->y -= 20;
}

static void total_row(struct render *r, const char *label, const char *value, bool strong)
{
    need(r, 18);
    draw(r, strong ? r->bold : r->font, strong ? 11 : 10, COL_DISC, r->y, 'r', gbk(r, label));
    draw(r, strong ? r->bold : r->font, strong ? 11 : 10, COL_TOTAL, r->y, 'r', value);
    r->y -= strong ? 20 : 16;
}

static void terms(struct render *r, const char *text)
{
    const char *s = gbk(r, text);

    need(r, 40);
    r->y -= 10;
    draw(r, r->bold, 10, MARGIN, r->y, 'l', gbk(r, "条款与条件 Terms and conditions"));
    r->y -= 16;
    /* paragraph by paragraph, each wrapped to the text width */
    while (*s) {
        const char *nl = strchr(s, '\n');
        size_t len = nl ? (size_t)(nl - s) : strlen(s);
        const char *para = rp_arena_strndup(r->arena, s, len);
        do {
            const char *part = fit_words(r, 9, PAGE_W - 2 * MARGIN, para);
            size_t n = strlen(part);
            need(r, 14);
            draw(r, r->font, 9, MARGIN, r->y, 'l', part);
            r->y -= 13;
            if (n == 0)
                break; /* a character wider than the page: give up on the paragraph */
            para += n;
        } while (*para);
        s += nl ? len + 1 : len;
    }
}

static HPDF_Date pdf_date(int64_t ms)
{
    HPDF_Date d = {0};
    int64_t y, secs = ms >= 0 ? ms / 1000 : 0;
    unsigned mo, day;

    rp_time_civil_from_days(secs / 86400, &y, &mo, &day);
    d.year = (HPDF_INT)y;
    d.month = (HPDF_INT)mo;
    d.day = (HPDF_INT)day;
    d.hour = (HPDF_INT)(secs % 86400 / 3600);
    d.minutes = (HPDF_INT)(secs % 3600 / 60);
    d.seconds = (HPDF_INT)(secs % 60);
    d.ind = 'Z';
    return d;
}

/* Only ASCII in the document information (PDFDocEncoding). */
static const char *ascii(struct rp_arena *a, const char *s)
{
    char *out = rp_arena_strdup(a, s ? s : "");
    for (char *p = out; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7E)
            *p = '?';
    return out;
}

/* "cny" → "CNY" (ISO 4217 letters; the catalogue's values are lower case). */
static const char *currency_code(struct rp_arena *a, const char *currency)
{
    char *out = rp_arena_strdup(a, ascii(a, currency ? currency : "cny"));
    for (char *p = out; *p; p++)
        if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 'a' + 'A');
    return out;
}

static void render_doc(struct render *r, const struct quote_doc *q,
                       const struct quote_line_doc *lines, size_t n)
{
    const char *contact = NULL;
    char label[64];

    HPDF_SetCompressionMode(r->pdf, HPDF_COMP_ALL);
    HPDF_UseCNSFonts(r->pdf);
    HPDF_UseCNSEncodings(r->pdf);
    r->font = HPDF_GetFont(r->pdf, "SimSun", "GBK-EUC-H");
    r->bold = HPDF_GetFont(r->pdf, "SimHei", "GBK-EUC-H");
    HPDF_SetInfoAttr(r->pdf, HPDF_INFO_TITLE,
                     rp_arena_sprintf(r->arena, "Quote %s", ascii(r->arena, q->number)));
    HPDF_SetInfoAttr(r->pdf, HPDF_INFO_CREATOR, "Rapport");
    if (q->updated_at.type == RP_V_INT || q->updated_at.type == RP_V_DATETIME) {
        HPDF_SetInfoDateAttr(r->pdf, HPDF_INFO_CREATION_DATE, pdf_date(q->updated_at.u.i));
        HPDF_SetInfoDateAttr(r->pdf, HPDF_INFO_MOD_DATE, pdf_date(q->updated_at.u.i));
    }
    if (r->error || !r->font || !r->bold)
        return;
    new_page(r);

    /* header */
    draw(r, r->bold, 20, MARGIN, r->y - 10, 'l', gbk(r, "报价单 Quotation"));
    draw(r, r->bold, 12, PAGE_W - MARGIN, r->y - 10, 'r', gbk(r, q->number));
    r->y -= 30;
    draw(r, r->font, 12, MARGIN, r->y, 'l', fit(r, 12, PAGE_W - 2 * MARGIN, gbk(r, q->name)));
    r->y -= 8;
    rule(r, r->y, 1.0f);
    r->y -= 20;
    if (q->contact_first || q->contact_last) {
        bool western = true;
        for (const char *p = q->contact_last ? q->contact_last : ""; *p; p++)
            western = western && (unsigned char)*p < 0x80;
        contact =
            western ? rp_arena_sprintf(r->arena, "%s%s%s", q->contact_first ? q->contact_first : "",
                                       q->contact_first ? " " : "",
                                       q->contact_last ? q->contact_last : "")
                    : rp_arena_sprintf(r->arena, "%s%s", q->contact_last ? q->contact_last : "",
                                       q->contact_first ? q->contact_first : "");
    }
    label_value(r, MARGIN, "客户 Account", q->account);
    label_value(r, 300, "报价单编号 Quote no.", q->number);
    r->y -= 16;
    label_value(r, MARGIN, "联系人 Contact", contact);
    label_value(r, 300, "有效期至 Valid until", date_text(r, &q->valid_until));
    r->y -= 16;
    label_value(r, MARGIN, "币种 Currency", currency_code(r->arena, q->currency));
    label_value(r, 300, "状态 Status", status_label(q->status));
    r->y -= 30;

    /* lines */
    table_head(r);
    for (size_t i = 0; i < n; i++) {
        const struct quote_line_doc *l = &lines[i];
        const char *item = l->sku && *l->sku ? rp_arena_sprintf(r->arena, "%s (%s)",
                                                                l->item ? l->item : "", l->sku)
                                             : l->item;
        if (r->y - 16 < BOTTOM) {
            new_page(r);
            table_head(r);
        }
        snprintf(label, sizeof(label), "%zu", i + 1);
        draw(r, r->font, 9, COL_NO, r->y, 'r', label);
        draw(r, r->font, 9, COL_ITEM, r->y, 'l', fit(r, 9, ITEM_WIDTH, gbk(r, item)));
        draw(r, r->font, 9, COL_QTY, r->y, 'r', number_text(r, &l->quantity));
        draw(r, r->font, 9, COL_PRICE, r->y, 'r', money_text(r, &l->unit_price));
        if (l->discount.type == RP_V_NUM && l->discount.u.d != 0)
            draw(r, r->font, 9, COL_DISC, r->y, 'r',
                 rp_arena_sprintf(r->arena, "%s%%", number_text(r, &l->discount)));
        draw(r, r->font, 9, COL_TOTAL, r->y, 'r', money_text(r, &l->line_total));
        r->y -= 16;
    }
    need(r, 20);
    rule(r, r->y + 8, 0.5f);
    r->y -= 10;

    /* totals */
    total_row(r, "小计 Subtotal", money_text(r, &q->subtotal), false);
    if (q->discount_pct.type == RP_V_NUM && q->discount_pct.u.d != 0)
        total_row(
            r, rp_arena_sprintf(r->arena, "折扣 Discount (%s%%)", number_text(r, &q->discount_pct)),
            rp_arena_sprintf(r->arena, "-%s", money_text(r, &q->discount_amount)), false);
    if (q->tax_pct.type == RP_V_NUM)
        total_row(r, rp_arena_sprintf(r->arena, "税额 Tax (%s%%)", number_text(r, &q->tax_pct)),
                  money_text(r, &q->tax_amount), false);
    total_row(r,
              rp_arena_sprintf(r->arena, "总计 Total (%s)", currency_code(r->arena, q->currency)),
              money_text(r, &q->total), true);
    if (q->terms && *q->terms)
        terms(r, q->terms);
}

int rp_sales_quote_pdf(struct rp_sales *s, const struct rp_principal *p, const char *id,
                       struct rp_arena *arena, struct rp_buf *out, struct rp_error *err)
{
    struct quote_doc q = {0};
    struct read_ctx x = {.arena = arena, .q = &q};
    struct render r = {.arena = arena, .cd = (iconv_t)-1};
    struct rp_store_conn *c;
    struct rp_buf probe;
    int64_t version;
    int rc;

    /* the caller must be able to read the quote (404 like a missing one otherwise) */
    rp_buf_init(&probe, arena, 1 << 20);
    if ((rc = rp_records_get(s->records, p, "quote", id, "id", arena, &probe, &version, err)) < 0)
        return rc;
    x.lines = rp_arena_alloc(arena, sizeof(*x.lines) * LINES_MAX);
    c = rp_store_reader_acquire(s->store);
    rc = read_quote_doc(c, id, arena, &x, err);
    rp_store_reader_release(s->store, c);
    if (rc < 0)
        return rc;

    r.step = rp_sales_money_step(q.currency);
    if ((r.cd = iconv_open("GBK", "UTF-8")) == (iconv_t)-1)
        return rp_error_set(err, RP_EINTERNAL, "could not convert text to GBK");
    if (!(r.pdf = HPDF_New(on_error, &r))) {
        iconv_close(r.cd);
        return rp_error_set(err, RP_EINTERNAL, "could not start a PDF document");
    }
    render_doc(&r, &q, x.lines, x.n);
    if (!r.error && HPDF_SaveToStream(r.pdf) == HPDF_OK) {
        HPDF_UINT32 size = HPDF_GetStreamSize(r.pdf);
        unsigned char chunk[8192];
        if (size > out->max - out->len) {
            rc = rp_error_set(err, RP_ETOOBIG, "the quote's PDF is too large");
        } else {
            for (;;) {
                HPDF_UINT32 len = sizeof(chunk);
                HPDF_STATUS st = HPDF_ReadFromStream(r.pdf, chunk, &len);
                rp_buf_add(out, chunk, len);
                if (st != HPDF_OK)
                    break;
            }
            rc = rp_buf_error(out);
        }
    }
    if (r.error && rc == 0)
        rc = rp_error_set(err, RP_EINTERNAL,
                          "could not render the quote's PDF (libharu error 0x%04X)",
                          (unsigned)r.error);
    HPDF_Free(r.pdf);
    iconv_close(r.cd);
    return rc;
}
