#!/usr/bin/env python3
"""dsecore side by side with gdb, eu-stack and lldb on the same cores.

    benchmarks/run.py [--quick] [--runs N] [--cache DIR] [--out DIR]

Runs each tool on the same core in the same run and reports wall time
(median of N runs), CPU time (user+system, median) and peak RSS (max), with
ratios to dsecore, for:

  first answer  the crashing thread's stack with inline frames:
                dsecore bt / gdb -batch -ex bt / eu-stack -i -s (it has no
                one-thread mode for cores) / lldb-16 -o bt
  everything    all threads (and, for dsecore, all tasks): dsecore bt --all
                --all-tasks / gdb "thread apply all bt" / eu-stack -i -s /
                lldb-16 "thread backtrace all"
  DAP           launch to the first stackTrace response: dsecore dap /
                lldb-vscode-16 (same request sequence)
  batch         the fixture cores of one build: dsecore summarize / a loop of
                gdb -batch -ex bt, one per core
  scaling       the scale fixture (fixtures/scale.sh) with 512 MiB and 4 GiB
                of heap, and with 10 MiB and 100 MiB of DWARF in libdcache.so

The scale cores are generated on first use into --cache (default
build/scale; minutes and about 6 GB the first time, reused afterwards).
--quick measures the default fixtures only (field-crash, large and the small
scale configuration), in about a minute.

Writes OUT/RESULTS.md (default benchmarks/), OUT/results.json and, through
`go run ./benchmarks/plot`, OUT/scaling.png. It measures; it never asserts.
"""
import argparse
import datetime
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import dap  # noqa: E402  (benchmarks/dap.py)


def run_once(argv, timeout=1800):
    """Runs argv; returns (wall s, cpu s, peak RSS KiB, exit code)."""
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    deadline = t0 + timeout
    while True:
        pid, status, ru = os.wait4(p.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            p.kill()
            pid, status, ru = os.wait4(p.pid, 0)
            break
        time.sleep(0.005)
    wall = time.monotonic() - t0
    return wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss, os.waitstatus_to_exitcode(status)


def measure(argvs, runs):
    """Runs a command (or a list of commands in a row, timed as one) runs
    times: median wall, median CPU, max RSS."""
    if isinstance(argvs[0], str):
        argvs = [argvs]
    walls, cpus, rss, codes = [], [], 0, set()
    for _ in range(runs):
        w = c = 0.0
        for argv in argvs:
            ww, cc, mm, code = run_once(argv)
            w, c, rss = w + ww, c + cc, max(rss, mm)
            codes.add(code)
        walls.append(w)
        cpus.append(c)
    return {"wall": statistics.median(walls), "cpu": statistics.median(cpus), "rss_kib": rss, "exit": sorted(codes)}


def tool_versions(tools):
    out = {"dsecore": "git " + subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()}
    for pkg in ("lldb-16",):
        v = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", pkg], capture_output=True, text=True).stdout.strip()
        if v:
            out[pkg + " (lldb-vscode-16)"] = v
    for name, argv in tools.items():
        if not argv:
            continue
        try:
            v = subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout.strip().splitlines()
            out[name] = v[0] if v else "?"
        except (OSError, subprocess.TimeoutExpired):
            out[name] = "not found"
    return out


def fixture_dir():
    return subprocess.run(["go", "run", "./internal/fixture/fixturectl"], cwd=ROOT, check=True,
                          capture_output=True, text=True).stdout.strip().splitlines()[-1]


def scale_core(cache, dwarf_mb, heap_mb):
    d = os.path.join(cache, f"dwarf-{dwarf_mb}")
    core = os.path.join(d, f"heap-{heap_mb}", "core")
    if not os.path.exists(core):
        subprocess.run([os.path.join(ROOT, "fixtures", "scale.sh"), d, str(dwarf_mb), str(heap_mb)], check=True)
    lib = os.path.join(d, "bin", "libdcache.so")
    out = subprocess.run(["size", "-A", lib], capture_output=True, text=True).stdout
    actual = sum(int(l.split()[1]) for l in out.splitlines() if l.startswith(".debug")) / 2**20
    return {"name": f"scale: DWARF {actual:.0f} MiB, heap {heap_mb} MiB", "core": core,
            "exe": os.path.join(d, "bin", "ceph-dse"), "dwarf_mb": dwarf_mb, "dwarf_mib": round(actual, 1), "heap_mb": heap_mb}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="the default fixtures only")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--cache", default=os.path.join(ROOT, "build", "scale"))
    ap.add_argument("--out", default=HERE)
    a = ap.parse_args()

    dsecore = os.environ.get("DSECORE", os.path.join(ROOT, "bin", "dsecore"))
    subprocess.run(["go", "build", "-o", dsecore, "./cmd/dsecore"], cwd=ROOT, check=True)
    lldb = shutil.which("lldb-16") or shutil.which("lldb")
    lldb_dap = shutil.which("lldb-vscode-16") or shutil.which("lldb-dap-16") or shutil.which("lldb-vscode")
    for need in ("gdb", "eu-stack"):
        if not shutil.which(need):
            sys.exit(f"bench: {need} is missing (scripts/setup.sh installs it)")

    fx = fixture_dir()
    cores = [
        {"name": "field-crash", "core": f"{fx}/field-crash/core", "exe": f"{fx}/bin/ceph-dse"},
        {"name": "large (64 Processers, 10,000 tasks)", "core": f"{fx}/large/core", "exe": f"{fx}/bin/ceph-dse"},
        {"name": "scale-small (4 MiB DWARF, 1,000 deep tasks)", "core": f"{fx}/scale-small/heap-128/core",
         "exe": f"{fx}/scale-small/bin/ceph-dse", "dwarf_mb": 4, "heap_mb": 128},
    ]
    if not a.quick:
        cores += [scale_core(a.cache, 10, 512), scale_core(a.cache, 100, 512), scale_core(a.cache, 100, 4096)]

    results = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
               "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                           "cpu": next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?"),
                           "mem_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)},
               "versions": tool_versions({"gdb": ["gdb", "--version"], "eu-stack": ["eu-stack", "--version"],
                                          "lldb": [lldb, "--version"] if lldb else None}),
               "runs": a.runs, "rows": []}

    def add(core, category, tool, m, note=""):
        row = {"core": core["name"], "category": category, "tool": tool, "note": note,
               "core_mib": round(os.path.getsize(core["core"]) / 2**20) if "core" in core else 0,
               "dwarf_mb": core.get("dwarf_mb"), "dwarf_mib": core.get("dwarf_mib", 0), "heap_mb": core.get("heap_mb"), **m}
        results["rows"].append(row)
        print(f"{row['core']:45} {category:13} {tool:28} {m['wall']:8.3f} s {m['cpu']:8.3f} s cpu {m['rss_kib'] / 1024:8.1f} MiB", flush=True)

    for c in cores:
        core, exe = c["core"], c["exe"]
        add(c, "first answer", "dsecore bt", measure([dsecore, "bt", core, "--exe", exe], a.runs))
        add(c, "first answer", "gdb bt", measure(["gdb", "-nx", "-batch", "-ex", "bt", exe, core], a.runs))
        # eu-stack has no one-thread mode for cores (-1 needs -p): its first
        # answer is every thread.
        add(c, "first answer", "eu-stack -i -s", measure(["eu-stack", "-i", "-s", f"--core={core}", f"--executable={exe}"], a.runs), "all threads")
        if lldb:
            add(c, "first answer", "lldb-16 bt", measure([lldb, "--batch", "-c", core, exe, "-o", "bt"], a.runs))
        add(c, "everything", "dsecore bt --all --all-tasks", measure([dsecore, "bt", core, "--exe", exe, "--all", "--all-tasks"], a.runs), "threads and tasks")
        add(c, "everything", "dsecore bt --all", measure([dsecore, "bt", core, "--exe", exe, "--all"], a.runs), "threads only")
        add(c, "everything", "gdb thread apply all bt", measure(["gdb", "-nx", "-batch", "-ex", "set pagination off", "-ex", "thread apply all bt", exe, core], a.runs), "threads only")
        add(c, "everything", "eu-stack -i -s", measure(["eu-stack", "-i", "-s", f"--core={core}", f"--executable={exe}"], a.runs), "threads only")
        if lldb:
            add(c, "everything", "lldb-16 thread backtrace all", measure([lldb, "--batch", "-c", core, exe, "-o", "thread backtrace all"], a.runs), "threads only")
        add(c, "DAP", "dsecore dap", dap.measure([dsecore, "dap"], "launch", {"coreFile": core, "program": exe}, a.runs))
        if lldb_dap:
            add(c, "DAP", "lldb-vscode-16", dap.measure([lldb_dap], "attach", {"coreFile": core, "program": exe}, a.runs))

    # Batch: the fixture cores of one build.
    batch = [f"{fx}/{s}/core" for s in ("field-crash", "field-crash-2", "field-crash-3", "no-handler", "abort", "use-after-free", "large")]
    bc = {"name": f"batch of {len(batch)} fixture cores"}
    with tempfile.TemporaryDirectory() as tmp:
        runs = []
        for i in range(a.runs):  # a fresh result cache each run: nothing reused
            runs.append([dsecore, "summarize", "--cache-dir", os.path.join(tmp, str(i)), "--solib-search-path", f"{fx}/bin", "--format", "json", *batch])
        walls, cpus, rss = [], [], 0
        for argv in runs:
            w, cpu, m, _ = run_once(argv)
            walls.append(w), cpus.append(cpu)
            rss = max(rss, m)
        add(bc, "batch", "dsecore summarize", {"wall": statistics.median(walls), "cpu": statistics.median(cpus), "rss_kib": rss, "exit": [0]})
    add(bc, "batch", "gdb -batch bt, one per core", measure([["gdb", "-nx", "-batch", "-ex", "bt", f"{fx}/bin/ceph-dse", c] for c in batch], a.runs))

    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    write_markdown(results, os.path.join(a.out, "RESULTS.md"), quick=a.quick)
    subprocess.run(["go", "run", "./benchmarks/plot", os.path.join(a.out, "results.json"), os.path.join(a.out, "scaling.png")], cwd=ROOT, check=True)
    print(f"wrote {a.out}/RESULTS.md, results.json, scaling.png")


def write_markdown(res, path, quick):
    rows = res["rows"]
    L = ["# dsecore benchmarks", "",
         f"Measured {res['date']} by `benchmarks/run.py{' --quick' if quick else ''}` (`make bench`), "
         f"median of {res['runs']} runs; CPU is user+system; RSS is the peak of the process (of the adapter for DAP).",
         "Ratios are the tool's figure over dsecore's on the same core in the same run: above 1, dsecore is faster or smaller.",
         "eu-stack has no one-thread mode for cores (`-1` needs `-p`): its first answer is every thread; it exits 1 when a thread's",
         "unwinding ends in an error (here `dwfl_thread_getframes … address out of range` past the bottom of a coroutine stack).", "",
         f"Machine: {res['machine']['cpus']} CPUs ({res['machine']['cpu']}), {res['machine']['mem_gib']} GiB, {res['machine']['platform']}.", "",
         "Versions: " + "; ".join(f"{k}: {v}" for k, v in res["versions"].items()), ""]
    base_tool = {"first answer": "dsecore bt", "everything": "dsecore bt --all --all-tasks", "DAP": "dsecore dap", "batch": "dsecore summarize"}
    for cat in ("first answer", "everything", "DAP", "batch"):
        L += [f"## {cat}", "", "| core | core MiB | tool | wall s | CPU s | peak RSS MiB | time / dsecore | RSS / dsecore | |",
              "|---|---|---|---|---|---|---|---|---|"]
        for core in dict.fromkeys(r["core"] for r in rows if r["category"] == cat):
            rs = [r for r in rows if r["category"] == cat and r["core"] == core]
            base = next((r for r in rs if r["tool"] == base_tool[cat]), rs[0])
            for r in rs:
                note = r["note"] + ("" if r["exit"] == [0] else f" exit {r['exit']}")
                L.append(f"| {core} | {r['core_mib'] or ''} | {r['tool']} | {r['wall']:.3f} | {r['cpu']:.3f} | {r['rss_kib'] / 1024:.1f} | "
                         f"{r['wall'] / base['wall']:.2f} | {r['rss_kib'] / base['rss_kib']:.2f} | {note} |")
        L.append("")
    L += ["## Scaling", "", "![time against core size and DWARF size](scaling.png)", "",
          "| tool | category | heap 512 MiB → 4 GiB (DWARF 100 MiB) | DWARF 10 → 100 MiB (heap 512 MiB) |", "|---|---|---|---|"]
    for cat in ("first answer", "everything", "DAP"):
        for tool in dict.fromkeys(r["tool"] for r in rows if r["category"] == cat):
            pick = lambda d, h: next((r["wall"] for r in rows if r["category"] == cat and r["tool"] == tool and r["dwarf_mb"] == d and r["heap_mb"] == h), None)
            heap = (pick(100, 512), pick(100, 4096))
            dw = (pick(10, 512), pick(100, 512))
            cell = lambda p: f"{p[0]:.3f} → {p[1]:.3f} s (×{p[1] / p[0]:.2f})" if None not in p else "not measured"
            L.append(f"| {tool} | {cat} | {cell(heap)} | {cell(dw)} |")
    L += ["", "## Targets (issue 9), on the largest core measured", ""] + targets(rows)
    with open(path, "w") as f:
        f.write("\n".join(L))


def targets(rows):
    """The issue's targets, each with the measured ratio and met / NOT met."""
    sized = [r for r in rows if r.get("core_mib")]
    if not sized:
        return []
    big = max(sized, key=lambda r: r["core_mib"])["core"]

    def get(cat, tool, core=big, key="wall"):
        return next((r[key] for r in rows if r["category"] == cat and r["tool"] == tool and r["core"] == core), None)

    out = []

    def check(what, ours, theirs, want):
        if ours is None or theirs is None:
            out.append(f"- {what}: not measured")
            return
        ratio = theirs / ours
        out.append(f"- {what}: ×{ratio:.2f} (target ×{want:g}): {'met' if ratio >= want else '**NOT met**'}")

    check("first answer vs gdb", get("first answer", "dsecore bt"), get("first answer", "gdb bt"), 10)
    check("first answer vs eu-stack", get("first answer", "dsecore bt"), get("first answer", "eu-stack -i -s"), 1)
    check("all threads + all tasks vs gdb's thread apply all bt", get("everything", "dsecore bt --all --all-tasks"),
          get("everything", "gdb thread apply all bt"), 5)
    check("all threads, like for like (dsecore bt --all) vs gdb's thread apply all bt", get("everything", "dsecore bt --all"),
          get("everything", "gdb thread apply all bt"), 5)
    check("DAP launch → first stackTrace vs lldb-vscode-16", get("DAP", "dsecore dap"), get("DAP", "lldb-vscode-16"), 5)
    for tool in ("gdb bt", "eu-stack -i -s", "lldb-16 bt"):
        check(f"peak RSS, first answer, vs {tool}", get("first answer", "dsecore bt", key="rss_kib"),
              get("first answer", tool, key="rss_kib"), 1)
    check("peak RSS, DAP, vs lldb-vscode-16", get("DAP", "dsecore dap", key="rss_kib"), get("DAP", "lldb-vscode-16", key="rss_kib"), 1)
    check("peak RSS, all threads, vs gdb", get("everything", "dsecore bt --all", key="rss_kib"),
          get("everything", "gdb thread apply all bt", key="rss_kib"), 1)
    small = next((r for r in rows if r["dwarf_mb"] == 100 and r["heap_mb"] == 512), None)
    large = next((r for r in rows if r["dwarf_mb"] == 100 and r["heap_mb"] == 4096), None)
    if small and large:
        for cat, tool in (("first answer", "dsecore bt"), ("everything", "dsecore bt --all --all-tasks")):
            a = get(cat, tool, small["core"])
            b = get(cat, tool, large["core"])
            ra = get(cat, tool, large["core"], "rss_kib") / get(cat, tool, small["core"], "rss_kib")
            out.append(f"- {tool}: time with 4 GiB of heap over 512 MiB ×{b / a:.2f} (target ≤ ×1.2): "
                       f"{'met' if b / a <= 1.2 else '**NOT met**'}; RSS ×{ra:.2f}")
    return out + [""]


if __name__ == "__main__":
    main()
