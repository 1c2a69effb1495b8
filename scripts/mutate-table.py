#!/usr/bin/env python3
"""The table of `make mutate`: per package, the mutants gremlins killed,
let live, found not covered, timed out and found not viable, counted from
its log (build/mutate/<pkg>.txt), with test efficacy (killed / (killed +
lived)) and mutator coverage ((killed + lived) / (killed + lived + not
covered)) as gremlins computes them; a log without gremlins' closing line
is a run cut short ("partial")."""
import glob
import os
import re
import sys

out = sys.argv[1] if len(sys.argv) > 1 else "build/mutate"
line = re.compile(r"^\s*(KILLED|LIVED|NOT COVERED|TIMED OUT|NOT VIABLE|SKIPPED)\s+\S+ at (\S+)")
print("%-22s %7s %6s %8s %6s %6s %9s %9s" % ("package", "killed", "lived", "not cov", "t/out", "n/v", "efficacy", "coverage"))
for log in sorted(glob.glob(os.path.join(out, "*.txt"))):
    name = os.path.basename(log)[:-4]
    if name == "summary":
        continue
    n = {k: 0 for k in ("KILLED", "LIVED", "NOT COVERED", "TIMED OUT", "NOT VIABLE", "SKIPPED")}
    done = False
    for l in open(log, errors="replace"):
        m = line.match(l)
        if m:
            n[m.group(1)] += 1
        done = done or l.startswith("Mutation testing completed")
    k, lv, nc = n["KILLED"], n["LIVED"], n["NOT COVERED"]
    eff = 100.0 * k / (k + lv) if k + lv else 0.0
    cov = 100.0 * (k + lv) / (k + lv + nc) if k + lv + nc else 0.0
    print("%-22s %7d %6d %8d %6d %6d %8.1f%% %8.1f%%%s" % (name.replace("_", "/"), k, lv, nc, n["TIMED OUT"], n["NOT VIABLE"], eff, cov,
                                                           "" if done else "  partial"))
