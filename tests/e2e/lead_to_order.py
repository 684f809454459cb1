"""One lead from web form to invoice request, through the HTTP API of a running server.

usage: python3 lead_to_order.py BASE_URL ADMIN_TOKEN

Configuration first (a capture form, a scoring model, the routing playbook's rule and queue, a
pipeline with a stage gate, an approval band, the shipment rule), then the walk: the form
submission creates and scores the lead, the rule makes it an MQL and routes it, conversion,
stage moves (one refused by the gate), a priced quote, approval, e-signature (contract, order,
won opportunity), shipment events, the invoice request. At each step the records, the events
of the change feed, the audit log and at the end the KPIs are checked.
"""
import hashlib
import json
import sys
import time
import urllib.error
import urllib.request

BASE, TOKEN = sys.argv[1], sys.argv[2]


def call(method, path, body=None, expect=200, token=TOKEN, raw=False, form=None):
    data, headers = None, {}
    if token:
        headers["Authorization"] = "Bearer " + token
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if form is not None:
        data = form.encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    req = urllib.request.Request(BASE + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            status, payload = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, payload = e.code, e.read()
    if status != expect:
        raise SystemExit(f"{method} {path}: {status}, expected {expect}: {payload[:600]!r}")
    if raw:
        return payload
    return json.loads(payload) if payload else None


def wait_for(what, fn, seconds=20):
    deadline = time.time() + seconds
    while True:
        value = fn()
        if value:
            return value
        if time.time() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.2)


def record(obj, rid):
    return call("GET", f"/api/v1/records/{obj}/{rid}")


def only(obj, field, value):
    rows = call("GET", f"/api/v1/records/{obj}?filter={field}%20%3D%20%27{value}%27")["data"]
    if len(rows) != 1:
        raise SystemExit(f"expected one {obj} with {field} = {value}, found {len(rows)}")
    return rows[0]


def events():
    return call("GET", "/api/v1/changes?objects=event&limit=1000")["data"]


def check(cond, message):
    if not cond:
        raise SystemExit("check failed: " + message)


# ---- configuration: data, not code ----
me = call("GET", "/api/v1/auth/me")
sdr = call("POST", "/api/v1/admin/users", {"username": "sdr", "password": "sdr-password-123",
                                            "display_name": "SDR"}, expect=201)
campaign = call("POST", "/api/v1/records/campaign", {"name": "Website", "type": "content"},
                expect=201)
call("PUT", "/api/v1/definitions/capture-forms/website", {
    "fields": ["first_name", "last_name", "email", "company", "title", "phone"],
    "required": ["last_name", "email"], "values": {"source": "web"},
    "campaign_id": campaign["id"], "honeypot": "website_url",
    "consent": {"field": "newsletter", "channel": "email", "purpose": "marketing"}}, expect=201)
call("PUT", "/api/v1/definitions/scoring-models/fit", {
    "object": "lead", "field": "score", "max": 100, "rules": [
        {"name": "company given", "category": "profile", "condition": "company is not null",
         "points": 50},
        {"name": "senior buyer", "category": "profile", "condition": "title contains 'CTO'",
         "points": 40}]}, expect=201)
call("PUT", "/api/v1/definitions/queues/sdr_team",
     {"members": [sdr["id"]], "strategy": "round_robin"}, expect=201)
call("PUT", "/api/v1/automation/rules/mql", {
    "object": "lead", "trigger": {"on": "changed", "fields": ["score"]},
    "condition": "score >= 80 and status = 'new'",
    "actions": [{"type": "set_fields", "values": {"status": "mql"}},
                {"type": "assign", "strategy": "queue", "queue": "sdr_team"}]}, expect=201)
call("PUT", "/api/v1/definitions/pipelines/sales", {
    "object": "opportunity", "field": "stage", "stages": [
        {"value": "prospecting", "probability": 10},
        {"value": "qualification", "probability": 20},
        {"value": "proposal", "probability": 50, "entry_criteria": [
            {"condition": "pain_confirmed = true", "message": "Confirm the pain first"}]},
        {"value": "negotiation", "probability": 75},
        {"value": "closed_won", "probability": 100, "won": True},
        {"value": "closed_lost", "probability": 0, "lost": True}]}, expect=201)
call("PUT", "/api/v1/approvals/processes/small_discount", {
    "object": "quote", "criteria": "effective_discount_percent <= 10", "steps": [],
    "on_submit": {"status": "pending_approval"}, "on_approve": {"status": "approved"}},
    expect=201)
call("PUT", "/api/v1/automation/rules/shipments", {
    "object": "order", "trigger": {"on": "event", "type": "shipment.updated"},
    "actions": [{"type": "set_fields", "values": {
        "status": {"event": "status"}, "carrier": {"event": "carrier"},
        "tracking_number": {"event": "tracking_number"}}}]}, expect=201)
product = call("POST", "/api/v1/records/product",
               {"name": "Robot arm", "sku": "ARM-9", "list_price": 12500}, expect=201)

# ---- 1. the web form (public) ----
sub = call("POST", "/api/v1/forms/website/submissions", token=None, expect=201,
           form="first_name=Wei&last_name=Li&email=li.wei%40robots.example&company=Robots+Ltd"
                "&title=CTO&newsletter=on&utm_source=wechat")
check(sub["status"] == "accepted", "the submission is accepted")
lead = only("lead", "email", "li.wei@robots.example")
check(lead["source"] == "web" and lead["campaign_id"] == campaign["id"], "attribution")
check(lead["score"] == 90, f"the lead is scored 90, not {lead['score']}")
explanation = call("GET", f"/api/v1/records/lead/{lead['id']}/score")
check(len(explanation["contributions"]) == 2, "the score is explained by its two rules")
touch = only("touchpoint", "lead_id", lead["id"])
check(touch["type"] == "form_submit" and touch["utm_source"] == "wechat", "the touchpoint")
check(only("consent", "lead_id", lead["id"])["action"] == "grant", "the consent")

# ---- 2. MQL and routing, by the running dispatcher ----
lead = wait_for("the MQL rule", lambda: (lambda r: r if r["status"] == "mql" else None)(
    record("lead", lead["id"])))
check(lead["owner_id"] == sdr["id"], "the MQL is routed to the SDR")

# ---- 3. conversion ----
conv = call("POST", f"/api/v1/records/lead/{lead['id']}/convert",
            {"opportunity": {"amount": 25000, "stage": "qualification"}}, expect=201)
opp_id, account_id, contact_id = conv["opportunity_id"], conv["account_id"], conv["contact_id"]
check(record("account", account_id)["name"] == "Robots Ltd", "the account")
check(record("contact", contact_id)["email"] == "li.wei@robots.example", "the contact")
check(record("lead", lead["id"])["status"] == "converted", "the converted lead")

# ---- 4. pipeline: the gate refuses, then lets through ----
refusal = call("PATCH", f"/api/v1/records/opportunity/{opp_id}", {"stage": "proposal"},
               expect=422)
check(refusal["errors"][0]["code"] == "entry_criteria", "the stage gate names its criterion")
call("PATCH", f"/api/v1/records/opportunity/{opp_id}",
     {"stage": "proposal", "pain_confirmed": True})
stages = call("GET", f"/api/v1/records/opportunity/{opp_id}/stages")["data"]
check([s["stage"] for s in stages] == ["qualification", "proposal"], "the stage history")

# ---- 5. quote, approval, signature ----
quote = call("POST", "/api/v1/records/quote", {"name": "Robots Ltd arms",
             "opportunity_id": opp_id, "account_id": account_id, "contact_id": contact_id},
             expect=201)
call("POST", "/api/v1/records/quote_line",
     {"quote_id": quote["id"], "product_id": product["id"], "quantity": 2}, expect=201)
quote = record("quote", quote["id"])
check(quote["total"] == 25000, f"the quote is priced from the list price: {quote['total']}")
call("POST", f"/api/v1/records/quote/{quote['id']}/approval/submit")
check(record("quote", quote["id"])["status"] == "approved", "a small discount approves at once")
link = call("POST", f"/api/v1/records/quote/{quote['id']}/signing-link",
            {"signer_name": "Wei Li"}, expect=201)
pdf = call("GET", f"/api/v1/signing/{link['token']}/pdf", token=None, raw=True)
check(pdf[:4] == b"%PDF", "the signer reads the PDF")
signed = call("POST", f"/api/v1/signing/{link['token']}", token=None,
              body={"name": "Wei Li", "accept": True,
                    "pdf_sha256": hashlib.sha256(pdf).hexdigest()})
check(signed["pdf_sha256"] == hashlib.sha256(pdf).hexdigest(), "the signed document's hash")

# ---- 6. contract, order, won opportunity: the same transaction ----
contract = only("contract", "quote_id", quote["id"])
order = only("order", "quote_id", quote["id"])
check(contract["status"] == "active" and order["contract_id"] == contract["id"], "contract")
check(record("opportunity", opp_id)["stage"] == "closed_won", "the opportunity is won")

# ---- 7. shipping and the invoice request ----
for n, status in enumerate(["shipped", "delivered"]):
    call("POST", "/api/v1/events/shipment.updated", {
        "id": f"shp-{n}", "record_id": order["id"],
        "data": {"status": status, "carrier": "SF Express", "tracking_number": "SF77"}},
        expect=202)
    wait_for(f"the order {status}", lambda s=status: record("order", order["id"])["status"] == s)
order = record("order", order["id"])
check(order["shipped_at"] and order["delivered_at"], "the shipping dates")
wait_for("invoice.requested", lambda: any(e["op"] == "invoice.requested" for e in events()))

# ---- the events, in the order they happened ----
ops = [e["op"] for e in events()]
want = ["form.submitted", "lead.converted", "quote.signed", "contract.signed", "order.created",
        "invoice.requested"]
seen = [op for op in ops if op in want]
check(seen == want, f"the events of the loop, in order: {seen}")

# ---- the audit log has each record's creation ----
for obj, rid in [("lead", lead["id"]), ("account", account_id), ("contact", contact_id),
                 ("opportunity", opp_id), ("quote", quote["id"]), ("contract", contract["id"]),
                 ("order", order["id"])]:
    audit = call("GET", f"/api/v1/audit?object={obj}&record_id={rid}&action=create")["data"]
    check(len(audit) == 1, f"the audit log records the creation of the {obj}")
audit = call("GET", f"/api/v1/audit?object=quote&record_id={quote['id']}&action=update")["data"]
check(any(a["changes"].get("status", [None, None])[1] == "signed" for a in audit),
      "the audit log records the signature's status change")

# ---- KPIs ----
funnel = {p.get("step"): p for p in call("GET", "/api/v1/kpis/lead_funnel")["data"]}
check(funnel.get("lead", {}).get("count") == 1, f"one lead in the funnel: {funnel}")
for step in ("mql", "opportunity", "won"):
    check(funnel.get(step, {}).get("count") == 1, f"the lead reached {step}: {funnel}")
win = call("GET", "/api/v1/kpis/win_rate")["data"][0]
check(win["value"] == 1, f"win rate 1: {win}")
revenue = call("GET", "/api/v1/kpis/won_revenue")["data"][0]
check(float(revenue["value"]) == 25000, f"won revenue 25000: {revenue}")
print("lead to order: every step checked")
