#!/usr/bin/env bash
# Installs what dsecore needs to build, make its fixture cores and run every
# test, on a Debian 12 machine. Safe to run again: it installs only what is
# missing. Prints the Go binary to use on its last line.
set -euo pipefail

GO_VERSION=1.26.8   # the toolchain go.mod asks for

need_pkgs=()
have() { command -v "$1" >/dev/null 2>&1; }
pkg_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

# Debian packages: the C++ toolchain and Boost for the fixture program, gdb
# (the oracle of the differential tests), libc6-dbg (libc's inline frames),
# elfutils (eu-stack, eu-readelf), binutils (objdump, addr2line: oracles of
# the symbolize tests), lldb-16 (benchmarks), python3 (the gdb bridge),
# chromium (renders the summarize HTML report in a test), clang-16 (the DWARF
# entry reader is tested on what clang emits: strx, addrx, rnglistx, loclistx),
# ceph-mon, ceph-mgr and ceph-common (the real-daemon corpus: a one-monitor
# cluster on loopback whose daemons crash, and its crash module, fixtures/ceph);
# ceph-base (ceph-crash, which posts a node's crash reports: the fleet test
# runs it beside the agents); systemd (systemd-analyze verifies the agent's
# units), rpm (the .rpm's contents) and man-db (the installed man pages):
# the package test; dwz, llvm-16 (llvm-dwp-16) and xz-utils
# (fixtures/variants: the field crash as distributions and split-DWARF builds
# ship its debug information; binutils has dwp, elfutils eu-strip), graphviz
# (dot: the summarize HTML report draws a hang's wait graph with it),
# fonts-wqy-microhei (Chromium draws the Chinese of the zh-CN HTML report and
# of VS Code in Chinese with it: screenshots in build/artifacts, not boxes).
for p in g++ make gdb libc6-dbg libboost-dev libboost-context-dev elfutils binutils lldb-16 clang-16 python3 git ca-certificates time chromium ceph-mon ceph-mgr ceph-common ceph-base systemd rpm man-db dwz llvm-16 xz-utils graphviz fonts-wqy-microhei; do
	pkg_installed "$p" || need_pkgs+=("$p")
done
# Node.js and npm run the tests that live with the VS Code extension; the
# machine's own node (20 or newer) is used when there is one.
if ! have node || ! have npm; then
	for p in nodejs npm; do pkg_installed "$p" || need_pkgs+=("$p"); done
fi
if ((${#need_pkgs[@]})); then
	echo "setup: installing ${need_pkgs[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
	$SUDO apt-get update -qq
	$SUDO apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >&2
fi

# Go: use a Go >= $GO_VERSION if there is one; otherwise fetch the toolchain
# from the Go module proxy (golang.org/toolchain is an ordinary module there),
# bootstrapping with Debian's golang-go when no go exists at all.
go_ok() { "$1" version 2>/dev/null | awk -v want="go$GO_VERSION" '{split($3,a,"go"); split(a[2],h,"."); split(substr(want,3),w,"."); exit !((h[1]>w[1])||(h[1]==w[1]&&h[2]>w[2])||(h[1]==w[1]&&h[2]==w[2]&&h[3]>=w[3]))}'; }
GO=""
for cand in go /usr/local/go/bin/go "$HOME/go/bin/go"; do
	if have "$cand" && go_ok "$(command -v "$cand")"; then GO=$(command -v "$cand"); break; fi
done
if [ -z "$GO" ]; then
	boot=""
	for cand in go /usr/local/go/bin/go /usr/lib/go/bin/go; do have "$cand" && boot=$(command -v "$cand") && break; done
	if [ -z "$boot" ]; then
		echo "setup: installing Debian's golang-go to bootstrap Go $GO_VERSION" >&2
		SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
		$SUDO apt-get install -y -qq --no-install-recommends golang-go >&2
		boot=/usr/bin/go
	fi
	echo "setup: fetching Go $GO_VERSION from the Go module proxy" >&2
	dir=$(cd /tmp && GOFLAGS=-modcacherw GO111MODULE=on GOTOOLCHAIN=local "$boot" mod download -json "golang.org/toolchain@v0.0.1-go$GO_VERSION.linux-amd64" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
	GO="$dir/bin/go"
	[ -x "$GO" ] || { echo "setup: could not obtain Go $GO_VERSION" >&2; exit 1; }
fi
echo "$GO"
