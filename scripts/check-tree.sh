#!/usr/bin/env bash
# Fails when the repository tracks a build output: an ELF file (a binary,
# a core, a .so) or any file over 1 MB. Committed files that may be large
# are named here, one by one.
set -euo pipefail
cd "$(dirname "$0")/.."
allow_large=(
	vscode-ext/package-lock.json   # npm's lock file
	benchmarks/results.json        # the committed benchmark outputs
	benchmarks/scaling.png
)
bad=0
while IFS= read -r -d '' f; do
	[ -f "$f" ] || continue       # deleted in the work tree, not yet committed
	if [ "$(head -c 4 "$f" | od -An -tx1 | tr -d ' \n')" = 7f454c46 ]; then
		echo "check-tree: $f is an ELF file: build outputs do not belong in the repository (git rm --cached it; .gitignore it)" >&2
		bad=1
	fi
	size=$(stat -c %s "$f")
	if [ "$size" -gt 1048576 ]; then
		allowed=0
		for a in "${allow_large[@]}"; do [ "$f" = "$a" ] && allowed=1; done
		if [ $allowed = 0 ]; then
			echo "check-tree: $f is $size bytes (over 1 MB): build outputs do not belong in the repository" >&2
			bad=1
		fi
	fi
done < <(git ls-files -z)
exit $bad
