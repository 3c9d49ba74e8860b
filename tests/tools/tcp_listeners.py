"""Accepts and closes TCP connections on 127.0.0.1 ports 20000-20099: the
servers of the many-check configurations (bench/checker_load.py,
bench/memory.py, checker_lab's ten_thousand_checks_keep_the_parent_small).
Run inside a network namespace; it runs until killed.

With TCP_LISTENERS_COUNT=PATH, SIGUSR1 writes the connections accepted so
far to PATH (bench/checker_load.py counts check runs by it: the checker
sends a check's counters alone only every few seconds)."""
import os
import selectors
import signal
import socket

accepted = 0
count_path = os.environ.get("TCP_LISTENERS_COUNT")


def write_count(_sig, _frame):
    tmp = count_path + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(accepted))
    os.replace(tmp, count_path)


if count_path:
    signal.signal(signal.SIGUSR1, write_count)
sel = selectors.DefaultSelector()
for p in range(20000, 20100):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", p))
    s.listen(4096)
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ)
while True:
    for key, _ in sel.select():
        try:
            c, _ = key.fileobj.accept()
            c.close()
            accepted += 1
        except BlockingIOError:
            pass
