#!/usr/bin/env python3
"""A TCP proxy the e2e fault tests put between the controller and the
apiserver, to make the apiserver unreachable on demand.

    tcp-proxy.py LISTEN_PORT TARGET_PORT CONTROL_FILE [HOST]

Listens on HOST:LISTEN_PORT and forwards every connection to
HOST:TARGET_PORT (HOST defaults to 127.0.0.1; bytes as they are; TLS passes through). The first
word of CONTROL_FILE, read every 100 ms, sets the mode:

    run     forward (also when the file is missing or empty)
    pause   accept nothing new, forward nothing: open connections stall
            (their bytes wait in the proxy and the kernel buffers)
    cut     close every connection and refuse new ones (reset)

Going back to run resumes stalled connections where they were. Single
threaded (select), bounded buffers (1 MiB per direction).
"""
import os
import select
import socket
import sys

BUF = 1 << 20


def mode_of(path):
    try:
        with open(path) as f:
            w = f.read().split()
            return w[0] if w else "run"
    except OSError:
        return "run"


def main():
    lport, tport, ctl = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    host = sys.argv[4] if len(sys.argv) > 4 else "127.0.0.1"
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((host, lport))
    ls.listen(128)
    ls.setblocking(False)
    peer = {}  # socket -> its peer
    pend = {}  # socket -> bytes waiting to be written to it
    mode = "run"

    def close(s):
        for x in (s, peer.get(s)):
            if x is None:
                continue
            peer.pop(x, None)
            pend.pop(x, None)
            try:
                x.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
                x.close()
            except OSError:
                pass

    while True:
        m = mode_of(ctl)
        if m != mode:
            mode = m
            if mode == "cut":
                for s in list(peer):
                    close(s)
        rd = [] if mode == "pause" else [s for s in peer if len(pend.get(peer[s], b"")) < BUF]
        if mode == "run":
            rd.append(ls)
        wr = [] if mode == "pause" else [s for s in peer if pend.get(s)]
        try:
            r, w, _ = select.select(rd, wr, [], 0.1)
        except (OSError, ValueError):
            continue
        if mode == "cut":
            # Refuse: accept and reset at once.
            try:
                while True:
                    c, _ = ls.accept()
                    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
                    c.close()
            except OSError:
                pass
        for s in r:
            if s is ls:
                try:
                    c, _ = ls.accept()
                except OSError:
                    continue
                t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                try:
                    t.connect((host, tport))
                except OSError:
                    c.close()
                    t.close()
                    continue
                c.setblocking(False)
                t.setblocking(False)
                peer[c], peer[t] = t, c
                continue
            if s not in peer:
                continue
            try:
                data = s.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:
                close(s)
                continue
            p = peer[s]
            pend[p] = pend.get(p, b"") + data
        for s in w:
            if s not in peer or not pend.get(s):
                continue
            try:
                n = s.send(pend[s])
                pend[s] = pend[s][n:]
            except BlockingIOError:
                pass
            except OSError:
                close(s)


if __name__ == "__main__":
    main()
