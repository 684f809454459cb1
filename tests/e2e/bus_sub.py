"""A minimal NATS subscriber for test_bus.sh (standard library only).

usage: python3 bus_sub.py PORT OUT SUBJECT...

Subscribes to each SUBJECT on nats-server 127.0.0.1:PORT, writes "ready" to OUT once the server
has the subscriptions (a PING answered), then one JSON line per message:
{"subject", "msg_id" (the Nats-Msg-Id header or null), "body" (parsed JSON)}. It runs until
the server closes the connection or it is killed.
"""
import json
import socket
import sys


def main():
    port, out_path, subjects = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
    sock = socket.create_connection(("127.0.0.1", port))
    f = sock.makefile("rb")
    out = open(out_path, "w", encoding="utf-8")
    if not f.readline().startswith(b"INFO "):
        sys.exit("no INFO from the server")
    cmds = [b'CONNECT {"verbose":false,"pedantic":false,"headers":true,"protocol":1}']
    cmds += [b"SUB %s %d" % (s.encode(), i + 1) for i, s in enumerate(subjects)]
    cmds.append(b"PING")
    sock.sendall(b"\r\n".join(cmds) + b"\r\n")
    ready = False
    while True:
        line = f.readline()
        if not line:
            return
        parts = line.rstrip(b"\r\n").split()
        if not parts:
            continue
        if parts[0] == b"PING":
            sock.sendall(b"PONG\r\n")
        elif parts[0] == b"PONG" and not ready:
            ready = True
            out.write("ready\n")
            out.flush()
        elif parts[0] in (b"MSG", b"HMSG"):
            total = int(parts[-1])
            hlen = int(parts[-2]) if parts[0] == b"HMSG" else 0
            data = f.read(total + 2)[:total]
            msg_id = None
            for h in data[:hlen].decode().split("\r\n")[1:]:
                name, _, value = h.partition(":")
                if name.strip().lower() == "nats-msg-id":
                    msg_id = value.strip()
            out.write(json.dumps({"subject": parts[1].decode(), "msg_id": msg_id,
                                  "body": json.loads(data[hlen:])}) + "\n")
            out.flush()
        elif parts[0] == b"-ERR":
            sys.exit(line.decode().strip())


if __name__ == "__main__":
    main()
