#!/usr/bin/env bash
# Mutation testing with gremlins (github.com/go-gremlins/gremlins): each
# package's own tests are run against small deliberate changes of its code
# (a < made <=, a + made -, a condition negated); a change no test notices
# ("lived") is a claim nobody checks. See docs/testing.md for the results
# and what each lived mutant means.
#
#   scripts/mutate.sh [--diff BASE] [PKG...]
#
# PKG defaults to the packages whose tests run in seconds (MUTATE_PKGS
# below). --diff BASE mutates only the lines changed since the merge base
# with BASE (committed or not): run it before calling an issue resolved.
# MUTATE_ONLY=REGEXP mutates only the package's files whose name matches.
# One package at a time, one gremlins worker (MUTATE_WORKERS) whose go test
# gets the other CPU: the machine has two. Then the mutants gremlins calls
# not covered are run one by one (scripts/mutate-recheck.py: a switch's
# case expressions and constants lie in no coverage block; MUTATE_RECHECK=0
# skips it). Results: build/mutate/<pkg>.json (gremlins' own format),
# <pkg>.txt (its log, one line per mutant), <pkg>.recheck; a table of every
# package at the end (scripts/mutate-table.py), also in
# build/mutate/summary.txt.
#
# The run works on a copy of the repository's Go sources in
# build/mutate/src.* (gremlins copies the module once per worker: the copy
# leaves out build/, bin/ and node_modules/). Not part of `make test`: a
# package of N mutants costs about N runs of its tests.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

GREMLINS_VERSION=v0.6.0
MUTATE_PKGS=(analysis/signature analysis/fault analysis/heap batch coreparse/values
	coreparse/unwind coreparse/corefile coreparse/corestore server session)
WORKERS=${MUTATE_WORKERS:-1}
# gremlins times a mutant's tests out at COEFF × the coverage run's time
# (its default, 3, counts a loaded machine's slow run as a kill).
COEFF=${MUTATE_TIMEOUT_COEFF:-5}

diff=""
pkgs=()
while (($#)); do
	case $1 in
	--diff) diff=$2; shift 2 ;;
	--diff=*) diff=${1#--diff=}; shift ;;
	-h | --help) sed -n '2,23p' "$0"; exit 0 ;;
	*) pkgs+=("${1#./}"); shift ;;
	esac
done
((${#pkgs[@]})) || pkgs=("${MUTATE_PKGS[@]}")

GO=${GO:-$(scripts/setup.sh | tail -n1)}
export PATH="$(dirname "$GO"):$PATH" # gremlins runs `go` from PATH
tools=$root/build/tools/gremlins-$GREMLINS_VERSION
if [ ! -x "$tools/gremlins" ]; then
	echo "mutate: installing gremlins $GREMLINS_VERSION into $tools" >&2
	mkdir -p "$tools"
	(cd /tmp && GOBIN=$tools GOFLAGS=-mod=mod "$GO" install "github.com/go-gremlins/gremlins/cmd/gremlins@$GREMLINS_VERSION")
fi

out=$root/build/mutate
mkdir -p "$out"
src=$(mktemp -d "$out/src.XXXXXX") # one per run: two runs do not share a copy
# gremlins' scratch (its per-worker copies, go's build dirs): a name the
# go tool's ./... skips ("_"), so `go test ./...` meanwhile ignores it.
tmp=$out/_tmp.${src##*.}
mkdir -p "$tmp"
trap 'rm -rf "$src" "$tmp"' EXIT
# The tracked and the new (not ignored) files, as they are in the work tree
# (or as commit $MUTATE_FROM has them: a long queue of packages is not
# disturbed by edits made meanwhile).
if [ -n "${MUTATE_FROM:-}" ]; then
	git archive "$MUTATE_FROM" | tar -x -C "$src" -f -
else
	git ls-files -z -co --exclude-standard | while IFS= read -r -d '' f; do [ -f "$f" ] && printf '%s\0' "$f"; done |
		tar -c --null -T - -f - | tar -x -C "$src" -f -
fi

# The fixture cores are shared with the tests' own runs (built per content
# hash of fixtures/, so the copy finds the same ones).
export DSECORE_FIXTURES=${DSECORE_FIXTURES:-$root/build/fixtures}
# gdb's answers (the differential tests' oracle) are asked once per run,
# not once per mutant: a mutant changes dsecore, not gdb
# (internal/testsupport/gdboracle's memo, in this run's scratch).
export GDBORACLE_MEMO=$tmp/gdbmemo
# Likewise the small programs internal/testsupport/testcore compiles and
# crashes: once per run, not once per mutant (and gdb's memo then finds
# the same core).
export DSECORE_TESTCORE_CACHE=$tmp/testcore
# MUTATE_ONLY=REGEXP: mutate only the package's files whose name matches
# (a shard of a package too big for one sitting; the log is
# <pkg>.only-<regexp>.txt and the table marks it).
only=${MUTATE_ONLY:-}
# gremlins' --diff runs `git diff --merge-base BASE` where it runs: point
# git at this repository, with the copy as its work tree, through
# scripts/mutate-git.sh (the diff's paths made the package's).
if [ -n "$diff" ]; then
	git -C "$root" rev-parse --verify -q "$diff^{commit}" >/dev/null || { echo "mutate: no such ref $diff" >&2; exit 2; }
	export GIT_DIR MUTATE_REAL_GIT
	GIT_DIR=$(git rev-parse --absolute-git-dir)
	MUTATE_REAL_GIT=$(command -v git)
	export GIT_WORK_TREE=$src
	mkdir -p "$tmp/bin"
	ln -s "$root/scripts/mutate-git.sh" "$tmp/bin/git"
	export PATH="$tmp/bin:$PATH"
fi

export GOFLAGS="${GOFLAGS:+$GOFLAGS }-cpu=1"
status=0
for p in "${pkgs[@]}"; do
	name=${p//\//_}${diff:+.diff} # a diff run does not overwrite the full run
	# gremlins walks the package's directory down (coreparse's mutants
	# would include coreparse/values', coreparse/unwind's, …): the
	# subpackages' files are left out (their paths, relative to the
	# package, have a '/'), each subpackage is a package of its own here.
	excl=(--exclude-files '/')
	if [ -n "$only" ]; then
		name+=.only-$(printf %s "$only" | tr -c 'A-Za-z0-9.-' -)
		for f in "$p"/*.go; do
			case $f in *_test.go) continue ;; esac
			b=$(basename "$f")
			[[ $b =~ $only ]] || excl+=(--exclude-files "^${b//./\\.}\$")
		done
	fi
	# gremlins mutates every line when the diff is empty: a package none
	# of whose own files changed since the base has nothing to mutate.
	if [ -n "$diff" ] && [ -z "$("${MUTATE_REAL_GIT:-git}" diff --merge-base "$diff" --name-only -- "$p/*.go" | grep -v '_test\.go$' | grep -E "^$p/[^/]+\.go$" || true)" ]; then
		echo "== mutate ./$p: none of its files changed since $diff" >&2
		continue
	fi
	echo "== mutate ./$p${diff:+ (lines changed since $diff)}" >&2
	export MUTATE_PKG=$p
	# Not gremlins' --test-cpu: v0.6.0 passes "-cpu 1" to go test as one
	# argument, the test binary rejects it (exit 2) and every mutant is
	# counted KILLED. go test takes -cpu from GOFLAGS instead (go list and
	# go build ignore it there).
	args=(unleash --workers "$WORKERS" --timeout-coefficient "$COEFF" --output "$out/$name.json")
	[ -n "$diff" ] && args+=(--diff "$diff")
	args+=("${excl[@]}")
	rm -f "$out/$name.json"
	if ! (cd "$src" && TMPDIR=$tmp "$tools/gremlins" "${args[@]}" "./$p" 2>&1 | tee "$out/$name.txt"); then
		echo "mutate: gremlins failed on ./$p (log: build/mutate/$name.txt)" >&2
		status=1
		continue
	fi
	# The mutants gremlins calls not covered, run (MUTATE_RECHECK=0: not).
	rm -f "$out/$name.recheck"
	if [ -z "$diff" ] && [ "${MUTATE_RECHECK:-1}" = 1 ]; then
		RECHECK_SRC=$src RECHECK_NAME=$name GO=$GO python3 scripts/mutate-recheck.py "$p" >&2 || status=1
	fi
done
# The table: every package with a log in build/mutate (this run's and
# earlier ones'), counted from the log's lines, so that a run cut short
# still shows what it did (marked "partial").
scripts/mutate-table.py "$out" | tee "$out/summary.txt"
echo "lived and not covered mutants: grep -E 'LIVED|NOT COVERED' build/mutate/*.txt" >&2
exit $status
