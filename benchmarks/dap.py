"""A DAP session as the benchmark runs it (benchmarks/run.py): initialize ->
launch/attach (program + coreFile) -> configurationDone -> stopped -> threads
-> stackTrace of the stopped thread. Time to the first stackTrace response
and the adapter's peak RSS (VmHWM)."""
import json
import os
import statistics
import subprocess
import time


def session(argv, launch_cmd, args, timeout=120, env=None):
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
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
    with open(f"/proc/{p.pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime
    try:
        send("disconnect", {"terminateDebuggee": False})
        p.wait(timeout=10)
    except Exception:
        p.kill()
    return elapsed, cpu, rss, frames


def measure(argv, launch_cmd, args, runs, env=None):
    """Median time to the first stackTrace, max peak RSS, over runs sessions.
    env: the adapter's environment, or a function giving it for each run
    (a fresh cache directory: a cold run)."""
    ts, cs, rs = [], [], []
    for _ in range(runs):
        t, c, r, _frames = session(argv, launch_cmd, args, env=env() if callable(env) else env)
        ts.append(t)
        cs.append(c)
        rs.append(r)
    return {"wall": statistics.median(ts), "cpu": statistics.median(cs), "rss_kib": max(rs), "exit": [0]}
