#!/usr/bin/env python3
"""Runs the mutants gremlins reported NOT COVERED, one by one.

gremlins decides "not covered" from go test's coverage blocks, and a
switch's case expressions (`case c == '>' && depth > 0:`), constant
declarations and the like lie in no block: their mutants are reported not
covered though the tests run them. This script applies each such mutant
(the same token change gremlins makes) to a copy of the work tree, runs
the package's tests, and writes build/mutate/<pkg>.recheck: one line
per mutant, KILLED, LIVED or NOT VIABLE (it does not compile). The table
(scripts/mutate-table.py) counts them.

    scripts/mutate-recheck.py PKG...      (after scripts/mutate.sh PKG)
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
out = os.path.join(root, "build", "mutate")
go = os.environ.get("GO", "go")

# gremlins' token changes, by mutator type (internal/engine/mappings.go).
CHANGES = {
    "CONDITIONALS_BOUNDARY": {"<": "<=", "<=": "<", ">": ">=", ">=": ">"},
    "CONDITIONALS_NEGATION": {"==": "!=", "!=": "==", "<": ">=", "<=": ">", ">": "<=", ">=": "<"},
    "ARITHMETIC_BASE": {"+": "-", "-": "+", "*": "/", "/": "*", "%": "*"},
    "INCREMENT_DECREMENT": {"++": "--", "--": "++"},
    "INVERT_NEGATIVES": {"-": "+"},
}
LINE = re.compile(r"^\s*NOT COVERED (\S+) at (\S+):(\d+):(\d+)")


def copy_tree(dst):
    files = subprocess.run(["git", "ls-files", "-z", "-co", "--exclude-standard"], cwd=root, capture_output=True, check=True).stdout
    for f in files.decode().split("\0"):
        if f and os.path.isfile(os.path.join(root, f)):
            os.makedirs(os.path.join(dst, os.path.dirname(f)), exist_ok=True)
            shutil.copy2(os.path.join(root, f), os.path.join(dst, f))


def mutate(src, col, kind):
    """src with the operator at 1-based byte column col changed as kind says."""
    i = col - 1
    for old in sorted(CHANGES[kind], key=len, reverse=True):
        if src[i:i + len(old)] == old:
            return src[:i] + CHANGES[kind][old] + src[i + len(old):]
    return None


def main(pkgs):
    given = os.environ.get("RECHECK_SRC")  # scripts/mutate.sh's copy
    work = given or tempfile.mkdtemp(prefix="recheck.", dir=out)
    try:
        if not given:
            copy_tree(work)
        for pkg in pkgs:
            pkg = pkg.strip("./").rstrip("/")
            # RECHECK_NAME: the log's name when it is not the package's
            # (a MUTATE_ONLY shard's, <pkg>.only-<regexp>; scripts/mutate.sh
            # sets it).
            logname = os.environ.get("RECHECK_NAME") or pkg.replace("/", "_")
            log = os.path.join(out, logname + ".txt")
            if not os.path.exists(log):
                print("mutate-recheck: no %s: run scripts/mutate.sh %s first" % (log, pkg), file=sys.stderr)
                continue
            results = []
            for l in open(log, errors="replace"):
                m = LINE.match(l)
                if not m:
                    continue
                kind, name, line, col = m.group(1), m.group(2), int(m.group(3)), int(m.group(4))
                path = os.path.join(work, pkg, name)
                orig = open(path, "rb").read()
                lines = orig.split(b"\n")
                changed = mutate(lines[line - 1].decode("utf-8", "surrogateescape"), col, kind) if kind in CHANGES else None
                if changed is None:
                    results.append("%11s %s at %s:%d:%d" % ("NOT RUN", kind, name, line, col))
                    continue
                lines[line - 1] = changed.encode("utf-8", "surrogateescape")
                open(path, "wb").write(b"\n".join(lines))
                try:
                    r = subprocess.run([go, "test", "-count=1", "-failfast", "./" + pkg], cwd=work, capture_output=True, text=True, timeout=1800)
                    status = "LIVED" if r.returncode == 0 else ("NOT VIABLE" if "[build failed]" in r.stdout + r.stderr or "[setup failed]" in r.stdout else "KILLED")
                except subprocess.TimeoutExpired:
                    status = "TIMED OUT"
                finally:
                    open(path, "wb").write(orig)
                results.append("%11s %s at %s:%d:%d" % (status, kind, name, line, col))
                print("%s %s" % (pkg, results[-1].strip()), flush=True)
            with open(os.path.join(out, logname + ".recheck"), "w") as f:
                f.write("\n".join(results) + ("\n" if results else ""))
    finally:
        if not given:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1:])
