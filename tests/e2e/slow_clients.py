#!/usr/bin/env python3
"""Misbehaving clients for tests/e2e/test_limits.sh and bench/slow_clients.sh (standard
library only). Every connection goes to 127.0.0.1:PORT; --from picks the source address in
127.0.0.0/8 (all of it is local on Linux), so that "another client" is another address.
Each command prints one JSON object; waits are bounded.

  slowloris --port P --count N --from A --seconds S [--probe-from B --probes M]
      Opens N connections from A that send a request line and then one header
      line every 0.5 s for S seconds (never finishing the headers). Counts the
      ones the server closed at once (past its per-address limit), the ones it
      held, and those still open at the end (the header deadline closes them). Meanwhile a normal client at B makes M requests (GET /healthz, a
      new connection each) and counts the 200s.
  idle --port P --from A --max-wait S
      One connection that sends nothing: seconds until the server closes it.
  slowbody --port P --from A --max-wait S
      POST with Content-Length: 200 and one body byte every 0.5 s: seconds
      until the server closes it, bytes sent, and whether an answer came.
  inflight --port P --from A --hold N
      N connections send POST headers with Content-Length: 50 and no body,
      which keeps N requests in flight; then one GET /healthz from A (status,
      Retry-After and problem code); then the N are closed and GET /healthz
      is retried until it is 200 (attempts counted).
"""
import argparse
import json
import socket
import threading
import time


def connect(port, src, timeout=5.0):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    return s


def closed_now(s, wait):
    """True when the server closed s within wait seconds (EOF or reset)."""
    s.settimeout(wait)
    try:
        return s.recv(1) == b""
    except socket.timeout:
        return False
    except OSError:
        return True


def get(port, src, path="/healthz", timeout=10.0):
    """(status, headers dict, body) of one request on a new connection; status 0 on failure."""
    try:
        s = connect(port, src, timeout)
        s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % path).encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        s.close()
    except OSError:
        return 0, {}, b""
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    try:
        status = int(lines[0].split()[1])
    except (IndexError, ValueError):
        return 0, {}, b""
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return status, headers, body


def cmd_slowloris(a):
    conns, closed, errors = [], 0, 0
    for _ in range(a.count):
        try:
            s = connect(a.port, getattr(a, "from"))
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            conns.append(s)
        except OSError:
            errors += 1
    # Past the per-address limit the server closes at once; look at each with a short wait.
    held = []
    time.sleep(1.0)  # the server accepts (and refuses) them meanwhile, even when busy
    for s in conns:
        if closed_now(s, 0.001):
            closed += 1
            s.close()
        else:
            held.append(s)
    probe = {"ok": 0, "total": 0, "statuses": {}}

    def prober():
        for _ in range(a.probes):
            st, _, _ = get(a.port, a.probe_from)
            probe["total"] += 1
            probe["ok"] += st == 200
            probe["statuses"][st] = probe["statuses"].get(st, 0) + 1
            time.sleep(a.seconds / max(a.probes, 1) / 2)

    t = threading.Thread(target=prober, daemon=True)
    t.start()
    deadline = time.monotonic() + a.seconds
    n = 0
    while time.monotonic() < deadline:
        time.sleep(0.5)
        for s in list(held):
            try:
                s.sendall(b"X-Slow-%d: y\r\n" % n)
            except OSError:
                held.remove(s)
        n += 1
    t.join(a.seconds + 60)
    still = sum(1 for s in held if not closed_now(s, 0.01))
    for s in held:
        s.close()
    print(json.dumps({"opened": len(conns), "connect_errors": errors, "closed_at_once": closed,
                      "held": len(conns) - closed, "still_open_after": still,
                      "seconds": a.seconds, "probe_ok": probe["ok"],
                      "probe_total": probe["total"], "probe_statuses": probe["statuses"]}))
    return 0


def cmd_idle(a):
    s = connect(a.port, getattr(a, "from"))
    t0 = time.monotonic()
    closed = closed_now(s, a.max_wait)
    print(json.dumps({"closed": closed, "seconds": round(time.monotonic() - t0, 2)}))
    s.close()
    return 0


def cmd_slowbody(a):
    s = connect(a.port, getattr(a, "from"))
    s.sendall(b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: 200\r\n\r\n")
    t0 = time.monotonic()
    sent, answer, closed = 0, b"", False
    while time.monotonic() - t0 < a.max_wait and sent < 200:
        try:
            s.sendall(b" ")
            sent += 1
        except OSError:
            closed = True
            break
        s.settimeout(0.5)
        try:
            got = s.recv(4096)
            if not got:
                closed = True
                break
            answer += got
        except socket.timeout:
            pass
        except OSError:
            closed = True
            break
    print(json.dumps({"closed": closed, "seconds": round(time.monotonic() - t0, 2), "sent": sent,
                      "answer": answer[:40].decode("latin-1")}))
    s.close()
    return 0


def cmd_inflight(a):
    src = getattr(a, "from")
    hold = []
    for _ in range(a.hold):
        s = connect(a.port, src)
        s.sendall(b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Type: application/json\r\nContent-Length: 50\r\n\r\n")
        hold.append(s)
    time.sleep(0.5)  # the headers reach the server: these requests are in flight
    st, h, body = get(a.port, src)
    try:
        code = json.loads(body).get("code")
    except ValueError:
        code = None
    refused = {"status": st, "retry_after": h.get("retry-after"),
               "content_type": h.get("content-type"), "code": code}
    for s in hold:
        s.close()
    attempts, st2 = 0, 0
    t0 = time.monotonic()
    while time.monotonic() - t0 < 10:
        attempts += 1
        st2, _, _ = get(a.port, src)
        if st2 == 200:
            break
        time.sleep(0.1)
    print(json.dumps({"refused": refused, "after_release": st2, "attempts": attempts}))
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("slowloris", "idle", "slowbody", "inflight"):
        c = sub.add_parser(name)
        c.add_argument("--port", type=int, required=True)
        c.add_argument("--from", default="127.0.0.1")
        if name == "slowloris":
            c.add_argument("--count", type=int, default=100)
            c.add_argument("--seconds", type=float, default=5)
            c.add_argument("--probe-from", default="127.0.0.2")
            c.add_argument("--probes", type=int, default=50)
        if name in ("idle", "slowbody"):
            c.add_argument("--max-wait", type=float, default=20)
        if name == "inflight":
            c.add_argument("--hold", type=int, default=4)
    a = p.parse_args()
    return {"slowloris": cmd_slowloris, "idle": cmd_idle, "slowbody": cmd_slowbody,
            "inflight": cmd_inflight}[a.cmd](a)


if __name__ == "__main__":
    raise SystemExit(main())
