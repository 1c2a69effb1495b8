#!/usr/bin/env bash
# same-output.sh [REF [NEW]]: is the working tree's dsecore (or NEW's, a
# commit) byte for byte the dsecore of REF (default main) on every
# fixture core?
#
# A change that only moves code (issue 30) must not change a byte of what
# the faces print. This builds a reference binary from REF (git archive, so
# nothing of the working tree leaks into it) and one from the working tree
# as it is (uncommitted changes included; or from NEW, the same way as
# REF, so that the tree can change meanwhile), then runs on every core of the
# fixture sets (internal/testsupport/fixture: the main set, the frame-pointer set, the
# debug-information variants)
#
#     dsecore bt CORE                          (the first answer: cold, it
#                                              answers without its symbol
#                                              layouts; its background fill
#                                              is waited for,
#                                              DSECORE_CACHE_FILL=wait)
#     dsecore bt --all --all-tasks --json CORE
#     dsecore inspect --json CORE
#     dsecore summarize --format json CORE...   (all cores, one run)
#
# twice per binary: with an empty cache ($XDG_CACHE_HOME, so the inflated
# DWARF, the symbol indexes, summarize's per-core results) and again with
# the cache the first run left (warm). Each run's stdout, stderr and exit
# status are compared between the two binaries with cmp; a difference is
# shown (diff -u, first lines) and fails the script. Only the clock is
# taken out of stdout first, every field that measures it by name
# (summarize's "generated" and per-core "seconds", the holder search's
# and the waits' "elapsed_ns"): its value becomes "<clock>".
#
# Environment: DSECORE_FIXTURES (shared fixture cache, as the tests use
# it), DSECORE_CEPH_CORPUS (the real-daemon cores too, when set), GO
# (else scripts/setup.sh's), SAME_OUTPUT_KEEP=1 keeps the work directory,
# SAME_OUTPUT_CORES=REGEX only cores whose path matches.
set -euo pipefail

ref=${1:-main}
new=${2:-}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
GO=${GO:-$(scripts/setup.sh | tail -n1)}

work=$(mktemp -d "${TMPDIR:-/tmp}/same-output.XXXXXX")
if [[ ${SAME_OUTPUT_KEEP:-} != 1 ]]; then
	trap 'rm -rf "$work"' EXIT
else
	echo "work directory: $work"
fi

# build NAME COMMIT: the dsecore of a commit, from its files alone.
build() {
	mkdir -p "$work/$1-src" "$work/bin"
	git archive "$2" | tar -x -C "$work/$1-src"
	(cd "$work/$1-src" && CGO_ENABLED=0 "$GO" build -o "$work/bin/$1" ./cmd/dsecore)
}
refcommit=$(git rev-parse --verify "$ref^{commit}")
build ref "$refcommit"
if [[ -n $new ]]; then
	newcommit=$(git rev-parse --verify "$new^{commit}")
	echo "reference: $ref ($refcommit); new: $new ($newcommit)"
	build new "$newcommit"
else
	echo "reference: $ref ($refcommit); tree: $root (HEAD $(git rev-parse --short HEAD)$(git diff --quiet HEAD || echo ', with changes'))"
	mkdir -p "$work/bin"
	CGO_ENABLED=0 "$GO" build -o "$work/bin/new" ./cmd/dsecore
fi

# The fixture sets, built when missing (minutes), as the tests find them.
main_set=$("$GO" run ./internal/testsupport/fixture/fixturectl)
nocfi_set=$("$GO" run ./internal/testsupport/fixture/fixturectl nocfi)
variants_set=$("$GO" run ./internal/testsupport/fixture/fixturectl variants)

# One line per core: an id, then the arguments after the command name.
cases=()
while IFS= read -r core; do
	[[ -n ${SAME_OUTPUT_CORES:-} && ! $core =~ $SAME_OUTPUT_CORES ]] && continue
	args=("$core")
	case $core in
	"$variants_set"/*)
		# A variant's own debug-file directory, as its tests give it.
		vdir=${core#"$variants_set"/}
		vdir=$variants_set/${vdir%%/*}
		dd=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("debug_file_directory",""))' "$vdir/variant.json")
		[[ -n $dd ]] && args+=(--debug-file-directory "$dd" --debug-file-directory /usr/lib/debug)
		;;
	esac
	cases+=("$(printf '%q ' "${args[@]}")")
done < <(find "$main_set" "$nocfi_set" "$variants_set" -name core -type f | sort)
# The real-daemon corpus (cmd/dsecore/cephcorpus_test.go), when it is there.
if [[ -n ${DSECORE_CEPH_CORPUS:-} ]]; then
	while IFS= read -r core; do
		[[ -n ${SAME_OUTPUT_CORES:-} && ! $core =~ $SAME_OUTPUT_CORES ]] && continue
		cases+=("$(printf '%q ' "$core" --exe /usr/bin/ceph-mon)")
	done < <(find "$DSECORE_CEPH_CORPUS" -name core -type f | sort)
fi
echo "${#cases[@]} cores"
if ((${#cases[@]} == 0)); then
	echo "no core found" >&2
	exit 1
fi

# run BIN PASS NAME ARGS...: one command, its stdout, stderr and status.
run() {
	local bin=$1 pass=$2 name=$3
	shift 3
	local out=$work/out/$bin/$pass/$name
	mkdir -p "$(dirname "$out")"
	local rc=0
	(cd "$work/cwd" && env -u DEBUGINFOD_URLS -u DSECORE_CONFIG HOME="$work/home" XDG_CACHE_HOME="$work/cache" DSECORE_CACHE_FILL=wait \
		"$work/bin/$bin" "$@" >"$out.out" 2>"$out.err") || rc=$?
	echo "$rc" >"$out.rc"
	sed -E -i 's/^( *"(generated|seconds|elapsed_ns)": )("[^"]*"|[0-9.e+-]+)(,?)$/\1"<clock>"\4/' "$out.out"
}

mkdir -p "$work/cwd" "$work/home"
for bin in ref new; do
	rm -rf "$work/cache"
	mkdir -p "$work/cache"
	for pass in cold warm; do
		t0=$SECONDS
		cores=()
		for i in "${!cases[@]}"; do
			eval "args=(${cases[$i]})"
			cores+=("${args[0]}")
			run "$bin" "$pass" "$i.first" bt "${args[@]}"
			run "$bin" "$pass" "$i.bt" bt --all --all-tasks --json "${args[@]}"
			run "$bin" "$pass" "$i.inspect" inspect --json "${args[@]}"
		done
		run "$bin" "$pass" summarize summarize --format json --jobs 2 --progress never "${cores[@]}"
		echo "$bin $pass: $((SECONDS - t0)) s"
	done
done

status=0
same=0
for f in $(cd "$work/out/ref" && find . -type f | sort); do
	if cmp -s "$work/out/ref/$f" "$work/out/new/$f"; then
		same=$((same + 1))
		continue
	fi
	status=1
	name=${f#./*/}
	i=${name%%.*}
	what=""
	[[ $i =~ ^[0-9]+$ ]] && what=" (${cases[$i]})"
	echo "DIFFERS: ${f#./}$what"
	diff -u "$work/out/ref/$f" "$work/out/new/$f" | head -n 20 || true
done
echo "$same outputs identical, $(($(cd "$work/out/ref" && find . -type f | wc -l) - same)) differ"
exit $status
