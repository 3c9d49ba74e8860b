"""Host-less smoke test of the conformance plugins: runs each component under
wasmtime-py (not upkeep's host) with a fake `host` interface and compares the
outcomes of all components case by case.

    python3 -m venv target/py-smoke-venv
    target/py-smoke-venv/bin/pip install -r plugin-sdk/tool/smoke/requirements.txt
    target/py-smoke-venv/bin/python plugin-sdk/tool/smoke/smoke.py target/plugins/conformance-*.wasm

The fake host answers: http-get "http://ok/" -> 200, "http://bad/" -> 503,
anything else denied; tcp-connect "127.0.0.1:7" echoes what was sent,
"127.0.0.1:9" answers nothing (peer closed), else io; unix-exchange
"/run/ok.sock" -> "Name: HAProxy\\n", else denied; read-file "/etc/ok" ->
"hello\\n", "/big" -> too-large(1048576), else denied; process-count
"upkeep" -> 2, "none" -> 0, else timed-out; monotonic-now counts up.
"""

import sys
import time

import wasmtime
from wasmtime import component as c

TCP_RES = 1


class Calls:
    def __init__(self):
        self.logs = []
        self.conns = {}
        self.next_rep = 1
        self.clock = 1000


def err(tag, payload=None):
    return c.Variant(tag, payload) if payload is not None else c.Variant(tag)


def make_linker(engine, calls_ref):
    linker = c.Linker(engine)
    linker.add_wasip2()
    res_ty = c.ResourceType.host(TCP_RES)

    def calls():
        return calls_ref[0]

    def http_get(store, url, headers):
        if url == "http://ok/":
            r = c.Record(); r.status = 200; r.headers = [("server", "fake")]; r.body = b"ok"
            return r
        if url == "http://bad/":
            r = c.Record(); r.status = 503; r.headers = []; r.body = b""
            return r
        return err("denied", url)

    def tcp_connect(store, addr):
        if addr not in ("127.0.0.1:7", "127.0.0.1:9"):
            return err("io", "connection refused")
        k = calls()
        rep = k.next_rep; k.next_rep += 1
        k.conns[rep] = {"addr": addr, "sent": b""}
        return c.ResourceHost.own(rep, TCP_RES)

    def conn_of(store, this):
        rep = this.to_host(store).rep if isinstance(this, c.ResourceAny) else this.rep
        return calls().conns[rep]

    def send(store, this, data):
        conn_of(store, this)["sent"] += bytes(data)
        return None

    def receive(store, this, mx):
        conn = conn_of(store, this)
        if conn["addr"] == "127.0.0.1:9":
            return b""
        out, conn["sent"] = conn["sent"][:mx], conn["sent"][mx:]
        return out

    def drop(store, rep):
        calls().conns.pop(rep, None)

    def unix_exchange(store, path, req):
        if path == "/run/ok.sock" and bytes(req) == b"show info\n":
            return b"Name: HAProxy\n"
        return err("denied", path)

    def read_file(store, path):
        if path == "/etc/ok":
            return b"hello\n"
        if path == "/big":
            return err("too-large", 1 << 20)
        return err("denied", path)

    def process_count(store, name):
        if name == "upkeep":
            return 2
        if name == "none":
            return 0
        return err("timed-out")

    def monotonic_now(store):
        k = calls(); k.clock += 7
        return k.clock

    def log(store, level, msg):
        calls().logs.append((level, msg))

    with linker.root() as root:
        with root.add_instance("upkeep:check/host@0.1.0") as h:
            h.add_resource("tcp-connection", res_ty, drop)
            h.add_func("[method]tcp-connection.send", send)
            h.add_func("[method]tcp-connection.receive", receive)
            h.add_func("tcp-connect", tcp_connect)
            h.add_func("http-get", http_get)
            h.add_func("unix-exchange", unix_exchange)
            h.add_func("read-file", read_file)
            h.add_func("process-count", process_count)
            h.add_func("monotonic-now", monotonic_now)
            h.add_func("log", log)
        with root.add_instance("upkeep:check/types@0.1.0"):
            pass
    return linker


CASES = [
    [],
    [("http", "http://ok/")],
    [("http", "http://bad/")],
    [("http", "http://nope/")],
    [("tcp", "127.0.0.1:7")],
    [("tcp-send", "HELLO\r\n"), ("tcp", "127.0.0.1:7")],
    [("tcp", "127.0.0.1:9")],
    [("tcp", "127.0.0.1:1")],
    [("unix", "/run/ok.sock"), ("unix", "/run/other.sock")],
    [("file", "/etc/ok"), ("file", "/big"), ("file", "/etc/shadow")],
    [("process", "upkeep"), ("process", "none"), ("process", "slow")],
    [("log", "3")],
    [("log", "0"), ("log", "70")],
    [("log", "x")],
    [("log", "+1")],
    [("http", "http://ok/"), ("bogus", "1"), ("file", "/etc/ok")],
    [("http", "http://ok/"), ("tcp", "127.0.0.1:7"), ("unix", "/run/ok.sock"),
     ("file", "/etc/ok"), ("process", "upkeep"), ("log", "2"), ("tcp-send", "X")],
    [("trap", "")],
    [("spin", "")],
    [("grow", "")],
]


def show(v):
    if isinstance(v, c.Variant):
        return f"Err({v.tag}: {v.payload!r})"
    if isinstance(v, c.Record):
        ms = ", ".join(f"{m.name}={m.value:g}" for m in v.metrics)
        return f"Ok(pass={getattr(v, 'pass')}, message={v.message!r}, metrics=[{ms}])"
    return repr(v)


def run_case(engine, comp, linker, calls_ref, args):
    k = Calls(); calls_ref[0] = k
    store = wasmtime.Store(engine)
    store.set_wasi(wasmtime.WasiConfig())
    store.set_limits(memory_size=64 << 20)
    store.set_fuel(2_000_000_000)
    try:
        inst = linker.instantiate(store, comp)
        f = inst.get_func(store, "check")
        req = c.Record(); req.name = "smoke"; req.args = args; setattr(req, "timeout-ms", 1000)
        out = show(f(store, req))
    except wasmtime.WasmtimeError as e:
        msg = str(e).splitlines()[0]
        if "fuel" in str(e):
            msg = "trap: all fuel consumed"
        elif "unreachable" in str(e):
            msg = "trap: unreachable"
        out = f"TRAP {msg}"
    logs = [f"{lv}:{m}" for lv, m in k.logs]
    return out, logs


def main(paths):
    cfg = wasmtime.Config()
    cfg.consume_fuel = True
    engine = wasmtime.Engine(cfg)
    calls_ref = [None]
    linker = make_linker(engine, calls_ref)
    comps = {}
    for p in paths:
        t = time.time()
        comps[p] = c.Component.from_file(engine, p)
        print(f"compiled {p} in {time.time() - t:.1f}s", file=sys.stderr)
    bad = 0
    for args in CASES:
        results = {}
        for p, comp in comps.items():
            t = time.time()
            results[p] = run_case(engine, comp, linker, calls_ref, args)
            results[p] += (time.time() - t,)
        first = next(iter(results.values()))
        same = all(r[:2] == first[:2] for r in results.values())
        bad += not same
        print(f"{'ok  ' if same else 'DIFF'} args={args}")
        for p, (out, logs, dt) in results.items():
            if not same or p == paths[0]:
                print(f"     {p.rsplit('/', 1)[-1]} ({dt:.2f}s): {out}")
                print(f"       logs: {logs[:4]}{' ...' if len(logs) > 4 else ''} ({len(logs)})")
    print(f"{len(CASES) - bad} passed, {bad} failed")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
