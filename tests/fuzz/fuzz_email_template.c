/*
 * libFuzzer target: e-mail templates. The first byte chooses what the rest is: a whole
 * template definition as JSON, or the subject, text or HTML part of a fixed contact template.
 * The template is checked against the metadata ({{ }} variables parsed as expressions) and,
 * when valid, rendered on a contact with click tracking on (rp_email_template_preview), as a
 * send would, without queueing anything. Nothing may crash, leak or trip a sanitizer.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "base/limits.h"
#include "base/log.h"
#include "test_app.h"

static struct rp_test_app app;
static char contact_id[40];

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char account[40], body[256];

    (void)argc;
    (void)argv;
    rp_log_set_level(RP_LOG_OFF);
    rp_test_app_open(&app);
    rp_test_create(&app, "account", "{\"name\":\"Acme & <Sons>\"}", account);
    snprintf(body, sizeof(body),
             "{\"first_name\":\"浩然\",\"last_name\":\"O'Brien <b>\",\"email\":\"h@example.com\","
             "\"account_id\":\"%s\",\"title\":\"a \\\"title\\\" & more\"}",
             account);
    rp_test_create(&app, "contact", body, contact_id);
    if (rp_test_request(&app, "PUT", "/api/v1/admin/settings/email.tracking_base_url",
                        "{\"value\":\"https://crm.example.com/\"}", NULL) != 200)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const parts[] = {"subject", "text", "html"};
    struct rp_arena a;
    struct rp_error err;
    struct rp_buf out;
    json_t *def = NULL;

    if (size == 0 || size > 64 * 1024)
        return 0;
    rp_arena_init(&a);
    rp_error_init(&err, &a);
    if (data[0] % 4 == 0) {
        def = rp_json_parse((const char *)data + 1, size - 1, RP_LIMIT_BODY_BYTES, &err);
    } else {
        def = json_pack("{s:s, s:s, s:s}", "object", "contact", "subject", "Hello {{first_name}}",
                        "text", "{{ last_name }} at {{account.name}}\n{{unsubscribe_url}}");
        json_object_set_new(def, parts[data[0] % 4 - 1],
                            json_stringn((const char *)data + 1, size - 1));
    }
    rp_buf_init(&out, &a, 1 << 22);
    if (def)
        rp_email_template_preview(app.app->automation, def, contact_id, &a, &out, &err);
    json_decref(def);
    rp_arena_release(&a);
    return 0;
}
