# toolhost: see README.md. "make run" and "make test" set everything up.

GO ?= go
# Go tools used by lint and bench, fetched through the module proxy.
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
BENCHSTAT   := golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da
PROTOC_GEN_GO      := google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.6
PROTOC_GEN_GO_GRPC := google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.3.0

.PHONY: build tools run test lint fuzz bench clean conformance proto

build:
	$(GO) build -o bin/agentcli ./cmd/agentcli

# The manifest loader refuses programs writable by group or others, so the
# mode is set whatever the umask.
tools:
	$(GO) build -o tools/bin/ ./tools/cmd/...
	chmod 0755 tools/bin/*

# The main job: serve the bundled toolbelt to MCP clients over stdio. The
# banner on stderr says what is served and how to attach; the client
# configuration printed first is ready to paste.
run: build tools
	@echo '== agentcli tools: the vetted toolbelt'
	./bin/agentcli tools
	@echo
	@echo '== agentcli mcp config: paste into your MCP client'
	./bin/agentcli mcp config
	@echo
	@echo '== agentcli mcp: serving over stdio until stdin ends (Ctrl-D) or Ctrl-C'
	./bin/agentcli mcp

# The MCP end-to-end test drives agentcli with the official TypeScript SDK
# client, and the resident tool in Node.js needs gRPC's packages: both
# are installed here from their lock files.
test: lint
	npm ci --prefix e2e/mcp-ts --no-audit --no-fund
	npm ci --prefix examples/resident-node --no-audit --no-fund
	TOOLHOST_REQUIRE_NODE=1 $(GO) test -race -count=1 ./...
	$(MAKE) conformance
	$(MAKE) fuzz

# The official MCP conformance suite against agentcli mcp, over streamable
# HTTP and over stdio, with Node 22 and the suite from the npm registry
# (pinned by e2e/conformance/package-lock.json); a scenario that fails and
# is not in e2e/conformance/baseline-*.yml fails the target.
conformance:
	bash e2e/conformance/conformance.sh .

# A short run of every fuzz target (their seed corpora run with the tests
# too); FUZZTIME=200000x make fuzz for a longer one. A crash is kept under
# the package's testdata/fuzz, to replay. The budget is a count of runs,
# not a duration: with a duration, Go before 1.27 may fail a run that found
# nothing with "context deadline exceeded" as the time ends
# (go.dev/issue/75804), which a busy machine makes likely.
FUZZTIME ?= 2000x
fuzz:
	@set -e; grep -rl --include='*_test.go' '^func Fuzz' . | sort | while read -r file; do \
	  dir=$$(dirname "$$file"); \
	  for f in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$$file"); do \
	    echo "fuzz $$dir $$f ($(FUZZTIME))"; \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) "$$dir" > .fuzz.out 2>&1 || { cat .fuzz.out; rm -f .fuzz.out; exit 1; }; \
	  done; \
	done; rm -f .fuzz.out

# Regenerates the resident tool service's Go code from its definition
# (protocol/resident/residentpb/resident.proto). Needs protoc (Debian's
# protobuf-compiler); its Go plugins come through the module proxy. CI
# checks that the code in the repository is what this makes.
proto:
	GOBIN=$(CURDIR)/.protobin $(GO) install $(PROTOC_GEN_GO)
	GOBIN=$(CURDIR)/.protobin $(GO) install $(PROTOC_GEN_GO_GRPC)
	cd protocol/resident/residentpb && PATH="$(CURDIR)/.protobin:$$PATH" protoc \
	  --go_out=. --go_opt=paths=source_relative \
	  --go-grpc_out=. --go-grpc_opt=paths=source_relative resident.proto

lint:
	@unformatted=$$(gofmt -l .); if [ -n "$$unformatted" ]; then echo "not gofmt-clean:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	GOOS=darwin $(GO) vet ./...
	GOOS=windows $(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

# Each benchmark runs 6 times; benchstat prints the median of every
# metric with its spread. Ratios compare against a baseline measured in
# the same run, interleaved.
bench:
	$(GO) test -run '^$$' -bench 'CallVsRaw/seq|LaunchVsRaw' -benchtime 400x -count 6 ./internal/host/ ./internal/sandbox/ | tee bench.txt
	$(GO) test -run '^$$' -bench 'CallVsRaw/par8' -benchtime 10x -count 6 ./internal/host/ | tee -a bench.txt
	$(GO) test -run '^$$' -bench 'Levels' -benchtime 200x -count 6 ./internal/host/ | tee -a bench.txt
	$(GO) test -run '^$$' -bench 'Containment' -benchtime 200x -count 6 ./internal/host/ | tee -a bench.txt
	$(GO) test -run '^$$' -bench 'ProtIndex' -benchtime 200x -count 6 ./internal/host/ | tee -a bench.txt
	$(GO) test -run '^$$' -bench 'Run100' -benchtime 10x -count 6 ./internal/chat/ | tee -a bench.txt
	$(GO) test -run '^$$' -bench 'MCPVsRaw/seq' -benchtime 300x -count 6 ./cmd/agentcli/ | tee -a bench.txt
	$(GO) test -run '^$$' -bench 'MCPVsRaw/par8' -benchtime 10x -count 6 ./cmd/agentcli/ | tee -a bench.txt
	$(GO) test -run '^$$' -bench 'Load1000|Append|PeakMemory' -count 6 ./internal/manifest/ ./internal/audit/ ./cmd/agentcli/ | tee -a bench.txt
	$(GO) test -run '^$$' -bench 'ToolTest' -benchtime 3x -count 6 ./cmd/agentcli/ | tee -a bench.txt
	$(GO) test -run '^$$' -bench 'ResidentVsOneShot' -benchtime 200x -count 6 ./protocol/resident/ | tee -a bench.txt
	$(GO) test -run '^$$' -bench 'Resident/oneshot/seq' -benchtime 100x -count 6 ./internal/host/ | tee -a bench.txt
	$(GO) test -run '^$$' -bench 'Resident/oneshot/par8' -benchtime 4x -count 6 ./internal/host/ | tee -a bench.txt
	$(GO) test -run '^$$' -bench 'Resident/floor/seq' -benchtime 2000x -count 6 ./internal/host/ | tee -a bench.txt
	$(GO) test -run '^$$' -bench 'Resident/floor/par8' -benchtime 50x -count 6 ./internal/host/ | tee -a bench.txt
	$(GO) test -run '^$$' -bench 'ResidentNode/seq' -benchtime 20x -count 6 ./internal/host/ | tee -a bench.txt
	$(GO) test -run '^$$' -bench 'ResidentNode/par8' -benchtime 2x -count 6 ./internal/host/ | tee -a bench.txt
	$(GO) test -run '^$$' -bench 'MCPResident/seq' -benchtime 100x -count 6 ./cmd/agentcli/ | tee -a bench.txt
	$(GO) test -run '^$$' -bench 'MCPResident/par8' -benchtime 4x -count 6 ./cmd/agentcli/ | tee -a bench.txt
	$(GO) run $(BENCHSTAT) bench.txt

clean:
	rm -rf bin tools/bin bench.txt .protobin e2e/mcp-ts/node_modules examples/resident-node/node_modules
