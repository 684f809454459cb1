#!/usr/bin/env python3
"""Measure Rapport start-up: time from exec to the "serving" line on stdout and
to the first 200 from GET /readyz, plus VmRSS right after. Each run starts the
server, measures, and stops it by PID.

    bench/startup.py --rapport build/release/rapport --db FILE [--runs 5] [--port 18099]

Prints one line per run and a final "STARTUP" line with medians. Standard
library only.
"""
import argparse
import http.client
import os
import select
import signal
import statistics
import subprocess
import sys
import time


def vmrss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def one_run(rapport, db, port):
    t0 = time.perf_counter()
    p = subprocess.Popen([rapport, "serve", "--db", db, "--listen", "127.0.0.1:%d" % port,
                          "--no-access-log"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    serving = ready = None
    buf = b""
    try:
        deadline = t0 + 30
        while time.perf_counter() < deadline and ready is None:
            if serving is None:
                r, _, _ = select.select([p.stdout], [], [], 0.0005)
                if r:
                    chunk = os.read(p.stdout.fileno(), 4096)
                    buf += chunk
                    if b"serving" in buf:
                        serving = time.perf_counter() - t0
            if p.poll() is not None:
                sys.exit("server exited with %d during start-up" % p.returncode)
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                c.request("GET", "/readyz")
                if c.getresponse().status == 200:
                    ready = time.perf_counter() - t0
                c.close()
            except OSError:
                time.sleep(0.0005)
        rss = vmrss_kb(p.pid)
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    if ready is None:
        sys.exit("server did not become ready within 30 s")
    return serving if serving is not None else float("nan"), ready, rss


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rapport", default="build/release/rapport")
    ap.add_argument("--db", required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--port", type=int, default=18099)
    a = ap.parse_args()
    s_all, r_all, m_all = [], [], []
    for i in range(a.runs):
        s, r, m = one_run(a.rapport, a.db, a.port)
        print("run %d: serving line %.1f ms, /readyz 200 %.1f ms, VmRSS %.1f MB"
              % (i + 1, s * 1000, r * 1000, m / 1024), flush=True)
        s_all.append(s)
        r_all.append(r)
        m_all.append(m)
    print("STARTUP serving_ms=%.1f ready_ms=%.1f ready_max_ms=%.1f rss_mb=%.1f"
          % (statistics.median(s_all) * 1000, statistics.median(r_all) * 1000,
             max(r_all) * 1000, statistics.median(m_all) / 1024))


if __name__ == "__main__":
    main()
