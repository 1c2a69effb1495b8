#!/usr/bin/env python3
"""Benchmark DAP servers on the same core with the same request sequence:
initialize -> launch/attach (program + coreFile) -> configurationDone ->
stopped -> threads -> stackTrace of the stopped thread. Reports the time to
the first stackTrace response and the adapter's peak RSS (VmHWM), median of
RUNS, as a markdown table with ratios to dsecore. It measures; it never
asserts a time.

    scripts/bench-dap.py FIXTURE_DIR [RUNS]      (make bench-dap does this)
"""
import json
import os
import shutil
import statistics
import subprocess
import sys
import time


def session(argv, launch_cmd, args, timeout=120):
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    seq = [0]

    def send(cmd, arguments=None):
        seq[0] += 1
        body = json.dumps({"seq": seq[0], "type": "request", "command": cmd, "arguments": arguments or {}}).encode()
        p.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        p.stdin.flush()
        return seq[0]

    def read():
        length = 0
        while True:
            line = p.stdout.readline()
            if not line:
                raise EOFError("adapter closed its output")
            line = line.strip()
            if not line:
                break
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        return json.loads(p.stdout.read(length))

    def until(pred):
        deadline = time.time() + timeout
        while time.time() < deadline:
            m = read()
            if pred(m):
                return m
        raise TimeoutError

    t0 = time.monotonic()
    s = send("initialize", {"adapterID": "bench", "linesStartAt1": True, "columnsStartAt1": True})
    until(lambda m: m.get("request_seq") == s)
    s = send(launch_cmd, args)
    until(lambda m: m.get("request_seq") == s)
    s = send("configurationDone")
    stopped = until(lambda m: m.get("event") == "stopped")
    tid = stopped["body"].get("threadId")
    s = send("threads")
    th = until(lambda m: m.get("request_seq") == s)
    if tid is None:
        tid = th["body"]["threads"][0]["id"]
    s = send("stackTrace", {"threadId": tid, "startFrame": 0, "levels": 20})
    st = until(lambda m: m.get("request_seq") == s)
    elapsed = time.monotonic() - t0
    frames = [f["name"] for f in st["body"]["stackFrames"]]
    rss = 0
    with open(f"/proc/{p.pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                rss = int(line.split()[1])
    try:
        send("disconnect", {"terminateDebuggee": False})
        p.wait(timeout=10)
    except Exception:
        p.kill()
    return elapsed, rss, frames


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    d = sys.argv[1]
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    dsecore = os.environ.get("DSECORE", os.path.join(here, "bin", "dsecore"))
    lldb = shutil.which("lldb-vscode-16") or shutil.which("lldb-dap-16") or shutil.which("lldb-vscode")
    print(f"| core | adapter | to first stackTrace s (median of {runs}) | peak RSS MiB | time / dsecore | RSS / dsecore | frames shown |")
    print("|---|---|---|---|---|---|---|")
    for sc in ["field-crash", "large"]:
        core = os.path.join(d, sc, "core")
        exe = os.path.join(d, "bin", "ceph-dse")
        if not os.path.exists(core):
            continue
        adapters = [("dsecore dap", [dsecore, "dap"], "launch", {"coreFile": core, "program": exe})]
        if lldb:
            adapters.append(("lldb-vscode-16", [lldb], "attach", {"program": exe, "coreFile": core}))
        base = None
        for name, argv, cmd, args in adapters:
            ts, rs, frames = [], [], []
            for _ in range(runs):
                t, r, frames = session(argv, cmd, args)
                ts.append(t)
                rs.append(r)
            t, r = statistics.median(ts), max(rs)
            if base is None:
                base = (t, r)
            print(f"| {sc} | {name} | {t:.3f} | {r / 1024:.1f} | {t / base[0]:.2f} | {r / base[1]:.2f} | {len(frames)}: {' / '.join(frames[:6])} |")


if __name__ == "__main__":
    main()
