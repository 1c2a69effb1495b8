#!/usr/bin/env bash
# layers.sh: fails when a package imports a package of a higher layer
# outside its tests (issue 30). Data flows one way:
#
#   0 helpers   internal/* (not internal/testsupport, the test harness)
#   1 core      coreparse/{corefile,symbols,unwind,disasm,corestore,finder}
#   2 model     coreparse, coreparse/values
#   3 analysis  analysis/*
#   4 session   session
#   5 report    report (the per-core documents)
#   6 batch     batch (many cores: summaries, groups, their formats)
#   7 faces     server, fleet/*, cmd/*, gdbscript, packaging, benchmarks/*
#
# A package may import its own layer and the layers below. The test
# harness (internal/testsupport/*: fixture, fixtureproc, gdboracle,
# lldboracle, debuginfodtest, testcore, testenv, eustack, bound) may
# import anything and be imported only by tests. The imports are go
# list's of the non-test files (GOFLAGS=-tags as the build's); with -v
# it prints the graph between layers (how many imports from each layer
# to each).
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
mod=$("$GO" list -m)
verbose=${1:-}

layer() {
	local p=${1#"$mod"/}
	case $p in
	internal/testsupport | internal/testsupport/*) echo test ;;
	internal/*) echo 0 ;;
	coreparse/corefile | coreparse/symbols | coreparse/symbols/* | coreparse/unwind | coreparse/disasm | \
		coreparse/corestore | coreparse/finder) echo 1 ;;
	coreparse | coreparse/values) echo 2 ;;
	analysis/*) echo 3 ;;
	session) echo 4 ;;
	report) echo 5 ;;
	batch) echo 6 ;;
	server | fleet/* | cmd/* | gdbscript | packaging | benchmarks/*) echo 7 ;;
	*) echo unknown ;;
	esac
}
names=(helpers core model analysis session report batch faces)

bad=0
declare -A edges=()
while read -r pkg imports; do
	from=$(layer "$pkg")
	if [[ $from == unknown ]]; then
		echo "layers: ${pkg#"$mod"/} is in no layer: name it in scripts/layers.sh" >&2
		bad=1
		continue
	fi
	for imp in $imports; do
		[[ $imp == "$mod" || $imp == "$mod"/* ]] || continue
		to=$(layer "$imp")
		if [[ $to == test ]]; then
			if [[ $from != test ]]; then
				echo "layers: ${pkg#"$mod"/} imports the test harness ${imp#"$mod"/} outside its tests" >&2
				bad=1
			fi
			continue
		fi
		[[ $from == test ]] && continue
		if [[ $to == unknown ]]; then
			continue # said when it is the importing package
		fi
		if ((to > from)); then
			echo "layers: ${pkg#"$mod"/} (${names[$from]}) imports ${imp#"$mod"/} (${names[$to]}), a higher layer" >&2
			bad=1
		fi
		k="${names[$from]} -> ${names[$to]}"
		edges[$k]=$((${edges[$k]:-0} + 1))
	done
done < <("$GO" list -f '{{.ImportPath}} {{join .Imports " "}}' ./...)
if [[ $verbose == -v ]]; then
	for k in "${!edges[@]}"; do echo "$k: ${edges[$k]}"; done | sort
fi
exit $bad
