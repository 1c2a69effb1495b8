# dsecore: the two commands of the README are `make demo` and `make test`.
SHELL := /bin/bash
# scripts/setup.sh installs what is missing (apt-get, Go) and names the Go to use.
ifeq ($(origin GO),undefined)
GO := $(shell scripts/setup.sh | tail -n1)
endif

.PHONY: all setup build fixtures demo test test-go test-ext ceph-corpus-ext e2e-soak fuzz fuzz-short vet bench bench-quick bench-batch mutate audit-mutants package clean

all: build

setup:
	@echo "go: $(GO)"

# Without cgo: a static binary whose threads cost no pthread stack or
# glibc malloc arena of address space (ulimit -v; see internal/memlimit).
build: setup
	CGO_ENABLED=0 $(GO) build -o bin/dsecore ./cmd/dsecore

# Builds the fixture cores once per source hash into build/fixtures/<hash>.
fixtures: setup
	@$(GO) run ./internal/testsupport/fixture/fixturectl

# Set everything up, make the field-crash core and explain it.
demo: build
	@dir=$$($(GO) run ./internal/testsupport/fixture/fixturectl) && \
	  echo "+ dsecore inspect $$dir/field-crash/core" && bin/dsecore inspect $$dir/field-crash/core

vet: setup
	scripts/check-tree.sh
	GO=$(GO) scripts/layers.sh
	$(GO) vet ./...
	for f in fixtures/ceph/*.sh; do bash -n $$f || exit 1; done
	for f in packaging/scripts/*.sh; do sh -n $$f || exit 1; done
	for f in gdbscript/dsecore.py gdbscript/dsecore_gdb/*.py benchmarks/*.py fixtures/scale/gen.py fixtures/ceph/inject.py; do python3 -c 'import ast,sys; ast.parse(open(sys.argv[1]).read(), sys.argv[1])' $$f || exit 1; done
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above need formatting"; exit 1; }

# Every test: Go unit and differential tests (gdb as the oracle) on real
# cores, then the tests that live with the VS Code extension (node).
test: test-go test-ext fuzz-short

test-go: build fixtures vet package
	$(GO) test -count=1 -timeout 40m ./...

# vscode-ext: unit tests, Microsoft's DebugClient driving bin/dsecore dap on
# the fixtures and on real ceph-mon cores, then the packaged .vsix in a real
# VS Code (code-server) in headless Chromium; screenshots in build/artifacts.
test-ext: build fixtures ceph-corpus-ext
	scripts/install-code-server.sh $(CURDIR)/build/code-server
	cd vscode-ext && npm ci --no-audit --no-fund
	dir=$$($(GO) run ./internal/testsupport/fixture/fixturectl) && cd vscode-ext && DSECORE=$(CURDIR)/bin/dsecore DSECORE_FIXTURES=$$dir \
	  DSECORE_CEPH_CORPUS=$(EXT_CEPH_CORPUS) \
	  DSECORE_CODE_SERVER=$(CURDIR)/build/code-server DSECORE_ARTIFACTS=$(CURDIR)/build/artifacts npm test

# The real-daemon cores the extension's tests open: Debian's ceph-mon
# crashed by fixtures/ceph/corpus.sh on a one-monitor cluster on loopback
# (about 10 s a scenario), made afresh into build/ceph-corpus-ext, or
# $DSECORE_CEPH_CORPUS when it names a corpus made before.
EXT_CEPH_SCENARIOS := abort kill-segv null-load wild-pc
EXT_CEPH_CORPUS := $(or $(DSECORE_CEPH_CORPUS),$(CURDIR)/build/ceph-corpus-ext)
ceph-corpus-ext:
	@if [ -z "$(DSECORE_CEPH_CORPUS)" ]; then bash fixtures/ceph/corpus.sh $(EXT_CEPH_CORPUS) $(EXT_CEPH_SCENARIOS); fi

# The e2e suite N times in a row (default 10), each run from a fresh
# code-server; the count of green runs is printed. Run it with a load
# beside it (e.g. `go test -count=1 ./...`) to prove a change to the e2e
# test deterministic.
E2E_RUNS ?= 10
e2e-soak: test-ext
	@dir=$$($(GO) run ./internal/testsupport/fixture/fixturectl); ok=0; \
	for i in $$(seq $(E2E_RUNS)); do \
	  if (cd vscode-ext && DSECORE=$(CURDIR)/bin/dsecore DSECORE_FIXTURES=$$dir DSECORE_CODE_SERVER=$(CURDIR)/build/code-server \
	      DSECORE_CEPH_CORPUS=$(EXT_CEPH_CORPUS) DSECORE_ARTIFACTS=$(CURDIR)/build/artifacts/soak-$$i npm run -s test:e2e > $(CURDIR)/build/e2e-soak-$$i.log 2>&1); then ok=$$((ok+1)); \
	  else echo "e2e run $$i failed: build/e2e-soak-$$i.log"; fi; done; \
	echo "e2e-soak: $$ok/$(E2E_RUNS) green"; test $$ok = $(E2E_RUNS)

# Fuzz targets, each with an execution budget for `make test` (about 20 s
# apiece on a 2-core machine). A count, not -fuzztime 20s: a duration budget
# trips a race in Go's fuzz coordinator (go.dev/issue/75804) that fails a
# clean run with "context deadline exceeded". A crash fails the run and
# leaves its input in the package's testdata/fuzz, to be kept as a regression
# seed; new inputs are minimized for at most 5 s (the default, 60 s, stalls a
# target on a large input); `timeout` bounds a stalled engine. `make fuzz` runs FUZZMULT times
# longer.
FUZZ_TARGETS := ./coreparse/corefile:FuzzNewCore:60000 ./coreparse/unwind:FuzzParseCFI:200000 \
	./coreparse/unwind:FuzzUnwindStack:600000 ./coreparse/values:FuzzListWalk:300000 \
	./coreparse/values:FuzzDWARFExpr:300000 ./coreparse/values:FuzzEval:200000 ./analysis/dmesg:FuzzParse:60000 \
	./analysis/fault:FuzzParseLog:200000 ./analysis/signature:FuzzNormalize:800000 ./server:FuzzServe:200000 \
	./coreparse:FuzzModules:20000 ./server:FuzzDispatchLaunched:8000 ./analysis/heap:FuzzHeap:5000
FUZZMULT ?= 1
fuzz-short: fixtures
	@for t in $(FUZZ_TARGETS); do pkg=$${t%%:*}; rest=$${t#*:}; fn=$${rest%%:*}; n=$$(( $${rest#*:} * $(FUZZMULT) )); \
	  echo "fuzz $$pkg $$fn for $$n executions"; \
	  timeout $$(( 600 * $(FUZZMULT) )) $(GO) test $$pkg -run '^$$' -fuzz "^$$fn$$" -fuzztime $${n}x -fuzzminimizetime 5s -parallel 2 || exit 1; done

fuzz:
	$(MAKE) fuzz-short FUZZMULT=30

# dsecore side by side with gdb, eu-stack, lldb-16 and lldb-vscode-16 on the
# same cores: the fixtures, then the scale fixture generated into build/scale
# (minutes and about 6 GB the first time). Writes benchmarks/RESULTS.md,
# results.json and scaling.png. bench-quick: the default fixtures only.
# Both include the 1,000-core batches (fixtures/batch, made into build/batch:
# ~2 minutes and ~4.5 GB the first time) and the upstream-libgo core when
# build/libgo-upstream (or $DSECORE_LIBGO_CORE) has one; bench-batch measures
# the 1,000-core batches alone, keeping every other row.
bench: build fixtures
	python3 benchmarks/run.py
bench-quick: build fixtures
	python3 benchmarks/run.py --quick --out build/bench
bench-batch: build
	python3 benchmarks/run.py --cores "batch of 1,000"

# Mutation testing (gremlins) of the packages whose tests run in seconds,
# one package at a time on one worker: hours for all of them, so not part of
# `make test`. MUTATE_PKGS=analysis/fault picks packages; MUTATE_DIFF=main
# mutates only the lines changed since main (run it before resolving an
# issue). Results in build/mutate/, explained in docs/testing.md.
mutate: fixtures
	GO=$(GO) scripts/mutate.sh $(if $(MUTATE_DIFF),--diff $(MUTATE_DIFF)) $(MUTATE_PKGS)

# The broken builds of the test audit (issue 32), each applied to a scratch
# copy: the suite must go red on every one.
audit-mutants: fixtures
	GO=$(GO) scripts/audit-mutants.sh

# The .deb and .rpm (nfpm, from the Go module proxy into build/tools), with
# the binary, the gdb bridge, the agent's systemd units, its conffile, and
# the man pages and shell completions cobra generates from the commands;
# and the VS Code extension's .vsix beside them. Into build/package/.
NFPM_VERSION := v2.45.2
DSECORE_VERSION ?= 0.1.0
package: build
	rm -rf build/package && mkdir -p build/package/stage build/tools
	cp bin/dsecore build/package/stage/dsecore
	CGO_ENABLED=0 $(GO) build -tags gendocs -o build/tools/dsecore-gendocs ./cmd/dsecore
	build/tools/dsecore-gendocs gendocs build/package/stage
	gzip -9n build/package/stage/man/*.1
	test -x build/tools/nfpm || (cd /tmp && GOBIN=$(CURDIR)/build/tools $(GO) install github.com/goreleaser/nfpm/v2/cmd/nfpm@$(NFPM_VERSION))
	for p in deb rpm; do DSECORE_VERSION=$(DSECORE_VERSION) DSECORE_RELEASE=$$(git rev-list --count HEAD 2>/dev/null || echo 1) \
	  build/tools/nfpm package -f packaging/nfpm.yaml -p $$p -t build/package/ || exit 1; done
	cd vscode-ext && npm ci --no-audit --no-fund && DSECORE=$(CURDIR)/bin/dsecore npm run -s package
	cp build/dsecore.vsix build/package/dsecore-$(DSECORE_VERSION).vsix
	@ls -l build/package/*.deb build/package/*.rpm build/package/*.vsix

clean:
	rm -rf bin build
