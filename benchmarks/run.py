#!/usr/bin/env python3
"""dsecore side by side with gdb, eu-stack and lldb on the same cores.

    benchmarks/run.py [--quick] [--cores NAME,…] [--runs N] [--cache DIR] [--ceph-corpus DIR] [--out DIR]
                      [--libgo-core DIR] [--batch-cores DIR] [--gdb-sample N]

Runs each tool on the same core in the same run and reports wall time
(median of N runs), CPU time (user+system, median) and peak RSS (max), with
ratios to dsecore, for:

  first answer  the crashing thread's stack with inline frames:
                dsecore bt / gdb -batch -ex bt / eu-stack -i -s (it has no
                one-thread mode for cores) / lldb-16 -o bt
  everything    all threads (and, for dsecore, all tasks): dsecore bt --all
                --all-tasks / gdb "thread apply all bt" / eu-stack -i -s /
                lldb-16 "thread backtrace all"; and dsecore waits (the wait
                graph: it unwinds every thread and task too)
  DAP           launch to the first stackTrace response: dsecore dap /
                lldb-vscode-16 (same request sequence)
  batch         the fixture cores of one build, and 100 more of its scenarios:
                dsecore summarize / a loop of gdb -batch -ex bt, one per core;
                issue 29's 1,000 small cores of one build and 1,000 across 10
                builds (fixtures/batch/cores.sh, made into --batch-cores on
                first use: ~2 minutes, ~4.5 GB), summarize cold, checked
                against the cores' truth (one group per crash kind), beside
                the gdb loop timed over --gdb-sample cores (default 100, 0:
                all) and scaled; cores per second and per CPU-second
  scaling       the scale fixture (fixtures/scale.sh) with 512 MiB and 4 GiB
                of heap, and with 10 MiB and 100 MiB of DWARF in libdcache.so
  debug info    the field crash as the field ships its debug information
                (fixtures/variants: dwz in place, dwz --dwarf-5, Fedora's and
                Debian's layouts, split DWARF with .dwo files, .dwp packages
                of g++ and clang): the first answer only, dsecore warm and
                cold beside gdb bt and eu-stack -i -s, each told of the
                variant's debug-file directory (--variants-only measures
                these alone and keeps the other rows from results.json)

The independent 10,000-task shape: a program built from upstream libgo's
sources (github.com/yyzybb537/libgo, not the fixture runtime) with 10,000
idle tasks waiting on a channel nobody feeds on 4 Processer threads; one
more task writes the program's truth and crashes (SIGSEGV; a 10 GiB sparse
core). Neither the program nor a recipe that builds upstream libgo is in
this repository (code fetched from elsewhere, and what builds it, is not
committed): --libgo-core DIR (default $DSECORE_LIBGO_CORE, else
build/libgo-upstream) names a directory with its core and truth.json, which
the program writes before it crashes: {"exe": path, "processers": N,
"idle_tasks": N, "tasks": N, "task_ids": [every task's id]}. Its rows run
dsecore with --profile libgo-v3 (DAP: "profile": "libgo-v3"), and dsecore
bt --all --all-tasks --json must find every id (as it must find the large
fixture's 10,007 tasks). Without the directory its rows are the previous
run's. The bench is not part of CI.

dsecore is measured twice: warm (its cache directory, $XDG_CACHE_HOME/dsecore,
filled by one untimed run first: inflated DWARF, unit and symbol indexes) and
cold (a fresh, empty cache directory for every run). Both use a cache of the
benchmark's own, never the user's. The page cache is warm for every tool.

The real-daemon corpus (fixtures/ceph/corpus.sh: cores of Debian's ceph-mon,
no coroutines) adds a row per scenario: --ceph-corpus DIR (default
$DSECORE_CEPH_CORPUS, else build/ceph-corpus, made there on first use).

For each core, dsecore's first answer is also profiled (--cpuprofile, ten
runs merged, warm and cold): the top 5 cumulative entries below the command
itself go into RESULTS.md.

Rows of cores this run did not measure (--quick leaves the scale cores out)
are kept from the previous results.json, marked with the run they are from.
--cores measures only the cores whose names start with one of the given
prefixes ("large", "ceph-mon", "upstream", "batch of 1,000"): the other
cores' rows, the batches and the task-unwind figures are kept from the
previous results.json.

The scale cores are generated on first use into --cache (default
build/scale; minutes and about 6 GB the first time, reused afterwards).
--quick measures the default fixtures (field-crash, large and the small
scale configuration), the upstream-libgo core when there is one, the Ceph
corpus and the batches, in about a quarter of an hour (the 1,000-core
batches' gdb loops are about three minutes of it).

Writes OUT/RESULTS.md (default benchmarks/), OUT/results.json and, through
`go run ./benchmarks/plot`, OUT/scaling.png. It measures; it never asserts.
"""
import argparse
import datetime
import fcntl
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import dap  # noqa: E402  (benchmarks/dap.py)


def run_once(argv, timeout=1800, env=None):
    """Runs argv; returns (wall s, cpu s, peak RSS KiB, exit code). The wait
    blocks in wait4 (a timer kills the command past timeout): a polling
    loop would add up to its sleep to every figure, 10 % of a 50 ms run."""
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, env=env)
    killer = threading.Timer(timeout, p.kill)
    killer.start()
    try:
        _, status, ru = os.wait4(p.pid, 0)
    finally:
        killer.cancel()
    wall = time.monotonic() - t0
    p.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait again
    settle_fill(env)
    return wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss, p.returncode


def settle_fill(env):
    """Waits, off the clock, for the background fill a cold first answer
    started (cmd/dsecore/fill.go: it holds <cache>/dsecore/fill.lock while
    it runs): the next timed run neither shares the CPUs with it nor finds
    a half-filled cache."""
    cache = (env or os.environ).get("XDG_CACHE_HOME")
    if not cache:
        return
    try:
        with open(os.path.join(cache, "dsecore", "fill.lock")) as f:
            fcntl.flock(f, fcntl.LOCK_EX)
    except OSError:
        pass


def measure(argvs, runs, env=None):
    """Runs a command (or a list of commands in a row, timed as one) runs
    times: median wall, median CPU, max RSS. env: the environment, or a
    function giving it for each run (a fresh cache: cold)."""
    if isinstance(argvs[0], str):
        argvs = [argvs]
    walls, cpus, rss, codes = [], [], 0, set()
    for _ in range(runs):
        w = c = 0.0
        e = env() if callable(env) else env
        for argv in argvs:
            ww, cc, mm, code = run_once(argv, env=e)
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
    return subprocess.run(["go", "run", "./internal/testsupport/fixture/fixturectl"], cwd=ROOT, check=True,
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


# The debug-information variants of the benchmark, in this order, with
# what they are (fixtures/variants/build.sh).
VARIANTS = (
    ("dwz", "dwz -m common.debug, in place"),
    ("dwz5", "dwz --dwarf-5: .debug_sup"),
    ("fedora", "find-debuginfo: .build-id, .dwz, MiniDebugInfo"),
    ("debian", "dh_dwz + dh_strip: .build-id, /usr/lib/debug/.dwz"),
    ("split5", "g++ -gsplit-dwarf, .dwo beside"),
    ("dwp4", "g++ -gsplit-dwarf -gdwarf-4, binutils dwp"),
    ("dwp5", "clang++-16 -gsplit-dwarf, llvm-dwp-16"),
)


def variant_cores():
    """The field crash of each debug-information variant (built on first
    use by fixturectl variants, as the tests build them)."""
    vd = subprocess.run(["go", "run", "./internal/testsupport/fixture/fixturectl", "variants"], cwd=ROOT, check=True,
                        capture_output=True, text=True).stdout.strip().splitlines()[-1]
    out = []
    for name, what in VARIANTS:
        d = os.path.join(vd, name)
        info = json.load(open(os.path.join(d, "variant.json")))
        dirs = [x for x in (info.get("debug_file_directory"), "/usr/lib/debug") if x]
        out.append({"name": f"variant {name} ({what})", "core": os.path.join(d, "field-crash", "core"),
                    "exe": os.path.join(d, "bin", "ceph-dse"), "variant": name, "debug_dirs": dirs})
    return out


def ceph_cores(corpus):
    """The real-daemon corpus' cores (ceph-mon), made by corpus.sh when the
    directory has none."""
    if not os.path.isdir(corpus) or not any(os.path.exists(os.path.join(corpus, d, "core")) for d in os.listdir(corpus)):
        subprocess.run(["bash", os.path.join(ROOT, "fixtures", "ceph", "corpus.sh"), corpus], check=True)
    out = []
    for d in sorted(os.listdir(corpus)):
        core = os.path.join(corpus, d, "core")
        if os.path.exists(core):
            out.append({"name": f"ceph-mon 16.2 ({d}, real daemon, no coroutines)", "core": core, "exe": "/usr/bin/ceph-mon", "ceph": True})
    return out


class Caches:
    """dsecore's cache directories ($XDG_CACHE_HOME): one warm directory
    kept for the run, and a fresh empty one for every cold run."""

    def __init__(self):
        self.root = tempfile.mkdtemp(prefix="dsecore-bench-")
        self.warm_dir = os.path.join(self.root, "warm")
        self.n = 0

    def warm(self):
        return {**os.environ, "XDG_CACHE_HOME": self.warm_dir}

    def cold(self):
        self.n += 1
        d = os.path.join(self.root, f"cold-{self.n}")
        return {**os.environ, "XDG_CACHE_HOME": d}

    def close(self):
        shutil.rmtree(self.root, ignore_errors=True)


# Frames of a profile that are the command's scaffolding, not its work.
BOILERPLATE = ("runtime.", "main.main", "main.newBtCmd", "github.com/spf13/cobra.", "sync.(*Once)", "internal/par.")


BATCH_SCENARIOS = ("field-crash", "abort", "no-handler", "use-after-free", "tcache-uaf", "double-free", "pointer-chain",
                   "field-crash-siginfo")


def batch_cores(fx, root, n=100):
    """n kernel-written cores of the fixture binary (its scenarios in turn),
    each in its own directory under root; [] when the kernel writes no core
    file in the working directory (core_pattern piped to a collector)."""
    def unlimited():
        resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    cores = []
    for i in range(n):
        d = os.path.join(root, f"batch-{i:03d}")
        os.makedirs(d, exist_ok=True)
        sc = BATCH_SCENARIOS[i % len(BATCH_SCENARIOS)]
        subprocess.run([f"{fx}/bin/ceph-dse", "--scenario", sc, "-i", "64"], cwd=d, preexec_fn=unlimited, timeout=120,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        found = [f for f in os.listdir(d) if f == "core" or f.startswith("core.")]
        if not found:
            return []
        cores.append(os.path.join(d, found[0]))
    return cores


def libgo_core(d):
    """The independent 10,000-task shape: a program built from upstream
    libgo's sources (github.com/yyzybb537/libgo) with 10,000 idle tasks,
    made outside this repository (its code and any recipe that builds it
    stay out of it: benchmarks/README.md says how to make one). DIR holds
    core and truth.json (written by the program before it crashed: exe,
    processers, idle_tasks, tasks, task_ids). None when DIR has no core."""
    core, truth = os.path.join(d, "core"), os.path.join(d, "truth.json")
    if not (os.path.exists(core) and os.path.exists(truth)):
        return None
    t = json.load(open(truth))
    # The executable beside the core when it is there (the directory moved), else where the program ran.
    exe = os.path.join(d, os.path.basename(t["exe"]))
    return {"name": f"upstream libgo ({t['processers']} Processers, {t['idle_tasks']:,} idle tasks)", "core": core,
            "exe": exe if os.path.exists(exe) else t["exe"], "truth": truth, "dsecore_args": ["--profile", "libgo-v3"], "dap_args": {"profile": "libgo-v3"}}


def check_tasks(dsecore, c, env):
    """check_tasks_here in a process of its own (10,000 tasks' JSON read
    here would inflate every later command's peak RSS: check_fleet_apart)."""
    code = "import json, sys; sys.path.insert(0, sys.argv[1]); import run; print(json.dumps(run.check_tasks_here(sys.argv[2], json.loads(sys.argv[3]), None)))"
    out = subprocess.run([sys.executable, "-c", code, HERE, dsecore, json.dumps(c)], capture_output=True, text=True, env=env)
    try:
        check = json.loads(out.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        check = {"core": c["name"], "truth": 0, "found": 0, "ok": False, "error": out.stderr[-500:]}
    print(f"{c['name']:45} tasks: truth {check['truth']}, dsecore found {check['found']}: {'ok' if check['ok'] else 'MISMATCH'}", flush=True)
    return check


def check_tasks_here(dsecore, c, env):
    """Every task the program's truth names, found by dsecore bt --all
    --all-tasks --json: the count, and the ids when the truth lists them."""
    out = subprocess.run([dsecore, "bt", c["core"], "--exe", c["exe"], "--all", "--all-tasks", "--json", *c.get("dsecore_args", [])],
                         capture_output=True, text=True, env=env)
    truth = json.load(open(c["truth"]))
    if isinstance(truth.get("tasks"), list):  # the fixtures' expected.json: each task's id, state, …
        truth["task_ids"] = [t["id"] for t in truth["tasks"]]
        truth["tasks"] = len(truth["tasks"])
    want = truth["tasks"]
    try:
        found = [t["id"] for t in json.loads(out.stdout)["tasks"]]
    except (ValueError, KeyError):
        found = []
    check = {"core": c["name"], "truth": want, "found": len(found), "ids_checked": "task_ids" in truth}
    if "task_ids" in truth:
        check["missing"] = len(set(truth["task_ids"]) - set(found))
        check["unexpected"] = len(set(found) - set(truth["task_ids"]))
        check["ok"] = check["missing"] == 0 and check["unexpected"] == 0 and len(found) == want
    else:
        check["ok"] = len(found) == want
    return check


def fleet_cores(d):
    """The batch benchmark's 1,000-core sets (fixtures/batch/cores.sh, made
    into d on first use): [(name, cores, truth)], [] with a message when
    the kernel writes no core here."""
    if subprocess.run(["bash", os.path.join(ROOT, "fixtures", "batch", "cores.sh"), d]).returncode != 0:
        print("run.py: fixtures/batch/cores.sh made no cores: no 1,000-core batches", file=sys.stderr)
        return []
    out = []
    for sub in ("one-build", "builds"):
        truth = json.load(open(os.path.join(d, sub, "cores.json")))
        n_builds = len({t["build"] for t in truth})
        what = "of one build" if n_builds == 1 else f"across {n_builds} builds"
        out.append((f"batch of {len(truth):,} small cores {what}", [t["core"] for t in truth], truth))
    return out


def check_fleet_apart(report_path, truth_path):
    """check_fleet in a process of its own: a 1,000-core report read here
    would grow this process by ~100 MB, and every command it starts after
    that would report at least that as its peak RSS (a child's ru_maxrss
    includes the forked copy's resident pages before exec)."""
    code = ("import json, sys; sys.path.insert(0, sys.argv[1]); import run; r = sys.argv[2]; "
            "print(json.dumps(run.check_fleet(json.load(open(r)) if __import__('os').path.exists(r) else {}, json.load(open(sys.argv[3])))))")
    out = subprocess.run([sys.executable, "-c", code, HERE, report_path, truth_path], capture_output=True, text=True)
    try:
        return json.loads(out.stdout)
    except ValueError:
        return {"cores": 0, "errors": 0, "groups": 0, "want_groups": 0, "ok": False, "error": out.stderr[-500:]}


def check_fleet(report, truth):
    """summarize's report against the cores' truth: every core read, none
    an error, one group per crash kind holding that kind's cores and builds."""
    kinds = {}
    for t in truth:
        kinds.setdefault(t["kind"], []).append(t)
    groups = report.get("groups") or []
    want = sorted((len(v), len({t["build"] for t in v})) for v in kinds.values())
    got = sorted((g["count"], len(g.get("builds") or [])) for g in groups)
    by_core = {t["core"]: t["kind"] for t in truth}
    # A group holds the cores of one kind.
    pure = all(len({by_core.get(c) for c in g.get("cores", [])}) == 1 for g in groups)
    count = lambda v: len(v) if isinstance(v, list) else (v or 0)  # the report lists them
    cores, errors = count(report.get("cores")), count(report.get("errors"))
    return {"cores": cores, "errors": errors, "groups": len(groups), "want_groups": len(kinds),
            "ok": cores == len(truth) and errors == 0 and got == want and pure}


def profile_top(dsecore, argv, env_fn, n=10, top=5, run=None, flat=False):
    """Runs dsecore argv n times with --cpuprofile (or run(profile_path)
    does), merges the profiles and returns (samples, [(cum %, function)])
    for the top cumulative entries below the command's scaffolding; with
    flat, the top entries by their own time (flat %, function)."""
    with tempfile.TemporaryDirectory() as tmp:
        profs = []
        for i in range(n):
            f = os.path.join(tmp, f"{i}.prof")
            if run:
                run(f)
            else:
                subprocess.run([dsecore, *argv, "--cpuprofile", f], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env_fn())
            if os.path.exists(f) and os.path.getsize(f) > 0:
                profs.append(f)
        if not profs:
            return 0, []
        out = subprocess.run(["go", "tool", "pprof", "-top", *([] if flat else ["-cum"]), "-nodecount=400", dsecore, *profs], cwd=ROOT,
                             capture_output=True, text=True).stdout
    total, rows = 0.0, []
    for line in out.splitlines():
        if "Total samples =" in line:
            v = line.split("Total samples =")[1].split()[0]
            total = float(v[:-2]) if v.endswith("ms") else float(v.rstrip("s")) * 1000
        f = line.split()
        if len(f) >= 6 and f[1].endswith("%") and f[4].endswith("%"):
            name = " ".join(f[5:]).replace("github.com/dsecore/dsecore/", "")
            if flat:
                rows.append((f[1], name))
                continue
            if name.startswith(BOILERPLATE):
                continue
            # A closure at the same share as its function says nothing more.
            if rows and rows[-1][0] == f[4] and (name.startswith(rows[-1][1] + ".func") or name.startswith(rows[-1][1] + " (")):
                continue
            rows.append((f[4], name))
    return total / n, rows[:top]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="the default fixtures and the Ceph corpus only")
    ap.add_argument("--cores", default="", help="only the cores whose names start with one of these (comma-separated)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--cache", default=os.path.join(ROOT, "build", "scale"))
    ap.add_argument("--ceph-corpus", default=os.environ.get("DSECORE_CEPH_CORPUS", os.path.join(ROOT, "build", "ceph-corpus")))
    ap.add_argument("--out", default=HERE)
    ap.add_argument("--variants-only", action="store_true", help="only the debug-information variants' first answers")
    ap.add_argument("--libgo-core", default=os.environ.get("DSECORE_LIBGO_CORE", os.path.join(ROOT, "build", "libgo-upstream")),
                    help="directory with the upstream-libgo program's core and truth.json (benchmarks/README.md)")
    ap.add_argument("--batch-cores", default=os.path.join(ROOT, "build", "batch"),
                    help="where fixtures/batch/cores.sh makes the 1,000-core batches (about 4.5 GB)")
    ap.add_argument("--gdb-sample", type=int, default=100,
                    help="cores of each 1,000-core batch the gdb -batch loop is timed on, scaled to all (0: every core)")
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
        {"name": "large (64 Processers, 10,000 tasks)", "core": f"{fx}/large/core", "exe": f"{fx}/bin/ceph-dse",
         "truth": f"{fx}/large/expected.json"},
        {"name": "scale-small (4 MiB DWARF, 1,000 deep tasks)", "core": f"{fx}/scale-small/heap-128/core",
         "exe": f"{fx}/scale-small/bin/ceph-dse", "dwarf_mb": 4, "heap_mb": 128},
    ]
    # --cores NAME,…: only those cores (the other rows kept from the
    # previous results); --variants-only: only the debug-information variants.
    only = [p for p in a.cores.split(",") if p]
    partial = bool(only) or a.variants_only
    wanted = lambda name: not only or any(name.startswith(p) for p in only)
    lg = libgo_core(a.libgo_core)
    if lg:
        cores.append(lg)
    elif not a.variants_only:
        print(f"run.py: no upstream-libgo core in {a.libgo_core} (benchmarks/README.md): its rows are the previous run's", file=sys.stderr)
    if a.variants_only:
        cores = []
    elif wanted("ceph-mon"):
        cores += ceph_cores(a.ceph_corpus)
    if not a.quick and not partial:
        cores += [scale_core(a.cache, 10, 512), scale_core(a.cache, 100, 512), scale_core(a.cache, 100, 4096)]
    cores = [c for c in cores if wanted(c["name"])]
    variants = variant_cores() if not only else []

    results = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
               "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                           "cpu": next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?"),
                           "mem_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)},
               "versions": tool_versions({"gdb": ["gdb", "--version"], "eu-stack": ["eu-stack", "--version"],
                                          "lldb": [lldb, "--version"] if lldb else None}),
               "runs": a.runs, "rows": [], "profiles": [], "load": list(os.getloadavg())}

    def add(core, category, tool, m, note=""):
        row = {"core": core["name"], "category": category, "tool": tool, "note": note,
               "core_mib": round(os.path.getsize(core["core"]) / 2**20) if "core" in core else 0,
               "dwarf_mb": core.get("dwarf_mb"), "dwarf_mib": core.get("dwarf_mib", 0), "heap_mb": core.get("heap_mb"), **m}
        if core.get("variant"):
            row["variant"] = core["variant"]
        results["rows"].append(row)
        print(f"{row['core']:45} {category:13} {tool:34} {m['wall']:8.3f} s {m['cpu']:8.3f} s cpu {m['rss_kib'] / 1024:8.1f} MiB", flush=True)

    caches = Caches()
    try:
        for c in cores:
            core, exe = c["core"], c["exe"]
            xa = c.get("dsecore_args", [])  # the core's coroutine profile, where the default is not its runtime's

            def ours(category, tool, argv, note=""):
                """dsecore warm (after one untimed run filled the cache) and cold."""
                run_once(argv, env=caches.warm())
                add(c, category, tool, measure(argv, a.runs, env=caches.warm()), note)
                add(c, category, tool + " (cold)", measure(argv, a.runs, env=caches.cold), note + (", " if note else "") + "empty cache")

            ours("first answer", "dsecore bt", [dsecore, "bt", core, "--exe", exe, *xa])
            add(c, "first answer", "gdb bt", measure(["gdb", "-nx", "-batch", "-ex", "bt", exe, core], a.runs))
            # eu-stack has no one-thread mode for cores (-1 needs -p): its first
            # answer is every thread.
            add(c, "first answer", "eu-stack -i -s", measure(["eu-stack", "-i", "-s", f"--core={core}", f"--executable={exe}"], a.runs), "all threads")
            if lldb:
                add(c, "first answer", "lldb-16 bt", measure([lldb, "--batch", "-c", core, exe, "-o", "bt"], a.runs))
            ours("everything", "dsecore bt --all --all-tasks", [dsecore, "bt", core, "--exe", exe, "--all", "--all-tasks", *xa], "threads and tasks")
            ours("everything", "dsecore bt --all", [dsecore, "bt", core, "--exe", exe, "--all", *xa], "threads only")
            ours("everything", "dsecore waits", [dsecore, "waits", core, "--exe", exe, *xa], "who waits for whom: threads and tasks")
            add(c, "everything", "gdb thread apply all bt", measure(["gdb", "-nx", "-batch", "-ex", "set pagination off", "-ex", "thread apply all bt", exe, core], a.runs), "threads only")
            add(c, "everything", "eu-stack -i -s", measure(["eu-stack", "-i", "-s", f"--core={core}", f"--executable={exe}"], a.runs), "threads only")
            if lldb:
                add(c, "everything", "lldb-16 thread backtrace all", measure([lldb, "--batch", "-c", core, exe, "-o", "thread backtrace all"], a.runs), "threads only")
            launch = {"coreFile": core, "program": exe, **c.get("dap_args", {})}
            dap.measure([dsecore, "dap"], "launch", launch, 1, env=caches.warm())
            add(c, "DAP", "dsecore dap", dap.measure([dsecore, "dap"], "launch", launch, a.runs, env=caches.warm()))
            add(c, "DAP", "dsecore dap (cold)", dap.measure([dsecore, "dap"], "launch", launch, a.runs, env=caches.cold), "empty cache")
            if lldb_dap:
                add(c, "DAP", "lldb-vscode-16", dap.measure([lldb_dap], "attach", {"coreFile": core, "program": exe}, a.runs))
            # Every task the program knew it had, found.
            if c.get("truth"):
                results.setdefault("task_checks", []).append(check_tasks(dsecore, c, caches.warm()))
            # Where the first answer's time goes.
            for mode, env_fn in (("warm", caches.warm), ("cold", caches.cold)):
                ms, top = profile_top(dsecore, ["bt", core, "--exe", exe, *xa], env_fn)
                results["profiles"].append({"core": c["name"], "mode": mode, "ms": ms, "top": top})
            # Where every task's and the DAP's time goes, on the cores with
            # tasks to unwind (their targets are the ones not met).
            if "tasks" in c["name"] or c.get("heap_mb"):
                everything = [dsecore, "bt", core, "--exe", exe, "--all", "--all-tasks", *xa]
                dap_run = lambda f: dap.session([dsecore, "dap", "--cpuprofile", f], "launch", launch, env=caches.warm())
                for what, argv, run in (("bt --all --all-tasks", everything[1:], None), ("dap launch → first stackTrace", None, dap_run)):
                    for flat in (False, True):
                        ms, top = profile_top(dsecore, argv, caches.warm, n=3, run=run, flat=flat)
                        results.setdefault("task_profiles", []).append({"core": c["name"], "what": what, "flat": flat, "ms": ms, "top": top})

        # The debug-information variants: the first answer, each tool told
        # of the variant's debug-file directories (gdb before it loads the
        # files: -iex).
        for c in variants:
            core, exe, dirs = c["core"], c["exe"], c["debug_dirs"]
            argv = [dsecore, "bt", core, "--exe", exe]
            for d in dirs:
                argv += ["--debug-file-directory", d]
            run_once(argv, env=caches.warm())
            add(c, "first answer", "dsecore bt", measure(argv, a.runs, env=caches.warm()))
            add(c, "first answer", "dsecore bt (cold)", measure(argv, a.runs, env=caches.cold), "empty cache")
            add(c, "first answer", "gdb bt", measure(["gdb", "-nx", "-batch", "-iex", "set debug-file-directory " + ":".join(dirs),
                                                      "-ex", "bt", exe, core], a.runs), gdb_note(c["variant"]))
            add(c, "first answer", "eu-stack -i -s", measure(["eu-stack", "-i", "-s", "--debuginfo-path=:.debug:" + ":".join(dirs),
                                                              f"--core={core}", f"--executable={exe}"], a.runs), eustack_note(c["variant"]))

        def batch_rows(bc, batch, tag, env, note, gdb_runs, gdb_note=""):
            """summarize of batch (a fresh result cache each run: nothing
            reused) beside a loop of gdb -batch bt over the same cores."""
            walls, cpus, rss = [], [], 0
            for i in range(a.runs):
                w, cpu, m, _ = run_once([dsecore, "summarize", "--cache-dir", os.path.join(caches.root, f"summarize-{tag}{i}"),
                                         "--solib-search-path", f"{fx}/bin", "--format", "json", *batch], env=env)
                walls.append(w), cpus.append(cpu)
                rss = max(rss, m)
            add(bc, "batch", "dsecore summarize", {"wall": statistics.median(walls), "cpu": statistics.median(cpus), "rss_kib": rss, "exit": [0]}, note)
            add(bc, "batch", "gdb -batch bt, one per core", measure([["gdb", "-nx", "-batch", "-ex", "bt", f"{fx}/bin/ceph-dse", c] for c in batch], gdb_runs),
                gdb_note)

        def fleet_rows(bc, fleet, truth):
            """summarize of a 1,000-core batch, cold, runs times; its report
            checked against the truth; a gdb -batch bt loop over every k-th
            core (k = len/--gdb-sample), scaled to the whole batch."""
            n, walls, cpus, rss = len(fleet), [], [], 0
            exes = {t["core"]: t["exe"] for t in truth}
            for i in range(a.runs):
                out = os.path.join(caches.root, f"fleet-{i}.json")
                w, cpu, m, code = run_once([dsecore, "summarize", "--cache-dir", os.path.join(caches.root, f"fleet-{i}"), "--progress", "never",
                                            "--format", "json", "--out", out, *fleet], env=caches.cold())
                walls.append(w), cpus.append(cpu)
                rss = max(rss, m)
                check = check_fleet_apart(out, os.path.join(os.path.dirname(os.path.dirname(fleet[0])), "cores.json"))
            check["batch"] = bc["name"]
            results.setdefault("batch_checks", []).append(check)
            print(f"{bc['name']:45} summarize: {check['cores']} cores, {check['errors']} errors, {check['groups']} groups "
                  f"(truth: {check['want_groups']} kinds): {'ok' if check['ok'] else 'MISMATCH'}", flush=True)
            wall, cpu = statistics.median(walls), statistics.median(cpus)
            rate = lambda w, c: {"cores": n, "cores_per_s": n / w, "cores_per_cpu_s": n / c if c else 0}
            add(bc, "batch", "dsecore summarize", {"wall": wall, "cpu": cpu, "rss_kib": rss, "exit": [code], **rate(wall, cpu)},
                f"empty caches (--jobs 2); {n / wall:.0f} cores/s, {n / cpu:.0f} cores per CPU-second")
            k = max(1, n // a.gdb_sample) if a.gdb_sample > 0 else 1
            sample = fleet[::k]
            g = measure([["gdb", "-nx", "-batch", "-ex", "bt", exes[c], c] for c in sample], 1)
            scale = n / len(sample)
            g = {**g, "wall": g["wall"] * scale, "cpu": g["cpu"] * scale, "sampled": [len(sample), n]}
            g.update(rate(g["wall"], g["cpu"]))
            note = "one run" if scale == 1 else f"one run over {len(sample):,} of the {n:,} cores (every {k}th), times ×{scale:g}"
            add(bc, "batch", "gdb -batch bt, one per core", g, f"{note}; {n / g['wall']:.1f} cores/s, {n / g['cpu']:.1f} cores per CPU-second")

        # Batch: the fixture cores of one build.
        batch = [f"{fx}/{s}/core" for s in ("field-crash", "field-crash-2", "field-crash-3", "no-handler", "abort", "use-after-free", "large")]
        if not partial:
            batch_rows({"name": f"batch of {len(batch)} fixture cores"}, batch, "", None, "empty cache", a.runs)

        # The batch: 100 cores of one build, made here by the
        # fixture binary (8 scenarios in turn), the section cache warm.
        batch = [] if partial else batch_cores(fx, caches.root)
        if batch:
            batch_rows({"name": f"batch of {len(batch)} cores of one build"}, batch, "100-", caches.warm(),
                       "empty result cache, sections cached", 1, "one run")
        elif not partial:
            print("run.py: the kernel wrote no core files in the working directory: no 100-core batch", file=sys.stderr)

        # Issue 29's batches: 1,000 small cores of one build and 1,000
        # across 10 builds (fixtures/batch), everything cold (a fresh
        # --cache-dir and cache home each run, as a first look at a
        # fleet's cores), beside a gdb -batch loop timed on a sample.
        if not partial or wanted("batch of 1,000"):
            for name, fleet, truth in fleet_cores(a.batch_cores):
                fleet_rows({"name": name}, fleet, truth)
    finally:
        caches.close()

    finish(results, a, task_unwind=not partial)


def gdb_note(variant):
    """What gdb 13 makes of a variant's debug information."""
    return {"dwz5": "gdb 13 cannot read .debug_sup: no DWARF of ceph-dse, libdcache.so",
            "dwp5": "gdb 13 dies of a segmentation fault on clang-16's split units"}.get(variant, "")


def eustack_note(variant):
    """What eu-stack 0.188 makes of a variant's debug information."""
    what = {"dwz5": ": it cannot read .debug_sup, names from the symbol tables",
            "split5": ": no inline frame or line of the split units",
            "dwp4": ": no .dwp support, names from the symbol tables",
            "dwp5": ": no .dwp support, names from the symbol tables"}.get(variant, "")
    return "all threads" + what


def finish(results, a, task_unwind=False):
    """The Go task-unwind benchmark (a full or quick run), then the results
    written: this run's rows and the previous run's of cores not measured."""
    if task_unwind:
        bench_task_unwind(results)
    results["load_end"] = list(os.getloadavg())
    write_results(results, a)
    return 0


def bench_task_unwind(results):
    # One task's stack, step by step (Go benchmark on the 10,000-task core).
    bench = subprocess.run(["go", "test", "-run", "^$", "-bench", "BenchmarkTaskUnwind", "-benchtime", "10000x", "-benchmem", "./analysis/coroutines/"],
                           cwd=ROOT, capture_output=True, text=True).stdout
    results["task_unwind"] = [l.split() for l in bench.splitlines() if l.startswith("BenchmarkTaskUnwind/")]


def write_results(results, a):
    if a.variants_only:
        # The variants' rows replace the previous run's; everything else
        # is that run's, as it was.
        path = os.path.join(a.out, "results.json")
        old = json.load(open(path)) if os.path.exists(path) else {**results, "rows": []}
        old["rows"] = [r for r in old["rows"] if not r.get("variant")] + results["rows"]
        old["variants_run"] = {"date": results["date"], "runs": results["runs"], "versions": results["versions"],
                               "load": results.get("load")}
        results = old
    else:
        if any(r.get("variant") for r in results["rows"]):
            results["variants_run"] = {"date": results["date"], "runs": results["runs"], "versions": results["versions"],
                                       "load": results.get("load")}
        # Rows of cores this run did not measure: from the previous run.
        carry_over(results, os.path.join(a.out, "results.json"))
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    write_markdown(results, os.path.join(a.out, "RESULTS.md"), quick=a.quick)
    subprocess.run(["go", "run", "./benchmarks/plot", os.path.join(a.out, "results.json"), os.path.join(a.out, "scaling.png")], cwd=ROOT, check=True)
    print(f"wrote {a.out}/RESULTS.md, results.json, scaling.png")


def profile_lines(profiles, label):
    """A profile table's rows: core, label(p), CPU ms, the top entries."""
    out = []
    for p in profiles:
        top = "; ".join(f"{pct} {fn}" for pct, fn in p["top"])
        out.append(f"| {p['core']} | {label(p)} | {p['ms']:.0f} | {top} |")
    return out + [""]


def core_key(r):
    """What a row measured: a scale core by its configuration (its name
    carries the DWARF size the build came out at), any other by name."""
    if r.get("heap_mb") and r.get("dwarf_mb"):
        return ("scale", r["dwarf_mb"], r["heap_mb"])
    return r["core"]


def carry_over(results, old_path):
    """Adds the previous run's rows of cores this run did not measure,
    marked with the run they come from."""
    measured = {core_key(r) for r in results["rows"]}
    if not os.path.exists(old_path):
        return
    with open(old_path) as f:
        old = json.load(f)
    if "task_unwind" not in results and old.get("task_unwind"):
        results["task_unwind"] = old["task_unwind"]
    if "variants_run" not in results and old.get("variants_run"):
        results["variants_run"] = old["variants_run"]
    # The truth checks of cores and batches this run did not measure.
    for key, name in (("task_checks", "core"), ("batch_checks", "batch")):
        for ch in old.get(key, []):
            if ch[name] not in measured:
                ch.setdefault("from", f"{old['date']} ({old['versions'].get('dsecore', '?')})")
                results.setdefault(key, []).append(ch)
    for r in old.get("rows", []):
        # Batches have no one core (core_mib 0): kept by name all the same.
        if core_key(r) not in measured and (r.get("core_mib") or r.get("category") == "batch"):
            r.setdefault("from", f"{old['date']} ({old['versions'].get('dsecore', '?')})")
            results["rows"].append(r)


def write_markdown(res, path, quick):
    rows = res["rows"]
    earlier = sorted({r["from"] for r in rows if r.get("from")})
    L = ["# dsecore benchmarks", "",
         f"Measured {res['date']} by `benchmarks/run.py{' --quick' if quick else ''}` (`make bench`), "
         f"median of {res['runs']} runs; CPU is user+system; RSS is the peak of the process (of the adapter for DAP).",
         "Ratios are the tool's figure over dsecore's on the same core in the same run: above 1, dsecore is faster or smaller.",
         "`dsecore … ` rows are warm (dsecore's cache directory filled by one untimed run first); `(cold)` rows start every run",
         "with an empty cache directory (nothing inflated or indexed yet). The page cache is warm for every tool. A cold first",
         "answer (`bt`) leaves its symbol layouts and indexes to a detached background run started after its answer: it is not",
         "in the row's figures, and it is waited for, off the clock, before the next run starts.",
         "eu-stack has no one-thread mode for cores (`-1` needs `-p`): its first answer is every thread; it exits 1 when a thread's",
         "unwinding ends in an error (here `dwfl_thread_getframes … address out of range` past the bottom of a coroutine stack).", ""]
    if earlier:
        L += ["**Which rows are from this run:** every row whose last column does not say `earlier run`. Rows marked",
              f"`earlier run` are kept from the previous results.json ({', '.join(earlier)}): this run did not measure those cores",
              "(the scale cores of 1.3–4.9 GB are left out of `--quick`); they predate the cold/warm split (their dsecore rows ran with",
              "whatever cache the machine had) and are not comparable to this run's rows except as a trend.", ""]
    load = res.get("load")
    L += [f"Machine: {res['machine']['cpus']} CPUs ({res['machine']['cpu']}), {res['machine']['mem_gib']} GiB, {res['machine']['platform']}"
          + (f"; load average {load[0]:.1f} at the start" if load else "")
          + (f", {res['load_end'][0]:.1f} at the end" if res.get("load_end") else "") + ".", "",
          "Versions: " + "; ".join(f"{k}: {v}" for k, v in res["versions"].items()), ""]
    base_tool = {"first answer": "dsecore bt", "everything": "dsecore bt --all --all-tasks", "DAP": "dsecore dap", "batch": "dsecore summarize"}
    vrows = [r for r in rows if r.get("variant")]
    rows = [r for r in rows if not r.get("variant")]

    def table(cat, rows):
        out = ["| core | core MiB | tool | wall s | CPU s | peak RSS MiB | time / dsecore | time / dsecore cold | RSS / dsecore | |",
               "|---|---|---|---|---|---|---|---|---|---|"]
        for core in dict.fromkeys(r["core"] for r in rows if r["category"] == cat):
            rs = [r for r in rows if r["category"] == cat and r["core"] == core]
            base = next((r for r in rs if r["tool"] == base_tool[cat]), rs[0])
            cold = next((r for r in rs if r["tool"] == base_tool[cat] + " (cold)"), None)
            for r in rs:
                note = r["note"] + ("" if r["exit"] == [0] else f" exit {r['exit']}")
                if r.get("from"):
                    note += f" (earlier run {r['from']})"
                cr = f"{r['wall'] / cold['wall']:.2f}" if cold else ""
                out.append(f"| {core} | {r['core_mib'] or ''} | {r['tool']} | {r['wall']:.3f} | {r['cpu']:.3f} | {r['rss_kib'] / 1024:.1f} | "
                           f"{r['wall'] / base['wall']:.2f} | {cr} | {r['rss_kib'] / base['rss_kib']:.2f} | {note} |")
        return out + [""]

    for cat in ("first answer", "everything", "DAP", "batch"):
        L += [f"## {cat}", ""]
        if cat == "batch" and any(r.get("cores_per_cpu_s") for r in rows):
            L += ["The 1,000-core batches are fixtures/batch's small service (2–3 MiB cores, four crash kinds; one build, or ten builds",
                  "with their own build-ids). summarize runs with empty caches (a fresh `--cache-dir` and cache home every run), two jobs;",
                  "the gdb loop is timed once over a sample of the cores (the note says which) and scaled to the whole batch.",
                  "Cores per CPU-second are the cores over user+system time.", ""]
        L += table(cat, rows)
    if res.get("task_checks") or res.get("batch_checks"):
        L += ["## Checked against the programs' truth", "",
              "Every task the program wrote down before its crash, found by `dsecore bt --all --all-tasks --json` (ids compared",
              "where the truth lists them); every core of a batch summarized with no error, one group per crash kind.", "",
              "| core or batch | truth | dsecore | |", "|---|---|---|---|"]
        for ch in res.get("task_checks", []):
            what = f"{ch['found']:,} tasks" + (f", {ch['missing']} missing, {ch['unexpected']} not in the truth" if ch.get("ids_checked") else "")
            L.append(f"| {ch['core']} | {ch['truth']:,} tasks{' (ids)' if ch.get('ids_checked') else ''} | {what} | "
                     f"{'ok' if ch['ok'] else '**MISMATCH**'}{' (earlier run ' + ch['from'] + ')' if ch.get('from') else ''} |")
        for ch in res.get("batch_checks", []):
            L.append(f"| {ch['batch']} | {ch['want_groups']} crash kinds | {ch['cores']} cores, {ch['errors']} errors, {ch['groups']} groups | "
                     f"{'ok' if ch['ok'] else '**MISMATCH**'}{' (earlier run ' + ch['from'] + ')' if ch.get('from') else ''} |")
        L.append("")
    if vrows:
        vr = res.get("variants_run", {})
        load = vr.get("load")
        L += ["## first answer, debug information as the field ships it", "",
              f"The field crash rebuilt the ways distributions and large builds ship debug information (fixtures/variants; "
              f"`benchmarks/run.py --variants-only` measures these rows alone), measured {vr.get('date', res['date'])}, median of "
              f"{vr.get('runs', res['runs'])} runs" + (f", load average {load[0]:.1f} on {res['machine']['cpus']} CPUs at the start" if load else "") + ".",
              "Every tool is told of the variant's debug-file directories (gdb with `-iex`, eu-stack with `--debuginfo-path`).",
              "Warm: dsecore's persistent index of the file and the files it refers to (supplementary file, .dwo, .dwp) filled by",
              "one untimed run; cold: an empty cache directory for every run.", ""] + table("first answer", vrows)
    if res.get("profiles"):
        L += ["## Where dsecore's first answer spends its time", "",
              "`dsecore bt CORE --cpuprofile` ten times per core and cache state, merged (`go tool pprof -top -cum`): the top 5",
              "cumulative entries below the command's scaffolding (runtime, cobra, main, sync.Once, internal/par), as a share of",
              "all samples. ms is CPU time sampled per run.", "",
              "| core | cache | ms | top 5 cumulative |", "|---|---|---|---|"]
        L += profile_lines(res["profiles"], lambda p: p["mode"])
    if res.get("task_profiles"):
        L += ["## Where every task's and the DAP's time goes", "",
              "The cores with tasks to unwind, warm, three runs merged: the top 5 cumulative entries (below the scaffolding) and the",
              "top 5 by their own time. `runtime.heapSetType*`, `runtime.memclrNoHeapPointers` and `runtime.memmove` under",
              "allocation are mostly first touches of fresh heap pages (page faults: about 10 µs a 4 KiB page on this machine);",
              "`Syscall6` under the page cache is pread of the core.", "",
              "| core | what | ms | top 5 |", "|---|---|---|---|"]
        L += profile_lines(res["task_profiles"], lambda p: f"{p['what']} ({'own time' if p['flat'] else 'cumulative'})")
    if res.get("task_unwind"):
        L += ["## One task's stack", "",
              "`go test -bench BenchmarkTaskUnwind ./analysis/coroutines/` on the 10,000-task core, over every switched-out task in turn,",
              "one CPU, the caches warm as in a run (CFI rows memoized per FDE and pc, DWARF lookups per pc): reading the saved",
              "context, unwinding it with CFI, naming its frames (inline chains, lines), and the three together.", "",
              "| step | ns per task | frames per task | bytes allocated | allocations |", "|---|---|---|---|---|"]
        for f in res["task_unwind"]:
            name = f[0].split("/", 1)[1].rsplit("-", 1)[0]
            vals = dict(zip(f[3::2], f[2::2]))
            L.append(f"| {name} | {vals.get('ns/op', '')} | {vals.get('frames/task', '')} | {vals.get('B/op', '')} | {vals.get('allocs/op', '')} |")
        L.append("")
    L += ["## Scaling", ""]
    if any(r.get("from") and r.get("heap_mb") for r in rows):
        L += ["The scale cores were not measured in this run: the figures below are the earlier run's (see above).", ""]
    L += ["![time against core size and DWARF size](scaling.png)", "",
          "| tool | category | heap 512 MiB → 4 GiB (DWARF 100 MiB) | DWARF 10 → 100 MiB (heap 512 MiB) |", "|---|---|---|---|"]
    for cat in ("first answer", "everything", "DAP"):
        for tool in dict.fromkeys(r["tool"] for r in rows if r["category"] == cat):
            pick = lambda d, h: next((r["wall"] for r in rows if r["category"] == cat and r["tool"] == tool and r["dwarf_mb"] == d and r["heap_mb"] == h), None)
            heap = (pick(100, 512), pick(100, 4096))
            dw = (pick(10, 512), pick(100, 512))
            cell = lambda p: f"{p[0]:.3f} → {p[1]:.3f} s (×{p[1] / p[0]:.2f})" if None not in p else "not measured"
            L.append(f"| {tool} | {cat} | {cell(heap)} | {cell(dw)} |")
    L += ["", "## Targets (issues 19, 27 and 29), per core measured in this run", ""] + targets([r for r in rows if not r.get("from")])
    with open(path, "w") as f:
        f.write("\n".join(L))


def targets(rows):
    """The issue's targets on every core, each with the measured ratio and
    met / NOT met."""
    out = []

    def get(cat, tool, core, key="wall"):
        return next((r[key] for r in rows if r["category"] == cat and r["tool"] == tool and r["core"] == core), None)

    def check(what, ours, theirs, want):
        if ours is None or theirs is None:
            out.append(f"- {what}: not measured")
            return
        ratio = theirs / ours
        out.append(f"- {what}: ×{ratio:.2f} (target ×{want:g}): {'met' if ratio >= want else '**NOT met**'}")

    for core in dict.fromkeys(r["core"] for r in rows if r.get("core_mib")):
        out.append(f"### {core}")
        out.append("")
        for mode, suffix, g, e in (("warm", "", 10, 2), ("cold", " (cold)", 4, 1.5)):  # cold vs eu-stack: issue 29's ×1.5
            ours = get("first answer", "dsecore bt" + suffix, core)
            check(f"first answer, {mode}, vs gdb bt", ours, get("first answer", "gdb bt", core), g)
            check(f"first answer, {mode}, vs eu-stack -i -s", ours, get("first answer", "eu-stack -i -s", core), e)
        threads = get("everything", "dsecore bt --all", core)
        check("every thread (dsecore bt --all) vs gdb thread apply all bt", threads, get("everything", "gdb thread apply all bt", core), 10)
        if core.startswith("ceph-mon"):
            check("every thread of the real daemon vs eu-stack -i -s", threads, get("everything", "eu-stack -i -s", core), 2)
        else:
            check("every thread and every task vs gdb's threads-only thread apply all bt (issue 29)", get("everything", "dsecore bt --all --all-tasks", core),
                  get("everything", "gdb thread apply all bt", core), 10)
            check("peak RSS, every thread and every task, vs gdb thread apply all bt (issue 29)", get("everything", "dsecore bt --all --all-tasks", core, "rss_kib"),
                  get("everything", "gdb thread apply all bt", core, "rss_kib"), 1)
        # Issue 27: the wait graph in the same order of time as every stack
        # (taken here as at most twice bt --all --all-tasks's).
        check("who waits for whom (dsecore waits) vs every thread and task (dsecore bt --all --all-tasks)", get("everything", "dsecore waits", core),
              get("everything", "dsecore bt --all --all-tasks", core), 0.5)
        check("DAP launch → first stackTrace, warm, vs lldb-vscode-16", get("DAP", "dsecore dap", core), get("DAP", "lldb-vscode-16", core), 5)
        check("DAP launch → first stackTrace, cold, vs lldb-vscode-16 (issue 29: ×3)", get("DAP", "dsecore dap (cold)", core), get("DAP", "lldb-vscode-16", core), 3)
        warm = get("first answer", "dsecore bt", core)
        if warm is not None:
            out.append(f"- first answer, warm, at most 30 ms (issue 29): {warm * 1000:.0f} ms: {'met' if warm <= 0.030 else '**NOT met**'}")
        check("peak RSS, DAP, vs lldb-vscode-16", get("DAP", "dsecore dap", core, "rss_kib"), get("DAP", "lldb-vscode-16", core, "rss_kib"), 1)
        for tool in ("gdb bt", "eu-stack -i -s", "lldb-16 bt"):
            check(f"peak RSS, first answer, vs {tool}", get("first answer", "dsecore bt", core, "rss_kib"), get("first answer", tool, core, "rss_kib"), 1)
        out.append("")
    b = [r for r in rows if r["category"] == "batch" and r["tool"] == "dsecore summarize"]
    if b:
        out += ["### batch", ""]
    for r in b:
        if r["core"].startswith("batch of 100 "):
            check(f"summarize vs a loop of gdb -batch ({r['core']}; issue 19's target for 100 cores)", r["wall"],
                  get("batch", "gdb -batch bt, one per core", r["core"]), 20)
        elif r.get("cores_per_cpu_s"):
            gdb = next((g for g in rows if g["category"] == "batch" and g["core"] == r["core"] and g["tool"].startswith("gdb")), None)
            check(f"summarize vs a loop of gdb -batch ({r['core']}, issue 29)", r["wall"], gdb and gdb["wall"], 30)
            out.append(f"  - cores per CPU-second: dsecore summarize {r['cores_per_cpu_s']:.0f}"
                       + (f", gdb -batch {gdb['cores_per_cpu_s']:.1f}" if gdb else "") + f"; cores per second: {r['cores_per_s']:.0f}"
                       + (f", gdb {gdb['cores_per_s']:.1f}" if gdb else ""))
    return out + [""]


if __name__ == "__main__":
    main()
