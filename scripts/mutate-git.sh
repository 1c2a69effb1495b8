#!/usr/bin/env bash
# git, as gremlins' --diff sees it (scripts/mutate.sh puts this first on
# PATH as `git`): gremlins names a file by its path inside the package it
# mutates ($MUTATE_PKG), git diff by its path in the repository, so the
# diff's paths lose the package's prefix. Anything else is the real git
# ($MUTATE_REAL_GIT).
if [ "${1:-}" = diff ]; then
	"$MUTATE_REAL_GIT" "$@" | sed -E "s#^(diff --git a/)$MUTATE_PKG/(.*) b/$MUTATE_PKG/#\1\2 b/#; s#^(--- a/|\+\+\+ b/)$MUTATE_PKG/#\1#"
	exit "${PIPESTATUS[0]}"
fi
exec "$MUTATE_REAL_GIT" "$@"
