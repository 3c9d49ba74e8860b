"""upkeep conformance check plugin, in Python (componentize-py).

Behaves exactly like plugins/conformance-rust and plugins/conformance-c: the
host's conformance tests run the same cases against all three.
"""

from typing import List, Optional, Tuple

import wit_world
from componentize_py_types import Err
from wit_world.imports import host
from wit_world.imports.types import (
    CheckError_BadConfig,
    CheckError_Failed,
    Metric,
    Outcome,
    Request,
)

_ERROR_KINDS = {
    host.HostError_Denied: "denied",
    host.HostError_TimedOut: "timed-out",
    host.HostError_Io: "io",
    host.HostError_TooLarge: "too-large",
    host.HostError_Invalid: "invalid",
}


def _kind(e: Err) -> str:
    return _ERROR_KINDS.get(type(e.value), "unknown")


def _first(args: List[Tuple[str, str]], key: str) -> Optional[str]:
    for k, v in args:
        if k == key:
            return v
    return None


def _tcp(address: str, args: List[Tuple[str, str]]) -> int:
    """Sends tcp-send (default PING\\n) to address; the bytes answered."""
    payload = _first(args, "tcp-send")
    data = payload.encode() if payload is not None else b"PING\n"
    with host.tcp_connect(address) as conn:
        conn.send(data)
        return len(conn.receive(256))


def _spin() -> None:
    n = 0
    while True:
        n += 1


def _grow() -> None:
    chunks = []
    while True:
        chunk = bytearray(1 << 20)  # zero-filled, so every page is touched
        chunk[-1] = 1
        chunks.append(chunk)


class WitWorld(wit_world.WitWorld):
    def check(self, request: Request) -> Outcome:
        host.log(host.Level.DEBUG, "conformance start")
        parts: List[str] = []
        metrics: List[Metric] = []
        ok = True

        for key, value in request.args:
            try:
                if key == "http":
                    resp = host.http_get(value, [])
                    ok = ok and resp.status == 200
                    parts.append(f"http={resp.status}")
                    metrics.append(Metric("http.status", float(resp.status)))
                elif key == "tcp":
                    n = _tcp(value, request.args)
                    ok = ok and n >= 1
                    parts.append(f"tcp={n}B")
                    metrics.append(Metric("tcp.bytes", float(n)))
                elif key == "real-server":
                    rs = host.real_server()
                    if rs is None:
                        ok = False
                        parts.append("real-server=none")
                    else:
                        addr = f"[{rs.ip}]:{rs.port}" if ":" in rs.ip else f"{rs.ip}:{rs.port}"
                        n = _tcp(addr, request.args)
                        ok = ok and n >= 1
                        parts.append(f"real-server={n}B")
                        metrics.append(Metric("tcp.bytes", float(n)))
                elif key == "unix":
                    got = host.unix_exchange(value, b"show info\n")
                    ok = ok and len(got) >= 1
                    parts.append(f"unix={len(got)}B")
                    metrics.append(Metric("unix.bytes", float(len(got))))
                elif key == "file":
                    got = host.read_file(value)
                    parts.append(f"file={len(got)}B")
                    metrics.append(Metric("file.bytes", float(len(got))))
                elif key == "process":
                    count = host.process_count(value)
                    ok = ok and count >= 1
                    parts.append(f"process={count}")
                    metrics.append(Metric("process.count", float(count)))
                elif key == "tcp-send":
                    pass
                elif key == "log":
                    # A decimal u32, digits only (no sign, no spaces).
                    if not (value.isascii() and value.isdigit()) or int(value) > 0xFFFFFFFF:
                        raise Err(CheckError_BadConfig(f"log wants a count, not {value}"))
                    n = int(value)
                    for i in range(n):
                        host.log(host.Level.INFO, f"line {i}")
                    parts.append(f"log={n}")
                elif key == "spin":
                    _spin()
                elif key == "grow":
                    _grow()
                elif key == "trap":
                    # Not an Err: componentize-py turns an uncaught exception
                    # into a trap.
                    raise RuntimeError("trap requested")
                else:
                    raise Err(CheckError_BadConfig(f"unknown arg {key}"))
            except Err as e:
                if not isinstance(e.value, tuple(_ERROR_KINDS)):
                    raise  # a check-error for the host, not a host-error
                ok = False
                parts.append(f"{key}=error:{_kind(e)}")

        first = host.monotonic_now()
        second = host.monotonic_now()
        if second < first:
            raise Err(CheckError_Failed("clock went backwards"))
        metrics.append(Metric("args", float(len(request.args))))
        return Outcome(ok, " ".join(parts), metrics)
