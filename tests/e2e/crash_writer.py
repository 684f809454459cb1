#!/usr/bin/env python3
"""Load and check helpers for tests/e2e/test_crash.sh (standard library only).

  crash_writer.py write --port P --token T --prefix crash-3 --out ACKED.jsonl
      [--threads 8] [--batch-threads 1] [--max-seconds 60]
    Runs THREADS writers, each on its own keep-alive connection, creating
    accounts named PREFIX-<thread>-<n> until the server goes away (any
    connection error ends a writer) or MAX_SECONDS pass. Batch writers send
    atomic batches of 5 creates; odd-numbered single writers send an
    Idempotency-Key (the name) with each create. Every ACKNOWLEDGED create
    (201 with an id, or a committed batch item) is appended to ACKED as one
    JSON line; a keyed create that was in flight when the server died goes to
    ACKED.pending. A summary JSON object is printed on stdout at the end.

  crash_writer.py verify-api --port P --token T ACKED.jsonl...
    GETs every acknowledged id and compares the values, and replays the last
    few keyed creates of each writer (same key, same body: the stored answer,
    same id, Idempotent-Replayed: true). With --pending FILE it also retries
    the keyed creates that were in flight at the crash, as a client would:
    whether or not the first attempt committed, exactly one account with that
    name must exist afterwards. Prints a summary; exit 1 if anything is
    missing or different.

  crash_writer.py verify-db --db FILE ACKED.jsonl...
    The same check straight on the SQLite file (server stopped), plus
    at-most-once per name and one change-log and one audit create entry per
    account; exit 1 on any problem.
"""
import argparse
import http.client
import json
import sqlite3
import sys
import threading
import time
import urllib.parse

BATCH_SIZE = 5


FIELDS = ("name", "description", "employees", "city")
REPLAYS_PER_WRITER = 3


def record_for(prefix, thread, n):
    name = "%s-%d-%d" % (prefix, thread, n)
    return {
        "name": name,
        "description": "崩溃测试 %s" % name,
        "employees": thread * 1000000 + n,
        "city": "上海",
    }


class Writer(threading.Thread):
    def __init__(self, args, index, batch, sink):
        super().__init__(daemon=True)
        self.args = args
        self.index = index
        self.batch = batch
        self.keyed = not batch and index % 2 == 1
        self.sink = sink
        self.sent = 0
        self.acked = 0
        self.busy = 0          # 503/429 answers (retried)
        self.unexpected = []   # other answers: (status, body)
        self.ended_by = ""
        self.in_flight = None  # the keyed record whose answer has not arrived

    def run(self):
        a = self.args
        deadline = time.monotonic() + a.max_seconds
        headers = {"Authorization": "Bearer " + a.token, "Content-Type": "application/json"}
        conn = http.client.HTTPConnection("127.0.0.1", a.port, timeout=a.timeout)
        n = 0
        try:
            while time.monotonic() < deadline:
                if self.batch:
                    recs = [record_for(a.prefix, self.index, n + i) for i in range(BATCH_SIZE)]
                    path = "/api/v1/records/account/batch"
                    body = {"atomic": True,
                            "operations": [{"op": "create", "data": r} for r in recs]}
                    body = json.dumps(body, ensure_ascii=False).encode("utf-8")
                else:
                    recs = [record_for(a.prefix, self.index, n)]
                    path = "/api/v1/records/account"
                    body = recs[0]
                    if self.keyed:
                        recs[0]["idempotency_key"] = recs[0]["name"]
                self.sent += len(recs)
                h = dict(headers)
                if self.keyed:
                    h["Idempotency-Key"] = recs[0]["idempotency_key"]
                    self.in_flight = recs[0]
                conn.request("POST", path, body if self.batch else body_bytes(body), h)
                resp = conn.getresponse()
                data = resp.read()
                self.in_flight = None
                if resp.status in (429, 503):
                    self.busy += 1
                    time.sleep(0.05)
                    continue  # same n: these records were not created
                acks = self.acknowledged(resp.status, data, recs)
                if acks is None:
                    self.unexpected.append((resp.status, data[:300].decode("utf-8", "replace")))
                    if len(self.unexpected) >= 10:
                        self.ended_by = "too many unexpected answers"
                        return
                else:
                    self.sink(acks)
                    self.acked += len(acks)
                n += len(recs)
            self.ended_by = "deadline"
        except (OSError, http.client.HTTPException) as e:
            self.ended_by = type(e).__name__
        finally:
            conn.close()

    @staticmethod
    def acknowledged(status, data, recs):
        """The acknowledged records of one answer, or None when it is not an acknowledgement."""
        try:
            doc = json.loads(data)
        except ValueError:
            return None
        if len(recs) == 1 and status == 201 and isinstance(doc, dict) and doc.get("id"):
            return [dict(recs[0], id=doc["id"], version=doc.get("version"))]
        if len(recs) > 1 and status == 200 and isinstance(doc, dict) and doc.get("committed") is True:
            out = []
            for r, item in zip(recs, doc.get("results", [])):
                rec = item.get("record") or {}
                if item.get("status") != 201 or not rec.get("id"):
                    return None
                out.append(dict(r, id=rec["id"], version=rec.get("version")))
            return out if len(out) == len(recs) else None
        return None


def body_bytes(rec):
    """The create body of a record: the same bytes every time (idempotency fingerprints)."""
    return json.dumps({k: rec[k] for k in FIELDS}, ensure_ascii=False).encode("utf-8")


def cmd_write(a):
    lock = threading.Lock()
    out = open(a.out, "a", encoding="utf-8")

    def sink(acks):
        with lock:
            for r in acks:
                out.write(json.dumps(r, ensure_ascii=False) + "\n")
            out.flush()

    writers = [Writer(a, i, i < a.batch_threads, sink) for i in range(a.threads)]
    # crash_writer.py runs as a new process per cycle: start the pending file afresh.
    started = time.monotonic()
    for w in writers:
        w.start()
    for w in writers:
        w.join(a.max_seconds + a.timeout + 5)
    out.close()
    pending = [w.in_flight for w in writers if w.in_flight and w.ended_by != "deadline"]
    with open(a.out + ".pending", "w", encoding="utf-8") as f:
        for r in pending:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    summary = {
        "prefix": a.prefix,
        "seconds": round(time.monotonic() - started, 3),
        "sent": sum(w.sent for w in writers),
        "acked": sum(w.acked for w in writers),
        "in_flight_keyed": len(pending),
        "busy": sum(w.busy for w in writers),
        "unexpected": [u for w in writers for u in w.unexpected][:10],
        "ended_by": sorted(set(w.ended_by or "still running" for w in writers)),
    }
    print(json.dumps(summary, ensure_ascii=False))
    return 0


def load_acked(paths):
    acked = []
    for p in paths:
        with open(p, encoding="utf-8") as f:
            acked.extend(json.loads(line) for line in f if line.strip())
    return acked


def compare(rec, got):
    """A list of differences between an acknowledged record and what was read back."""
    diffs = []
    for k in FIELDS:
        g = got.get(k)
        if k == "employees" and isinstance(g, (int, float)):
            g = int(g) if float(g) == int(g) else g
        if g != rec[k]:
            diffs.append("%s: acknowledged %r, read %r" % (k, rec[k], g))
    # Nothing updates these records: created at version 1, still at version 1.
    if rec.get("version") != 1 or got.get("version") != 1:
        diffs.append("version: acknowledged %r, read %r" % (rec.get("version"), got.get("version")))
    return diffs


def cmd_verify_api(a):
    acked = load_acked(a.acked)
    missing, wrong, errors = [], [], []
    lock = threading.Lock()
    headers = {"Authorization": "Bearer " + a.token}

    def worker(part):
        conn = http.client.HTTPConnection("127.0.0.1", a.port, timeout=a.timeout)
        try:
            for rec in part:
                conn.request("GET", "/api/v1/records/account/" + rec["id"], headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                with lock:
                    if resp.status == 404:
                        missing.append(rec)
                    elif resp.status != 200:
                        errors.append((rec["id"], resp.status, data[:200].decode("utf-8", "replace")))
                    else:
                        d = compare(rec, json.loads(data))
                        if d:
                            wrong.append((rec["id"], d))
        except (OSError, http.client.HTTPException) as e:
            with lock:
                errors.append(("connection", type(e).__name__, str(e)))
        finally:
            conn.close()

    # The newest keyed creates of each writer: the ones closest to the crash.
    last = {}
    for rec in acked:
        if rec.get("idempotency_key"):
            last.setdefault(rec["name"].rsplit("-", 1)[0], []).append(rec)
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
    pending = load_acked([a.pending]) if a.pending else []
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

    nthreads = max(1, min(a.threads, len(acked)))
    threads = [threading.Thread(target=worker, args=(acked[i::nthreads],), daemon=True)
               for i in range(nthreads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(a.max_seconds)
    hung = sum(t.is_alive() for t in threads)
    ok = not missing and not wrong and not errors and not hung and not bad_replays
    print(json.dumps({"acked": len(acked), "found": len(acked) - len(missing) - len(errors),
                      "replayed": len(replays), "in_flight_retried": retried,
                      "bad_replays": bad_replays[:10],
                      "missing": [r["name"] + " " + r["id"] for r in missing[:10]],
                      "nmissing": len(missing), "wrong": wrong[:10], "errors": errors[:10],
                      "hung_threads": hung}, ensure_ascii=False))
    return 0 if ok else 1


def cmd_verify_db(a):
    acked = load_acked(a.acked)
    db = sqlite3.connect(a.db)
    problems = []
    cols = "id, name, description, employees, city, deleted_at, version"
    # one token (one actor) writes everything: index the stored keys once
    stored_keys = dict(db.execute("SELECT key, status FROM rp_idempotency"))
    found = 0
    for rec in acked:
        row = db.execute("SELECT %s FROM account WHERE id = ?" % cols, (rec["id"],)).fetchone()
        if row is None:
            problems.append("missing %s %s" % (rec["name"], rec["id"]))
            continue
        found += 1
        got = dict(zip(("id", "name", "description", "employees", "city", "deleted_at", "version"),
                       row))
        d = compare(rec, got)
        if got["deleted_at"] is not None:
            d.append("deleted")
        if rec.get("idempotency_key"):
            st = stored_keys.get(rec["idempotency_key"])
            if st != 201:
                d.append("idempotency key %s stored with status %r" % (rec["idempotency_key"], st))
        if d:
            problems.append("%s: %s" % (rec["id"], "; ".join(d)))
    q = lambda sql: db.execute(sql).fetchone()[0]
    dup = db.execute("SELECT name, count(*) FROM account GROUP BY name HAVING count(*) > 1"
                     " LIMIT 5").fetchall()
    if dup:
        problems.append("names created more than once: %r" % dup)
    accounts = q("SELECT count(*) FROM account")
    changes = q("SELECT count(*) FROM rp_change WHERE op = 'create' AND object = 'account'")
    audits = q("SELECT count(*) FROM rp_audit WHERE action = 'create' AND object = 'account'")
    if changes != accounts:
        problems.append("%d account rows but %d create entries in rp_change" % (accounts, changes))
    if audits != accounts:
        problems.append("%d account rows but %d create entries in rp_audit" % (accounts, audits))
    orphans = q("SELECT count(*) FROM account WHERE id NOT IN"
                " (SELECT record_id FROM rp_change WHERE op = 'create' AND object = 'account')")
    if orphans:
        problems.append("%d accounts without a create change" % orphans)
    integrity = [r[0] for r in db.execute("PRAGMA integrity_check").fetchall()]
    if integrity != ["ok"]:
        problems.append("integrity_check: %s" % "; ".join(integrity[:5]))
    db.close()
    print(json.dumps({"acked": len(acked), "found": found, "accounts": accounts,
                      "change_creates": changes, "audit_creates": audits,
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
    d.add_argument("acked", nargs="+")
    a = p.parse_args()
    return {"write": cmd_write, "verify-api": cmd_verify_api, "verify-db": cmd_verify_db}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
