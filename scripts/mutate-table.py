#!/usr/bin/env python3
"""The table of `make mutate`: per package, the mutants gremlins killed,
let live, found not covered, timed out and found not viable, counted from
its log (build/mutate/<pkg>.txt), with test efficacy (killed / (killed +
lived)) and mutator coverage ((killed + lived) / (killed + lived + not
covered)) as gremlins computes them; a log without gremlins' closing line
is a run cut short ("partial"). Where scripts/mutate-recheck.py ran the
not-covered mutants (build/mutate/<pkg>.recheck), those it ran count as
killed, lived or not viable instead ("rechecked" says how many)."""
import glob
import os
import re
import sys

out = sys.argv[1] if len(sys.argv) > 1 else "build/mutate"
md = "--markdown" in sys.argv
line = re.compile(r"^\s*(KILLED|LIVED|NOT COVERED|TIMED OUT|NOT VIABLE|SKIPPED|NOT RUN)\s+\S+ at (\S+)")
cols = ("package", "killed", "lived", "not cov", "t/out", "n/v", "efficacy", "coverage", "rechecked")
if md:
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
else:
    print("%-24s %7s %6s %8s %6s %6s %9s %9s %9s" % cols)


def count(path):
    n = {k: 0 for k in ("KILLED", "LIVED", "NOT COVERED", "TIMED OUT", "NOT VIABLE", "SKIPPED", "NOT RUN")}
    done = False
    for l in open(path, errors="replace"):
        m = line.match(l)
        if m:
            n[m.group(1)] += 1
        done = done or l.startswith("Mutation testing completed")
    return n, done


for log in sorted(glob.glob(os.path.join(out, "*.txt"))):
    name = os.path.basename(log)[:-4]
    if name == "summary":
        continue
    n, done = count(log)
    rechecked = 0
    rc = log[:-4] + ".recheck"
    if os.path.exists(rc):
        r, _ = count(rc)
        rechecked = r["KILLED"] + r["LIVED"] + r["NOT VIABLE"] + r["TIMED OUT"]
        n["NOT COVERED"] -= rechecked
        for k in ("KILLED", "LIVED", "NOT VIABLE", "TIMED OUT"):
            n[k] += r[k]
    k, lv, nc = n["KILLED"], n["LIVED"], n["NOT COVERED"]
    eff = 100.0 * k / (k + lv) if k + lv else 0.0
    cov = 100.0 * (k + lv) / (k + lv + nc) if k + lv + nc else 0.0
    pkg = name.replace("_", "/") + ("" if done else " (partial)")
    row = (pkg, k, lv, nc, n["TIMED OUT"], n["NOT VIABLE"], "%.1f%%" % eff, "%.1f%%" % cov, rechecked)
    if md:
        print("| " + " | ".join(str(x) for x in row) + " |")
    else:
        print("%-24s %7d %6d %8d %6d %6d %9s %9s %9d" % row)
