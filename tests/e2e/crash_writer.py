#!/usr/bin/env python3
"""Load and check helpers for tests/e2e/test_crash.sh and test_shutdown.sh (standard library only).

  crash_writer.py write --port P --token T --prefix crash-3 --out ACKED.jsonl
      [--threads 8] [--batch-threads 1] [--max-seconds 60] [--seed N]
    Runs THREADS writers, each on its own keep-alive connection, until the
    server goes away (any connection error ends a writer) or MAX_SECONDS pass.
    Each writer owns the accounts it creates (named PREFIX-<thread>-<n>), so
    their expected state is known exactly:
      - single writers create (half of the time), PATCH one of their live
        accounts with If-Match (a new `employees` value and description), or
        DELETE one (soft delete); odd-numbered ones send an Idempotency-Key
        (the name) with each create;
      - batch writers send atomic batches of 3 creates, 2 updates and 1 delete
        of their own accounts.
    Every ACKNOWLEDGED operation (2xx with the record, or a committed batch)
    appends the record's new state to ACKED as one JSON line:
      {"id", "name", FIELDS..., "version", "deleted", "op", ["idempotency_key"]}
    so the last line of an id is its acknowledged state. An operation whose
    answer never came (the server died) goes to ACKED.inflight as one line
    {"items": [state after the operation, ...]} (a batch has several items,
    all or none of which may be applied), and a keyed create in flight also
    to ACKED.pending. A summary JSON object is printed on stdout at the end.

  crash_writer.py verify-api --port P --token T ACKED.jsonl...
    GETs every acknowledged id and compares values, version and deletion
    with the acknowledged state (or with the state of an operation in flight
    at the crash, when one touched that id), and replays the last few keyed
    creates of each writer (same key, same body: the stored answer, same id,
    Idempotent-Replayed: true). With --pending FILE it also retries the keyed
    creates that were in flight at the crash, as a client would: whether or
    not the first attempt committed, exactly one account with that name must
    exist afterwards. Prints a summary; exit 1 if anything is wrong.

  crash_writer.py verify-db --db FILE [--history ALL.jsonl...] ACKED.jsonl...
    The same check straight on the SQLite file (server stopped), plus:
    every operation in flight is applied whole or not at all (atomic
    batches too); no account of these writers exists that was neither
    acknowledged nor in flight; each account has exactly `version` entries
    in rp_change and in rp_audit, one create first, its last change matching
    its deletion state and `employees`; names are unique; integrity_check is
    ok. Exit 1 on any problem. With --history (an online backup taken while
    the writers ran), each record of ACKED must be in the snapshot in one of
    its acknowledged or in-flight states from the history files, not older
    than in ACKED.
"""
import argparse
import http.client
import json
import random
import sqlite3
import sys
import threading
import time
import urllib.parse

FIELDS = ("name", "description", "employees", "city")
REPLAYS_PER_WRITER = 3
BATCH_CREATES, BATCH_UPDATES, BATCH_DELETES = 3, 2, 1


def record_for(prefix, thread, n):
    name = "%s-%d-%d" % (prefix, thread, n)
    return {
        "name": name,
        "description": "崩溃测试 %s" % name,
        "employees": thread * 1000000 + n,
        "city": "上海",
    }


class Writer(threading.Thread):
    def __init__(self, args, index, batch, sink, rng):
        super().__init__(daemon=True)
        self.args = args
        self.index = index
        self.batch = batch
        self.keyed = not batch and index % 2 == 1
        self.sink = sink
        self.rng = rng
        self.sent = 0
        self.acked = 0
        self.ops = {"create": 0, "update": 0, "delete": 0, "batch": 0}
        self.busy = 0          # 503/429 answers (retried)
        self.unexpected = []   # other answers: (status, body)
        self.ended_by = ""
        self.in_flight = None  # list of states after the operation whose answer has not come
        self.in_flight_key = None  # the keyed create in flight, for a retry
        self.live = {}         # id -> acknowledged state of this writer's live accounts
        self.n = 0             # next account number

    def new_record(self):
        rec = record_for(self.args.prefix, self.index, self.n)
        self.n += 1
        return rec

    def changed(self, state):
        """A new value for an update: a number this writer never used for a create."""
        rec = {k: state[k] for k in FIELDS}
        rec["employees"] = state["employees"] + 500000 + self.rng.randrange(1, 400000)
        rec["description"] = "更新 %s v%d" % (state["name"], state["version"] + 1)
        return rec

    def plan(self):
        """(method, path, body, headers, expected states, kind) of the next request."""
        ids = list(self.live)
        if self.batch:
            ops, items = [], []
            for _ in range(BATCH_CREATES):
                rec = self.new_record()
                ops.append({"op": "create", "data": rec})
                items.append(dict(rec, id=None, version=1, deleted=False, op="create"))
            picks = self.rng.sample(ids, min(len(ids), BATCH_UPDATES + BATCH_DELETES))
            for i, rid in enumerate(picks):
                st = self.live[rid]
                if i < BATCH_UPDATES:
                    rec = self.changed(st)
                    ops.append({"op": "update", "id": rid, "data": {
                        "employees": rec["employees"], "description": rec["description"]},
                        "if_match": st["version"]})
                    items.append(dict(rec, id=rid, version=st["version"] + 1, deleted=False,
                                      op="update"))
                else:
                    ops.append({"op": "delete", "id": rid})
                    items.append(dict(st, version=st["version"] + 1, deleted=True, op="delete"))
            body = json.dumps({"atomic": True, "operations": ops}, ensure_ascii=False)
            return "POST", "/api/v1/records/account/batch", body.encode(), {}, items, "batch"
        r = self.rng.random()
        if ids and r < 0.35:
            rid = self.rng.choice(ids)
            st = self.live[rid]
            rec = self.changed(st)
            body = json.dumps({"employees": rec["employees"], "description": rec["description"]},
                              ensure_ascii=False).encode()
            item = dict(rec, id=rid, version=st["version"] + 1, deleted=False, op="update")
            return ("PATCH", "/api/v1/records/account/" + rid, body,
                    {"If-Match": '"%d"' % st["version"]}, [item], "update")
        if ids and r < 0.45:
            rid = self.rng.choice(ids)
            st = self.live[rid]
            item = dict(st, version=st["version"] + 1, deleted=True, op="delete")
            return ("DELETE", "/api/v1/records/account/" + rid, None,
                    {"If-Match": '"%d"' % st["version"]}, [item], "delete")
        rec = self.new_record()
        item = dict(rec, id=None, version=1, deleted=False, op="create")
        h = {}
        if self.keyed:
            h["Idempotency-Key"] = rec["name"]
            item["idempotency_key"] = rec["name"]
        return "POST", "/api/v1/records/account", body_bytes(rec), h, [item], "create"

    def run(self):
        a = self.args
        deadline = time.monotonic() + a.max_seconds
        base = {"Authorization": "Bearer " + a.token, "Content-Type": "application/json"}
        conn = http.client.HTTPConnection("127.0.0.1", a.port, timeout=a.timeout)
        try:
            while time.monotonic() < deadline:
                method, path, body, extra, items, kind = self.plan()
                self.sent += len(items)
                self.in_flight = items
                self.in_flight_key = items[0] if kind == "create" and self.keyed else None
                conn.request(method, path, body, dict(base, **extra))
                resp = conn.getresponse()
                data = resp.read()
                self.in_flight = self.in_flight_key = None
                if resp.status in (429, 503):
                    # Refused before anything was written: the same plan is not retried, and
                    # its record numbers are simply skipped.
                    self.busy += 1
                    time.sleep(0.05)
                    continue
                acks = self.acknowledged(resp.status, data, items, kind)
                if acks is None:
                    self.unexpected.append((resp.status, data[:300].decode("utf-8", "replace")))
                    if len(self.unexpected) >= 10:
                        self.ended_by = "too many unexpected answers"
                        return
                    continue
                for s in acks:
                    if s["deleted"]:
                        self.live.pop(s["id"], None)
                    else:
                        self.live[s["id"]] = s
                self.sink(acks)
                self.acked += len(acks)
                self.ops[kind] += 1
            self.ended_by = "deadline"
        except (OSError, http.client.HTTPException) as e:
            self.ended_by = type(e).__name__
        finally:
            conn.close()

    @staticmethod
    def acknowledged(status, data, items, kind):
        """The acknowledged states of one answer, or None when it is not an acknowledgement."""
        try:
            doc = json.loads(data)
        except ValueError:
            return None
        if not isinstance(doc, dict):
            return None
        if kind != "batch":
            want = 201 if kind == "create" else 200
            if status != want or not doc.get("id"):
                return None
            it = items[0]
            if doc.get("version") != it["version"] or (it["id"] and doc["id"] != it["id"]):
                return None
            return [dict(it, id=doc["id"])]
        if status != 200 or doc.get("committed") is not True:
            return None
        out = []
        results = doc.get("results", [])
        if len(results) != len(items):
            return None
        for it, res in zip(items, results):
            rec = res.get("record") or {}
            want = 201 if it["op"] == "create" else 200
            if res.get("status") != want or not rec.get("id") or rec.get("version") != it["version"]:
                return None
            out.append(dict(it, id=rec["id"]))
        return out


def body_bytes(rec):
    """The create body of a record: the same bytes every time (idempotency fingerprints)."""
    return json.dumps({k: rec[k] for k in FIELDS}, ensure_ascii=False).encode("utf-8")


def cmd_write(a):
    lock = threading.Lock()
    out = open(a.out, "a", encoding="utf-8")
    seed = a.seed if a.seed is not None else random.randrange(1 << 30)

    def sink(acks):
        with lock:
            for r in acks:
                out.write(json.dumps(r, ensure_ascii=False) + "\n")
            out.flush()

    writers = [Writer(a, i, i < a.batch_threads, sink, random.Random(seed * 1000 + i))
               for i in range(a.threads)]
    started = time.monotonic()
    for w in writers:
        w.start()
    for w in writers:
        w.join(a.max_seconds + a.timeout + 5)
    out.close()
    cut = [w for w in writers if w.in_flight and w.ended_by != "deadline"]
    with open(a.out + ".pending", "w", encoding="utf-8") as f:
        for w in cut:
            if w.in_flight_key:
                f.write(json.dumps(w.in_flight_key, ensure_ascii=False) + "\n")
    with open(a.out + ".inflight", "w", encoding="utf-8") as f:
        for w in cut:
            f.write(json.dumps({"items": w.in_flight}, ensure_ascii=False) + "\n")
    ops = {}
    for w in writers:
        for k, v in w.ops.items():
            ops[k] = ops.get(k, 0) + v
    summary = {
        "prefix": a.prefix,
        "seed": seed,
        "seconds": round(time.monotonic() - started, 3),
        "sent": sum(w.sent for w in writers),
        "acked": sum(w.acked for w in writers),
        "acked_requests": ops,
        "in_flight": len(cut),
        "in_flight_keyed": sum(1 for w in cut if w.in_flight_key),
        "busy": sum(w.busy for w in writers),
        "unexpected": [u for w in writers for u in w.unexpected][:10],
        "ended_by": sorted(set(w.ended_by or "still running" for w in writers)),
    }
    print(json.dumps(summary, ensure_ascii=False))
    return 0


def load_lines(paths):
    out = []
    for p in paths:
        try:
            with open(p, encoding="utf-8") as f:
                out.extend(json.loads(line) for line in f if line.strip())
        except FileNotFoundError:
            pass
    return out


class Expected:
    """What the acknowledgement files say: the last acknowledged state of every id, the
    operations in flight at a crash, and every name these writers ever sent."""

    def __init__(self, paths):
        self.acked = load_lines(paths)
        self.last = {}
        self.history = {}  # id -> every acknowledged state, oldest first
        self.first_create = {}  # id -> its create line (keyed replays)
        for s in self.acked:
            self.last[s["id"]] = s
            self.history.setdefault(s["id"], []).append(s)
            if s["op"] == "create":
                self.first_create[s["id"]] = s
        self.groups = [g["items"] for g in load_lines([p + ".inflight" for p in paths])]
        self.inflight_by_id = {}
        self.inflight_creates = {}  # name -> state of a create in flight
        for g in self.groups:
            for it in g:
                if it["id"]:
                    self.inflight_by_id.setdefault(it["id"], []).append(it)
                else:
                    self.inflight_creates[it["name"]] = it
        self.names = {s["name"] for s in self.acked} | set(self.inflight_creates)
        self.prefixes = {s["name"].rsplit("-", 2)[0] for s in self.acked}
        self.prefixes |= {n.rsplit("-", 2)[0] for n in self.inflight_creates}

    def alternatives(self, rid):
        """States an id may be in: acknowledged, or after an operation in flight."""
        return [self.last[rid]] + self.inflight_by_id.get(rid, [])


def diffs(want, got):
    """Differences between an expected state and a read record (dict with FIELDS, version and
    deleted)."""
    out = []
    for k in FIELDS:
        g = got.get(k)
        if k == "employees" and isinstance(g, float) and g == int(g):
            g = int(g)
        if g != want[k]:
            out.append("%s: expected %r, read %r" % (k, want[k], g))
    if got.get("version") != want["version"]:
        out.append("version: expected %r, read %r" % (want["version"], got.get("version")))
    if bool(got.get("deleted")) != want["deleted"]:
        out.append("deleted: expected %r, read %r" % (want["deleted"], got.get("deleted")))
    return out


def match(exp, rid, got):
    """None when got is one of the states rid may be in; otherwise the differences from the
    acknowledged state."""
    for alt in exp.alternatives(rid):
        if not diffs(alt, got):
            return None
    return diffs(exp.last[rid], got)


def cmd_verify_api(a):
    exp = Expected(a.acked)
    ids = list(exp.last)
    missing, wrong, errors = [], [], []
    lock = threading.Lock()
    headers = {"Authorization": "Bearer " + a.token}

    def worker(part):
        conn = http.client.HTTPConnection("127.0.0.1", a.port, timeout=a.timeout)
        try:
            for rid in part:
                conn.request("GET", "/api/v1/records/account/" + rid, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                with lock:
                    if resp.status == 404:
                        # deleted records are not served; acceptable when deletion is expected
                        if not any(alt["deleted"] for alt in exp.alternatives(rid)):
                            missing.append(rid)
                    elif resp.status != 200:
                        errors.append((rid, resp.status, data[:200].decode("utf-8", "replace")))
                    else:
                        got = json.loads(data)
                        got["deleted"] = got.get("deleted_at") is not None
                        d = match(exp, rid, got)
                        if d:
                            wrong.append((rid, d))
        except (OSError, http.client.HTTPException, ValueError) as e:
            with lock:
                errors.append(("connection", type(e).__name__, str(e)))
        finally:
            conn.close()

    # The newest keyed creates of each writer: the ones closest to the crash.
    last = {}
    for rid, s in exp.first_create.items():
        if s.get("idempotency_key"):
            last.setdefault(s["name"].rsplit("-", 1)[0], []).append(s)
    replays = [r for recs in last.values() for r in recs[-REPLAYS_PER_WRITER:]]
    bad_replays = []
    conn = http.client.HTTPConnection("127.0.0.1", a.port, timeout=a.timeout)
    try:
        for rec in replays:
            h = dict(headers, **{"Content-Type": "application/json",
                                 "Idempotency-Key": rec["idempotency_key"]})
            conn.request("POST", "/api/v1/records/account", body_bytes(rec), h)
            resp = conn.getresponse()
            data = resp.read()
            doc = json.loads(data) if data else {}
            if (resp.status != 201 or resp.getheader("Idempotent-Replayed") != "true"
                    or doc.get("id") != rec["id"]):
                bad_replays.append((rec["name"], resp.status, resp.getheader("Idempotent-Replayed"),
                                    doc.get("id"), rec["id"]))
    except (OSError, http.client.HTTPException, ValueError) as e:
        bad_replays.append(("connection", type(e).__name__, str(e)))
    finally:
        conn.close()

    # Retry what was in flight: committed or not, one account per name afterwards.
    retried = {"replayed": 0, "created": 0}
    pending = load_lines([a.pending]) if a.pending else []
    conn = http.client.HTTPConnection("127.0.0.1", a.port, timeout=a.timeout)
    try:
        for rec in pending:
            h = dict(headers, **{"Content-Type": "application/json",
                                 "Idempotency-Key": rec["idempotency_key"]})
            conn.request("POST", "/api/v1/records/account", body_bytes(rec), h)
            resp = conn.getresponse()
            resp.read()
            replayed = resp.getheader("Idempotent-Replayed") == "true"
            if resp.status != 201:
                bad_replays.append(("retry", rec["name"], resp.status))
                continue
            retried["replayed" if replayed else "created"] += 1
            flt = urllib.parse.quote("name = '%s'" % rec["name"])
            conn.request("GET", "/api/v1/records/account?count=true&filter=" + flt,
                         headers=headers)
            resp = conn.getresponse()
            doc = json.loads(resp.read())
            n = doc.get("total", {}).get("count") if resp.status == 200 else None
            if n != 1:
                bad_replays.append(("retry", rec["name"], "%r accounts with that name" % n))
    except (OSError, http.client.HTTPException, ValueError) as e:
        bad_replays.append(("connection", type(e).__name__, str(e)))
    finally:
        conn.close()

    nthreads = max(1, min(a.threads, len(ids)))
    threads = [threading.Thread(target=worker, args=(ids[i::nthreads],), daemon=True)
               for i in range(nthreads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(a.max_seconds)
    hung = sum(t.is_alive() for t in threads)
    ok = not missing and not wrong and not errors and not hung and not bad_replays
    print(json.dumps({"acked_ops": len(exp.acked), "ids": len(ids),
                      "found": len(ids) - len(missing) - len(errors),
                      "in_flight_ops": len(exp.groups),
                      "replayed": len(replays), "in_flight_retried": retried,
                      "bad_replays": bad_replays[:10], "missing": missing[:10],
                      "nmissing": len(missing), "wrong": wrong[:10], "errors": errors[:10],
                      "hung_threads": hung}, ensure_ascii=False))
    return 0 if ok else 1


def cmd_verify_db(a):
    exp = Expected(a.acked)
    # A snapshot (an online backup) may be newer than the files that must be in it.
    hist = Expected(a.history + a.acked) if a.history else None
    db = sqlite3.connect(a.db)
    problems = []
    cols = ("id", "name", "description", "employees", "city", "deleted_at", "version")
    rows = {}
    for r in db.execute("SELECT %s FROM account" % ", ".join(cols)):
        d = dict(zip(cols, r))
        d["deleted"] = d["deleted_at"] is not None
        rows[d["id"]] = d
    by_name = {}
    for d in rows.values():
        by_name.setdefault(d["name"], []).append(d)
    stored_keys = dict(db.execute("SELECT key, status FROM rp_idempotency"))

    found = 0
    for rid, want in exp.last.items():
        got = rows.get(rid)
        if got is None:
            problems.append("missing %s %s" % (want["name"], rid))
            continue
        found += 1
        if hist:
            states = hist.history[rid] + hist.inflight_by_id.get(rid, [])
            if got["version"] < want["version"] or all(diffs(st, got) for st in states):
                problems.append("%s %s: version %r in no acknowledged or in-flight state since "
                                "version %r" % (want["name"], rid, got["version"], want["version"]))
            continue
        d = match(exp, rid, got)
        if d:
            problems.append("%s %s: %s" % (want["name"], rid, "; ".join(d)))
        key = exp.first_create.get(rid, {}).get("idempotency_key")
        if key and stored_keys.get(key) != 201:
            problems.append("idempotency key %s stored with status %r" % (key, stored_keys.get(key)))

    # Operations in flight: each one applied whole or not at all.
    applied_groups = 0
    for g in ([] if hist else exp.groups):
        flags = []
        for it in g:
            if it["id"] is None:
                flags.append(it["name"] in by_name)
            else:
                got = rows.get(it["id"])
                flags.append(got is not None and not diffs(it, got))
        if any(flags) and not all(flags):
            problems.append("an operation in flight at the crash was half applied: %s" %
                            json.dumps([[it["op"], it["name"], f] for it, f in zip(g, flags)],
                                       ensure_ascii=False))
        applied_groups += all(flags)
        if a.none_applied and any(flags):
            problems.append("an operation that got no answer was applied (the server accepted "
                            "it, then cut the connection): %s" % json.dumps(
                                [[it["op"], it["name"]] for it in g], ensure_ascii=False))
        for it in g:  # a create in flight that was applied carries the values sent
            if it["id"] is None and it["name"] in by_name:
                got = by_name[it["name"]][0]
                d = diffs(dict(it), got)
                if d:
                    problems.append("create in flight %s applied with other values: %s"
                                    % (it["name"], "; ".join(d)))

    # Nothing of these writers that was neither acknowledged nor in flight.
    known = hist or exp
    for name, ds in by_name.items():
        if name.rsplit("-", 2)[0] in known.prefixes and name not in known.names:
            problems.append("account %s exists but was never acknowledged nor in flight" % name)
        if len(ds) > 1:
            problems.append("name %s created %d times" % (name, len(ds)))

    # The change log and the audit trail tell the same story as the rows.
    changes = {}
    for rid, n, first_op, last_op, last_changes in db.execute(
            "SELECT c.record_id, g.n, (SELECT op FROM rp_change WHERE seq = g.lo),"
            " c.op, c.changes FROM rp_change c JOIN (SELECT record_id, count(*) n, min(seq) lo,"
            " max(seq) hi FROM rp_change WHERE object = 'account' GROUP BY record_id) g"
            " ON c.seq = g.hi"):
        changes[rid] = (n, first_op, last_op, last_changes)
    audits = dict(db.execute("SELECT record_id, count(*) FROM rp_audit WHERE object = 'account'"
                             " AND action IN ('create', 'update', 'delete', 'restore')"
                             " GROUP BY record_id"))
    for rid, got in rows.items():
        n, first_op, last_op, last_changes = changes.get(rid, (0, None, None, None))
        bad = []
        if n != got["version"]:
            bad.append("%d changes for version %r" % (n, got["version"]))
        if audits.get(rid, 0) != got["version"]:
            bad.append("%d audit entries for version %r" % (audits.get(rid, 0), got["version"]))
        if first_op != "create":
            bad.append("first change is %r" % first_op)
        if (last_op == "delete") != got["deleted"]:
            bad.append("last change %r but deleted=%r" % (last_op, got["deleted"]))
        if last_op == "update" and last_changes:
            try:
                ch = json.loads(last_changes).get("employees")
            except ValueError:
                ch = None
            emp = got["employees"]
            if ch is not None and (not isinstance(ch, list) or len(ch) != 2 or
                                   float(ch[1]) != float(emp)):
                bad.append("last change sets employees %r, row has %r" % (ch, emp))
        if bad:
            problems.append("%s %s: %s" % (got["name"], rid, "; ".join(bad)))

    integrity = [r[0] for r in db.execute("PRAGMA integrity_check").fetchall()]
    if integrity != ["ok"]:
        problems.append("integrity_check: %s" % "; ".join(integrity[:5]))
    db.close()
    print(json.dumps({"acked_ops": len(exp.acked), "ids": len(exp.last), "found": found,
                      "accounts": len(rows), "in_flight_ops": len(exp.groups),
                      "in_flight_applied": applied_groups,
                      "deleted": sum(1 for d in rows.values() if d["deleted"]),
                      "problems": problems[:20], "nproblems": len(problems)},
                     ensure_ascii=False))
    return 1 if problems else 0


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("write")
    w.add_argument("--port", type=int, required=True)
    w.add_argument("--token", required=True)
    w.add_argument("--prefix", required=True)
    w.add_argument("--out", required=True)
    w.add_argument("--threads", type=int, default=8)
    w.add_argument("--batch-threads", type=int, default=1)
    w.add_argument("--max-seconds", type=float, default=60)
    w.add_argument("--timeout", type=float, default=15)
    w.add_argument("--seed", type=int)
    v = sub.add_parser("verify-api")
    v.add_argument("--port", type=int, required=True)
    v.add_argument("--token", required=True)
    v.add_argument("--threads", type=int, default=4)
    v.add_argument("--max-seconds", type=float, default=120)
    v.add_argument("--timeout", type=float, default=15)
    v.add_argument("--pending", help="keyed creates in flight at the crash, to retry")
    v.add_argument("acked", nargs="+")
    d = sub.add_parser("verify-db")
    d.add_argument("--db", required=True)
    d.add_argument("--history", nargs="*", default=[],
                   help="with a snapshot: every acknowledgement file, a state of which the "
                   "snapshot may hold")
    d.add_argument("--none-applied", action="store_true",
                   help="after a graceful stop: no operation left without an answer may have "
                   "been applied")
    d.add_argument("acked", nargs="+")
    a = p.parse_args()
    return {"write": cmd_write, "verify-api": cmd_verify_api, "verify-db": cmd_verify_db}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
