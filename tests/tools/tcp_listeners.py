"""Accepts and closes TCP connections on 127.0.0.1 ports 20000-20099: the
servers of the many-check configurations (bench/checker_load.py,
bench/memory.py, checker_lab's ten_thousand_checks_keep_the_parent_small).
Run inside a network namespace; it runs until killed."""
import selectors
import socket

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
        except BlockingIOError:
            pass
