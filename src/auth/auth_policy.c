/*
 * The policy engine: the one place that decides what a principal may do.
 *
 * For now the rules are coarse: the internal "system" principal and admins
 * may do everything, every other signed-in user may work with records of any
 * object but not manage metadata or users, and nobody unauthenticated may do
 * anything. Write paths ask rp_policy_check; read paths splice the condition
 * from rp_policy_read_sql into their WHERE clause, so record-level rules
 * (issue #3) will land here without touching any caller.
 */
#include "auth/auth.h"
#include "auth/auth_int.h"

#include <string.h>

#define SYSTEM_USER_ID "system"

static const char *action_name(enum rp_policy_action action)
{
    switch (action) {
    case RP_ACT_READ:
        return "read";
    case RP_ACT_CREATE:
        return "create";
    case RP_ACT_EDIT:
        return "edit";
    case RP_ACT_DELETE:
        return "delete";
    case RP_ACT_EXPORT:
        return "export";
    case RP_ACT_MANAGE_METADATA:
        return "manage_metadata";
    case RP_ACT_MANAGE_USERS:
        return "manage_users";
    case RP_ACT_VIEW_CHANGES:
        return "view_changes";
    }
    return "unknown";
}

static bool is_system(const struct rp_principal *p)
{
    return strcmp(p->user_id, SYSTEM_USER_ID) == 0;
}

int rp_policy_check(const struct rp_principal *p, const char *object, enum rp_policy_action action,
                    struct rp_error *err)
{
    struct rp_error local;

    (void)object;
    err = rp_auth_err_or(err, &local);
    if (!p || !p->user_id)
        return rp_error_set(err, RP_EUNAUTH, "authentication required");
    if (is_system(p) || p->is_admin)
        return 0;
    switch (action) {
    case RP_ACT_READ:
    case RP_ACT_CREATE:
    case RP_ACT_EDIT:
    case RP_ACT_DELETE:
    case RP_ACT_EXPORT:
    case RP_ACT_VIEW_CHANGES:
        /*
         * TODO(#3): object-level permissions from roles and permission sets
         * (read/create/edit/delete/export per object) decide these; until
         * then every user may work with every object.
         */
        return 0;
    case RP_ACT_MANAGE_METADATA:
    case RP_ACT_MANAGE_USERS:
        break;
    }
    /* Unknown actions fall through to a refusal: deny by default. */
    return rp_error_set(err, RP_EFORBIDDEN, "permission \"%s\" is required", action_name(action));
}

void rp_policy_read_sql(const struct rp_principal *p, const char *object, const char *alias,
                        struct rp_sql *q)
{
    (void)object;
    (void)alias;
    if (!p || !p->user_id) {
        rp_sql_add(q, "(1 = 0)");
        return;
    }
    /*
     * TODO(#3): compile org-wide defaults, record ownership, the role
     * hierarchy, teams and sharing rules for object into this condition
     * (over columns of alias, values as parameters). Until then every
     * signed-in principal sees every row.
     */
    rp_sql_add(q, "(1 = 1)");
}
