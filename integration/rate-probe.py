#!/usr/bin/python3
"""Measures TCP throughput for the bandwidth tests, between namespaces of the test's own.

  rate-probe.py recv PORT          accepts one connection, prints bytes/s received from 0.5 s
                                   to 2.5 s after it started (after the token bucket's burst)
  rate-probe.py send HOST PORT     sends as fast as it can for 3.2 s
"""
import socket
import sys
import time

if sys.argv[1] == "recv":
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("0.0.0.0", int(sys.argv[2])))
    server.listen(1)
    server.settimeout(10)
    connection, _ = server.accept()
    connection.settimeout(5)
    start = time.time()
    counted, window_start = 0, None
    while True:
        data = connection.recv(65536)
        if not data:
            break
        now = time.time() - start
        if now >= 0.5 and window_start is None:
            window_start, counted = now, 0
        counted += len(data)
        if now >= 2.5:
            break
    elapsed = (time.time() - start) - (window_start or 0)
    print(int(counted / elapsed) if elapsed > 0 else 0)
else:
    sender = socket.create_connection((sys.argv[2], int(sys.argv[3])), timeout=5)
    end, block = time.time() + 3.2, b"\0" * 65536
    try:
        while time.time() < end:
            sender.sendall(block)
    except OSError:
        pass
