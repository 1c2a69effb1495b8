# dsecore: the two commands of the README are `make demo` and `make test`.
SHELL := /bin/bash
# scripts/setup.sh installs what is missing (apt-get, Go) and names the Go to use.
ifeq ($(origin GO),undefined)
GO := $(shell scripts/setup.sh | tail -n1)
endif

.PHONY: all setup build fixtures demo test test-go test-ext fuzz fuzz-short vet bench bench-dap clean

all: build

setup:
	@echo "go: $(GO)"

build: setup
	$(GO) build -o bin/dsecore ./cmd/dsecore

# Builds the fixture cores once per source hash into build/fixtures/<hash>.
fixtures: setup
	@$(GO) run ./internal/fixture/fixturectl

# Set everything up, make the field-crash core and explain it.
demo: build
	@dir=$$($(GO) run ./internal/fixture/fixturectl) && \
	  echo "+ dsecore inspect $$dir/field-crash/core" && bin/dsecore inspect $$dir/field-crash/core

vet: setup
	$(GO) vet ./...
	python3 -c 'import ast,sys; ast.parse(open(sys.argv[1]).read(), sys.argv[1])' gdbscript/dsecore.py
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above need formatting"; exit 1; }

# Every test: Go unit and differential tests (gdb as the oracle) on real
# cores, then the tests that live with the VS Code extension (node).
test: test-go test-ext fuzz-short

test-go: build fixtures vet
	$(GO) test -count=1 -timeout 40m ./...

# vscode-ext: unit tests, Microsoft's DebugClient driving bin/dsecore dap on
# the fixtures, then the packaged .vsix in a real VS Code (code-server) in
# headless Chromium; screenshots in build/artifacts.
test-ext: build fixtures
	scripts/install-code-server.sh $(CURDIR)/build/code-server
	cd vscode-ext && npm ci --no-audit --no-fund
	dir=$$($(GO) run ./internal/fixture/fixturectl) && cd vscode-ext && DSECORE=$(CURDIR)/bin/dsecore DSECORE_FIXTURES=$$dir \
	  DSECORE_CODE_SERVER=$(CURDIR)/build/code-server DSECORE_ARTIFACTS=$(CURDIR)/build/artifacts npm test

# Fuzz targets: each for FUZZTIME in `make test` (a crash fails the run and
# leaves its input in the package's testdata/fuzz, to be kept as a
# regression seed); `make fuzz` runs them longer.
FUZZ_TARGETS := ./coreparse/corefile:FuzzNewCore ./coreparse/unwind:FuzzParseCFI ./coreparse/unwind:FuzzUnwindStack \
	./coreparse/values:FuzzListWalk ./coreparse/values:FuzzDWARFExpr ./analysis/dmesg:FuzzParse ./analysis/fault:FuzzParseLog ./analysis/signature:FuzzNormalize ./server:FuzzServe
FUZZTIME ?= 20s
fuzz-short: fixtures
	@for t in $(FUZZ_TARGETS); do pkg=$${t%%:*}; fn=$${t##*:}; \
	  echo "fuzz $$pkg $$fn for $(FUZZTIME)"; \
	  $(GO) test $$pkg -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) -parallel 2 || exit 1; done

fuzz:
	$(MAKE) fuzz-short FUZZTIME=10m

bench: build
	scripts/bench.sh $$($(GO) run ./internal/fixture/fixturectl)

# DAP servers side by side: time to the first stackTrace, peak RSS.
bench-dap: build
	python3 scripts/bench-dap.py $$($(GO) run ./internal/fixture/fixturectl)

clean:
	rm -rf bin build
