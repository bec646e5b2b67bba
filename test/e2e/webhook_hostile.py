#!/usr/bin/env python3
"""Hostile clients against the controller's webhook over TLS on loopback.

Usage: webhook_hostile.py PORT CA_FILE PID PHASE
PHASE: attack (silent connections, slow heads, partial large bodies) or
emfile (plain TCP connections that exhaust a low descriptor limit).
Prints key=value lines: connections held, RSS (kB) during and after, p99
latency (ms) of a valid AdmissionReview during and after the attack.
Every phase is bounded in connections and time.
"""
import json
import socket
import ssl
import sys
import threading
import time

PORT, CA, PID, PHASE = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
REVIEW = json.dumps({
    "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
    "request": {"uid": "e2e-hostile", "kind": {"group": "", "version": "v1", "kind": "Pod"},
                "resource": {"group": "", "version": "v1", "resource": "pods"},
                "namespace": "default", "operation": "CREATE",
                "userInfo": {"username": "e2e"},
                "object": {"apiVersion": "v1", "kind": "Pod",
                           "metadata": {"name": "p", "namespace": "default"},
                           "spec": {"containers": [{"name": "c", "image": "x"}]}}}}).encode()
REQ = (b"POST /admit/pods?timeout=10s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
       b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(REVIEW)) + REVIEW
CTX = ssl.create_default_context(cafile=CA)


def status(key):
    with open("/proc/%d/status" % PID) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def tls_connect(timeout=10):
    s = socket.create_connection(("127.0.0.1", PORT), timeout=timeout)
    return CTX.wrap_socket(s, server_hostname="127.0.0.1")


def read_response(s):
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        if not d:
            raise IOError("closed")
        buf += d
    head, _, body = buf.partition(b"\r\n\r\n")
    n = int([l.split(b":")[1] for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")][0])
    while len(body) < n:
        d = s.recv(65536)
        if not d:
            raise IOError("closed")
        body += d
    return head.split(b" ")[1], body


class Valid(threading.Thread):
    """Valid reviews every 100 ms on one keep-alive connection (as the
    apiserver keeps its connections), reconnecting when needed."""

    def __init__(self):
        super().__init__(daemon=True)
        self.lat, self.fail, self.stop = [], 0, False

    def run(self):
        s = None
        while not self.stop:
            t = time.monotonic()
            try:
                if s is None:
                    s = tls_connect()
                s.sendall(REQ)
                code, body = read_response(s)
                if code != b"200" or b'"allowed":true' not in body:
                    raise IOError("bad answer %r" % code)
                self.lat.append((time.monotonic() - t) * 1000)
            except (OSError, IOError, ssl.SSLError):
                self.fail += 1
                s = None
            time.sleep(0.1)


def p99(v):
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * 0.99))] if v else -1


def fresh_requests(n):
    """n valid reviews, each on a new connection: latencies (ms), failures."""
    lat, fail = [], 0
    for _ in range(n):
        t = time.monotonic()
        try:
            s = tls_connect()
            s.sendall(REQ)
            code, body = read_response(s)
            s.close()
            if code == b"200" and b'"allowed":true' in body:
                lat.append((time.monotonic() - t) * 1000)
                continue
        except (OSError, IOError, ssl.SSLError):
            pass
        fail += 1
    return lat, fail


def wait_closed(socks, limit_s):
    """Waits until every socket is closed by the server (or limit_s): returns
    the seconds each took (None: still open), measured from now."""
    t0, done = time.monotonic(), [None] * len(socks)
    while time.monotonic() - t0 < limit_s and None in done:
        for i, s in enumerate(socks):
            if done[i] is not None:
                continue
            try:
                s.setblocking(False)
                d = s.recv(4096)
                if not d:
                    done[i] = time.monotonic() - t0
            except (BlockingIOError, ssl.SSLWantReadError):
                pass
            except OSError:
                done[i] = time.monotonic() - t0
        time.sleep(0.05)
    return done


def out(k, v):
    print("%s=%s" % (k, v), flush=True)


def attack():
    rss_peak = 0
    valid = Valid()
    valid.start()
    time.sleep(0.5)
    # 1. slow TLS handshakes: connect, send nothing (100)
    silent = [socket.create_connection(("127.0.0.1", PORT)) for _ in range(100)]
    c = wait_closed(silent, 12)
    out("silent_closed", sum(1 for x in c if x is not None))
    out("silent_max_s", "%.1f" % max(x for x in c if x is not None))
    # 2. heads sent one byte every 2 s (300 connections)
    heads, refused = [], 0
    for _ in range(300):
        try:
            heads.append(tls_connect(timeout=3))
        except (OSError, ssl.SSLError):
            refused += 1
    head = b"POST /admit/pods HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 64
    t0, alive, held_max = time.monotonic(), list(range(len(heads))), 0
    closed_at = [None] * len(heads)
    i = 0
    while alive and time.monotonic() - t0 < 15:
        for k in list(alive):
            try:
                heads[k].setblocking(True)
                heads[k].settimeout(1)
                heads[k].send(head[i:i + 1])
                heads[k].setblocking(False)
                if heads[k].recv(4096) == b"":
                    raise OSError
            except (ssl.SSLWantReadError, BlockingIOError):
                pass
            except OSError:
                closed_at[k] = time.monotonic() - t0
                alive.remove(k)
        held_max = max(held_max, len(alive)) if i > 0 else held_max
        rss_peak = max(rss_peak, status("VmRSS"))
        i += 1
        time.sleep(2)
    out("slowhead_connections", len(heads) + refused)
    out("slowhead_held_after_first_byte", held_max)
    out("slowhead_still_open_after_15s", len(alive))
    out("slowhead_closed_max_s", "%.1f" % max([x for x in closed_at if x is not None] or [0]))
    for h in heads:
        h.close()
    # 3. partial large bodies: 100 x 2.9 MB, all but the last byte
    size = 2900 * 1000
    body = b" " * (size - 1)
    bodies, lock = [], threading.Lock()
    state = {"sent": 0, "cut": 0}

    def send_body():
        try:
            s = tls_connect()
            with lock:
                bodies.append(s)
            s.sendall(b"POST /admit/pods HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % size)
            s.sendall(body)
            with lock:
                state["sent"] += 1
        except (OSError, ssl.SSLError):
            with lock:
                state["cut"] += 1

    th = [threading.Thread(target=send_body, daemon=True) for _ in range(100)]
    for t in th:
        t.start()
    t0 = time.monotonic()
    while time.monotonic() - t0 < 14:
        rss_peak = max(rss_peak, status("VmRSS"))
        time.sleep(0.2)
    for t in th:
        t.join(5)
    out("bodies_fully_sent", state["sent"])
    out("bodies_cut", state["cut"])
    c = wait_closed(bodies, 5)
    out("bodies_open_after_deadline", sum(1 for x in c if x is None))
    for s in bodies:
        s.close()
    valid.stop = True
    valid.join(5)
    out("rss_peak_kb", rss_peak)
    out("vmhwm_kb", status("VmHWM"))
    out("valid_during_n", len(valid.lat))
    out("valid_during_failed", valid.fail)
    out("valid_during_p99_ms", "%.1f" % p99(valid.lat))
    time.sleep(1)
    lat, fail = fresh_requests(50)
    out("valid_after_n", len(lat))
    out("valid_after_failed", fail)
    out("valid_after_p99_ms", "%.1f" % p99(lat))
    out("rss_after_kb", status("VmRSS"))


def cpu_ticks():
    with open("/proc/%d/stat" % PID) as f:
        f = f.read().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])


def emfile():
    c0, t0 = cpu_ticks(), time.monotonic()
    conns = []
    for _ in range(100):
        try:
            conns.append(socket.create_connection(("127.0.0.1", PORT), timeout=2))
        except OSError:
            pass
    time.sleep(4)
    out("emfile_cpu_pct", "%.0f" % ((cpu_ticks() - c0) / 100.0 / (time.monotonic() - t0) * 100))
    out("emfile_connects", len(conns))
    for s in conns:
        s.close()
    time.sleep(2)
    lat, fail = fresh_requests(20)
    out("emfile_after_n", len(lat))
    out("emfile_after_failed", fail)
    out("emfile_after_p99_ms", "%.1f" % p99(lat))


{"attack": attack, "emfile": emfile}[PHASE]()
