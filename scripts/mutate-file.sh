#!/usr/bin/env bash
# One file's mutants against some tests, where a package's full gremlins
# run costs more than a session has (each mutant is a build and a test
# run; on the shared 2-CPU machine a minute or more):
#
#   scripts/mutate-file.sh FILE.go TESTREGEX
#
# Lists FILE's mutation points as gremlins' default mutators see them
# (internal/testsupport/mutops), applies each to a copy of the tracked and
# new files in build/mutate/file.*, runs `go test -cpu 1 -run TESTREGEX`
# on FILE's package, and writes build/mutate/<file>.file.txt: one line per
# mutant in gremlins' log format (KILLED, LIVED, NOT VIABLE: it does not
# compile, NOT COVERED: in code the tests named never run, TIMED OUT), so
# scripts/mutate-table.py counts it (a row "partial": no gremlins closing
# line). The tests named are a subset of the package's:
# a mutant they let live may still die by the others; one they kill is
# killed.
#
# MUTATE_TIMEOUT=SECONDS bounds one mutant's tests (900 by default): past it
# the mutant is TIMED OUT, as gremlins says (a loop made endless).
#
# MUTATE_COMMIT=REV mutates only the lines of FILE that `git blame` says
# REV wrote (and are still there): a commit's own lines, checked before it
# is called done, without the lines a --diff from before it would also
# take (code moved unchanged by other commits).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
file=${1:?usage: mutate-file.sh FILE.go TESTREGEX}
re=${2:?usage: mutate-file.sh FILE.go TESTREGEX}
file=${file#./}
pkg=$(dirname "$file")
GO=${GO:-$(scripts/setup.sh | tail -n1)}
export PATH="$(dirname "$GO"):$PATH"
export DSECORE_FIXTURES=${DSECORE_FIXTURES:-$root/build/fixtures}
out=$root/build/mutate
mkdir -p "$out"
log=$out/${file//\//_}.file.txt
src=$(mktemp -d "$out/file.XXXXXX")
trap 'rm -rf "$src"' EXIT
# gdb's answers and the crashed test programs, once per run (as mutate.sh).
export GDBORACLE_MEMO=$src/.gdbmemo DSECORE_TESTCORE_CACHE=$src/.testcore
mkdir -p "$GDBORACLE_MEMO" "$DSECORE_TESTCORE_CACHE"
git ls-files -z -co --exclude-standard | while IFS= read -r -d '' f; do [ -f "$f" ] && printf '%s\0' "$f"; done |
	tar -c --null -T - -f - | tar -x -C "$src" -f -
"$GO" build -o "$src/.mutops" ./internal/testsupport/mutops
cp "$src/$file" "$src/.orig"
: >"$log"
# The tests named, once on the unmutated copy with a coverage profile: they
# must pass, and a mutant inside a block they never run is NOT COVERED
# without a run (as gremlins says). A position in no block at all (a
# switch's case expression) is run: coverage cannot tell.
if ! (cd "$src" && "$GO" test -count=1 -cpu 1 -vet=off -run "$re" -coverprofile="$src/.cover" "./$pkg" >"$src/.out" 2>&1); then
	cat "$src/.out" >&2
	echo "mutate-file: the tests named fail without a mutant" >&2
	exit 1
fi
covered() { # line col: 0 covered or in no block, 1 in blocks none of which ran
	python3 - "$src/.cover" "$(basename "$file")" "$pkg" "$1" "$2" <<'PY'
import re, sys
prof, base, pkg, line, col = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
inblock = ran = False
for l in open(prof):
    m = re.match(r"(.*):(\d+)\.(\d+),(\d+)\.(\d+) \d+ (\d+)$", l.strip())
    if not m or not m.group(1).endswith("/" + pkg + "/" + base):
        continue
    sl, sc, el, ec, n = (int(x) for x in m.groups()[1:])
    if (sl, sc) <= (line, col) <= (el, ec):
        inblock = True
        ran = ran or n > 0
sys.exit(1 if inblock and not ran else 0)
PY
}
lines=""
if [ -n "${MUTATE_COMMIT:-}" ]; then
	rev=$(git rev-parse --verify "$MUTATE_COMMIT^{commit}")
	lines=" $(git blame -l -s -- "$file" | awk -v r="$rev" '$1 == r { l = $2; sub(/\).*/, "", l); printf "%s ", l }')"
fi
"$src/.mutops" "$src/$file" | while read -r line col kind; do
	if [ -n "${MUTATE_COMMIT:-}" ] && [[ $lines != *" $line "* ]]; then
		continue
	fi
	if ! covered "$line" "$col"; then
		printf '%12s %s at %s:%s:%s\n' "NOT COVERED" "$kind" "$(basename "$file")" "$line" "$col" | tee -a "$log"
		continue
	fi
	python3 - "$src/$file" "$line" "$col" "$kind" <<'PY'
import importlib.util, sys
spec = importlib.util.spec_from_file_location("recheck", "scripts/mutate-recheck.py")
recheck = importlib.util.module_from_spec(spec)
spec.loader.exec_module(recheck)
path, line, col, kind = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
lines = open(path, encoding="utf-8").read().split("\n")
b = lines[line - 1].encode()
m = recheck.mutate(b.decode("latin-1"), col, kind)  # byte columns, as go/token counts them
if m is None:
    sys.exit(1)
lines[line - 1] = m.encode("latin-1").decode()
open(path, "w", encoding="utf-8").write("\n".join(lines))
PY
	# One go test per mutant, not a vet and a test (vet type-checks the
	# package again: 13 s of a 38 s mutant on a loaded machine); a mutant
	# that does not compile is told by go test's "[build failed]". The
	# first failing test is enough (-failfast).
	rc=0
	(cd "$src" && timeout "${MUTATE_TIMEOUT:-900}" "$GO" test -count=1 -cpu 1 -vet=off -failfast -run "$re" "./$pkg" >"$src/.out" 2>&1) || rc=$?
	if [ "$rc" = 0 ]; then
		r=LIVED
	elif [ "$rc" = 124 ]; then
		r="TIMED OUT"
	elif grep -q -e '\[build failed\]' -e '\[setup failed\]' "$src/.out"; then
		r="NOT VIABLE"
	else
		r=KILLED
	fi
	printf '%12s %s at %s:%s:%s\n' "$r" "$kind" "$(basename "$file")" "$line" "$col" | tee -a "$log"
	cp "$src/.orig" "$src/$file"
done
echo "mutate-file: $(grep -c KILLED "$log" || true) killed, $(grep -c LIVED "$log" || true) lived, $(grep -c "TIMED OUT" "$log" || true) timed out, $(grep -c 'NOT VIABLE' "$log" || true) not viable, $(grep -c 'NOT COVERED' "$log" || true) not covered: $log" >&2
