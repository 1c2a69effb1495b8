#!/usr/bin/env bash
# The broken builds of the test audit (issue 32), proven caught: each
# scripts/audit-mutants/N-*.patch breaks a copy of the code the way the
# audit did (a build that exits 0 on bad input, reads memory a word off,
# ignores the concurrency window, leaves requests unanswered, ...), and the
# tests named in its header must go red on it.
#
#   scripts/audit-mutants.sh [--full] [--baseline] [N...]
#
# Each patch's header says what it breaks and which tests catch it:
#   # what: ...
#   # packages: ./cmd/dsecore ./server
#   # run: ^(TestBadInputs|TestDAPFieldCrash)$
# The copy is build/audit/src (the tracked and new files of the work tree);
# the patch is applied there, never to the work tree. --full runs every
# test of the packages, not just the named ones (slower: the whole
# cmd/dsecore suite is minutes). --baseline first checks that the same
# tests pass on the unbroken copy. Exit 1 if any broken build passes.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
full=0
baseline=0
only=()
while (($#)); do
	case $1 in
	--full) full=1 ;;
	--baseline) baseline=1 ;;
	-h | --help) sed -n '2,19p' "$0"; exit 0 ;;
	*) only+=("$1") ;;
	esac
	shift
done
GO=${GO:-$(scripts/setup.sh | tail -n1)}
export DSECORE_FIXTURES=${DSECORE_FIXTURES:-$root/build/fixtures}

out=$root/build/audit
src=$out/src
mkdir -p "$out"

# fresh_copy makes build/audit/src the work tree's tracked and new files.
fresh_copy() {
	rm -rf "$src"
	mkdir -p "$src"
	git ls-files -z -co --exclude-standard | while IFS= read -r -d '' f; do [ -f "$f" ] && printf '%s\0' "$f"; done |
		tar -c --null -T - -f - | tar -x -C "$src" -f -
}

header() { sed -n "s/^# $2: //p" "$1" | head -n1; }

# run_tests PATCH LOG: runs the patch's tests in the copy; returns go test's status.
run_tests() {
	local patch=$1 log=$2 pkgs run
	pkgs=$(header "$patch" packages)
	run=$(header "$patch" run)
	local args=(test -count=1 -timeout 30m)
	[ $full = 1 ] || args+=(-run "$run")
	# shellcheck disable=SC2086 # the packages are words
	(cd "$src" && "$GO" "${args[@]}" $pkgs) >"$log" 2>&1
}

caught=0
missed=0
broken=0
results=()
for patch in scripts/audit-mutants/*.patch; do
	n=$(basename "$patch" .patch)
	if ((${#only[@]})); then
		keep=0
		for o in "${only[@]}"; do [[ $n == "$o"-* || $n == "$o" ]] && keep=1; done
		[ $keep = 1 ] || continue
	fi
	what=$(header "$patch" what)
	echo "== $n: $what" >&2
	fresh_copy
	if [ $baseline = 1 ]; then
		if ! run_tests "$patch" "$out/$n.baseline.log"; then
			echo "   the unbroken copy fails these tests already: build/audit/$n.baseline.log" >&2
			results+=("$n: BASELINE FAILS")
			broken=$((broken + 1))
			continue
		fi
	fi
	# The copy is a repository of its own, so that git apply patches it
	# (and not the work tree around it).
	if ! (cd "$src" && git init -q && git apply --whitespace=nowarn "$root/$patch") >"$out/$n.apply.log" 2>&1; then
		echo "   the patch no longer applies (the code moved): refresh it; build/audit/$n.apply.log" >&2
		results+=("$n: DOES NOT APPLY")
		broken=$((broken + 1))
		continue
	fi
	start=$SECONDS
	if run_tests "$patch" "$out/$n.log"; then
		echo "   MISSED: the tests pass on this broken build (build/audit/$n.log)" >&2
		results+=("$n: missed")
		missed=$((missed + 1))
	else
		fails=$(grep -E -- '^\s*--- FAIL' "$out/$n.log" | sed 's/ (.*//; s/^ *--- FAIL: //' | head -n 6 | paste -sd' ' -)
		[ -n "$fails" ] || fails=$(grep -E '^FAIL' "$out/$n.log" | head -n 3 | paste -sd' ' -)
		echo "   caught in $((SECONDS - start)) s by: $fails" >&2
		results+=("$n: caught by $fails")
		caught=$((caught + 1))
	fi
done
rm -rf "$src"
echo "audit-mutants: $caught caught, $missed missed, $broken not run" >&2
printf '%s\n' "${results[@]}"
[ $missed = 0 ] && [ $broken = 0 ]
