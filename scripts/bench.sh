#!/usr/bin/env bash
# Benchmark: all-thread backtraces of each fixture core, dsecore side by side
# with gdb, eu-stack and lldb on the same core. Wall time (median of N runs)
# and peak RSS, as a markdown table with ratios to dsecore. Not a test: it
# measures, it never asserts a time.
#
#   scripts/bench.sh FIXTURE_DIR [RUNS]     (make bench does this)
set -euo pipefail
dir=${1:?usage: bench.sh FIXTURE_DIR [RUNS]}
runs=${2:-3}
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${DSECORE:-$here/bin/dsecore}
[ -x /usr/bin/time ] || { echo "bench: needs GNU time (apt-get install time)" >&2; exit 1; }
lldb=$(command -v lldb-16 || command -v lldb || true)

# measure CMD...: prints "median_seconds max_rss_kib" over $runs runs.
measure() {
	local times=() rss=0 t m out tmp
	tmp=$(mktemp)
	for ((i = 0; i < runs; i++)); do
		/usr/bin/time -o "$tmp" -f "%e %M" "$@" >/dev/null 2>&1 || true
		out=$(tail -n1 "$tmp")
		t=${out% *}; m=${out#* }
		times+=("$t"); ((m > rss)) && rss=$m
	done
	rm -f "$tmp"
	printf '%s %s\n' "$(printf '%s\n' "${times[@]}" | sort -n | sed -n "$(((runs + 1) / 2))p")" "$rss"
}

echo "| core | tool | wall s (median of $runs) | peak RSS MiB | time / dsecore | RSS / dsecore |"
echo "|---|---|---|---|---|---|"
for sc in field-crash no-handler abort use-after-free large coverage; do
	core=$dir/$sc/core
	[ -f "$core" ] || continue
	exe=$dir/bin/ceph-dse
	[ "$sc" = coverage ] && exe=$dir/bin-cov/ceph-dse
	read -r dt dm < <(measure "$bin" bt "$core" --exe "$exe" --all --json)
	row() { awk -v c="$sc" -v n="$1" -v t="$2" -v m="$3" -v dt="$dt" -v dm="$dm" \
		'BEGIN{printf "| %s | %s | %.3f | %.1f | %.2f | %.2f |\n", c, n, t, m/1024, (dt>0?t/dt:0), (dm>0?m/dm:0)}'; }
	row dsecore "$dt" "$dm"
	read -r t m < <(measure "$bin" bt "$core" --exe "$exe" --all --all-tasks --json); row "dsecore +all tasks" "$t" "$m"
	read -r t m < <(measure gdb -nx -batch -ex "set pagination off" -ex "thread apply all bt" "$exe" "$core"); row gdb "$t" "$m"
	read -r t m < <(measure eu-stack -i -s --core="$core" --executable="$exe"); row "eu-stack -i -s" "$t" "$m"
	if [ -n "$lldb" ]; then
		read -r t m < <(measure "$lldb" --batch -c "$core" "$exe" -o "thread backtrace all"); row "$(basename "$lldb")" "$t" "$m"
	fi
done
