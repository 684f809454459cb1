/*
 * Engagement counters (sales.h): a touchpoint of type sent, opened or clicked counts on its
 * lead and contact (email_sends, email_opens, email_clicks; email_ctr is their formula), in the
 * touchpoint's transaction, so rules can act on a click-through rate.
 */
#include "sales/sales_int.h"
#include "base/json.h"

#include "base/arena.h"

#include <string.h>

static const struct {
    const char *type, *field;
} counted[] = {
    {"sent", "email_sends"},
    {"opened", "email_opens"},
    {"clicked", "email_clicks"},
};

static const char *text_of(const struct rp_write_event *ev, const char *field,
                           struct rp_arena *arena)
{
    const struct rp_field *f = rp_meta_field(ev->object, field);
    const struct rp_value *v = f && ev->changed[f->index] ? &ev->values[f->index] : NULL;
    return v && v->type == RP_V_TEXT ? rp_arena_strndup(arena, v->u.s.p, v->u.s.len) : NULL;
}

/* Adds one to counter on the record (a lead or a contact) as internal work. */
static int count_on(const struct rp_write_event *ev, const char *object, const char *id,
                    const char *counter, struct rp_error *err)
{
    struct rp_principal internal = *ev->principal;
    struct rp_buf b;
    json_t *rec, *data;
    struct rp_error sub;
    struct rp_write w = {.op = RP_WRITE_UPDATE, .id = id, .if_match = -1};
    struct rp_write_request wr = {.principal = &internal,
                                  .object = object,
                                  .writes = &w,
                                  .nwrites = 1,
                                  .request_id = ev->request_id,
                                  .cause = ev->cause,
                                  .arena = ev->arena,
                                  .err = &sub};
    int rc;

    internal.is_admin = true;
    if (!rp_meta_field(rp_meta_object(ev->meta, object), counter))
        return 0;
    rp_error_init(&sub, ev->arena);
    rp_buf_init(&b, ev->arena, 1 << 20);
    rc = rp_records_read_in(ev->rs, ev->c, &internal, object, id, true, ev->arena, &b, &sub);
    if (rc == RP_ENOTFOUND)
        return 0; /* a deleted lead or contact keeps its counts */
    if (rc < 0) {
        rp_error_copy(err, &sub);
        return rc;
    }
    rec = rp_json_loadb(b.data, b.len, 0, NULL);
    data = json_pack("{sI}", counter,
                     (json_int_t)json_number_value(json_object_get(rec, counter)) + 1);
    json_decref(rec);
    w.data = data;
    rc = rp_records_write_in(ev->rs, ev->c, &wr);
    json_decref(data);
    if (rc < 0)
        rp_error_copy(err, &sub);
    return rc;
}

static int count_touchpoint(void *ctx, const struct rp_write_event *ev, struct rp_error *err)
{
    const char *type, *lead, *contact;
    size_t i;
    int rc = 0;

    (void)ctx;
    if (ev->op != RP_WRITE_CREATE || !(type = text_of(ev, "type", ev->arena)))
        return 0;
    for (i = 0; i < sizeof(counted) / sizeof(counted[0]); i++)
        if (strcmp(counted[i].type, type) == 0)
            break;
    if (i == sizeof(counted) / sizeof(counted[0]))
        return 0;
    lead = text_of(ev, "lead_id", ev->arena);
    contact = text_of(ev, "contact_id", ev->arena);
    if (lead)
        rc = count_on(ev, "lead", lead, counted[i].field, err);
    if (rc == 0 && contact)
        rc = count_on(ev, "contact", contact, counted[i].field, err);
    return rc;
}

void rp_sales_engagement_register(struct rp_sales *s)
{
    rp_records_hook_add(s->records,
                        &(struct rp_write_hook){.object = "touchpoint", .fn = count_touchpoint});
}
