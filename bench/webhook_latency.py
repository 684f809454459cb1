#!/usr/bin/env python3
"""Webhook delivery latency after commit (issue #4: p95 <= 2 s). Not a test.

Starts `rapport serve` on a fresh database and a receiver on 127.0.0.1, subscribes the
receiver to account events, creates accounts at a steady pace, and reports, for each create,
the time from the create's 201 (the commit is durable then) to the delivery's arrival.

  python3 bench/webhook_latency.py --rapport build/release/rapport [--n 500] [--rate 50]
"""
import argparse, http.server, json, os, shutil, socket, subprocess, sys, tempfile, threading
import time, urllib.request

arrivals = {}  # record id -> arrival time (first delivery)
lock = threading.Lock()


class Receiver(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        now = time.monotonic()
        try:
            rid = json.loads(body).get("record_id")
        except ValueError:
            rid = None
        with lock:
            arrivals.setdefault(rid, now)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def call(url, method="GET", body=None, token=None):
    req = urllib.request.Request(url, method=method,
                                 data=json.dumps(body).encode() if body is not None else None)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read() or b"{}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rapport", required=True)
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--rate", type=float, default=50.0, help="creates per second")
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="rapport-wh-")
    db = os.path.join(tmp, "wh.db")
    rport, sport = free_port(), free_port()
    receiver = http.server.ThreadingHTTPServer(("127.0.0.1", rport), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    server = subprocess.Popen([args.rapport, "serve", "--db", db, "--listen",
                               "127.0.0.1:%d" % sport, "--no-access-log"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        password, serving = None, False
        for line in server.stdout:
            if "password:" in line:
                password = line.split("password:")[1].strip()
            serving = serving or "serving" in line
            if serving and password:
                break
        base = "http://127.0.0.1:%d/api/v1" % sport
        token = call(base + "/auth/login", "POST",
                     {"username": "admin", "password": password})["token"]
        call(base + "/admin/settings/webhooks.allow", "PUT", {"value": "127.0.0.1/32"}, token)
        call(base + "/webhooks/latency", "PUT",
             {"url": "http://127.0.0.1:%d/hook" % rport, "objects": ["account"],
              "events": ["create"]}, token)
        acked = {}
        start = time.monotonic()
        for i in range(args.n):
            due = start + i / args.rate
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            rec = call(base + "/records/account", "POST", {"name": "Latency %d" % i}, token)
            acked[rec["id"]] = time.monotonic()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with lock:
                if all(r in arrivals for r in acked):
                    break
            time.sleep(0.05)
        with lock:
            lat = sorted(arrivals[r] - t for r, t in acked.items() if r in arrivals)
        missing = len(acked) - len(lat)
        pct = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] * 1000 if lat else float("nan")
        print("WEBHOOK_LATENCY n=%d rate=%.0f/s delivered=%d missing=%d p50_ms=%.0f p95_ms=%.0f "
              "p99_ms=%.0f max_ms=%.0f" % (args.n, args.rate, len(lat), missing, pct(0.5),
                                           pct(0.95), pct(0.99), lat[-1] * 1000 if lat else 0))
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
        receiver.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
