# toolhost: see README.md. "make run" and "make test" set everything up.

GO ?= go
# Go tools used by lint and bench, fetched through the module proxy.
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
BENCHSTAT   := golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da

.PHONY: build tools run test lint bench clean

build:
	$(GO) build -o bin/agentcli ./cmd/agentcli

# The manifest loader refuses programs writable by group or others, so the
# mode is set whatever the umask.
tools:
	$(GO) build -o tools/bin/ ./tools/cmd/...
	chmod 0755 tools/bin/*

run: build tools
	@echo '== agentcli tools: the vetted toolbelt'
	./bin/agentcli tools
	@echo
	@echo '== agentcli call: real calls through the host'
	./bin/agentcli call get_time '{"timezone":"Europe/Helsinki"}'
	./bin/agentcli call fs_search '{"query":"func (h *Host) Call","path":"host"}'
	@echo
	@echo '== a path outside the workspace is refused (exit status 1 is expected)'
	-./bin/agentcli call fs_read_file '{"path":"/etc/passwd"}'
	@echo
	@echo '== every call is in the hash-chained audit log'
	./bin/agentcli audit verify

test: lint
	$(GO) test -race -count=1 ./...

lint:
	@unformatted=$$(gofmt -l .); if [ -n "$$unformatted" ]; then echo "not gofmt-clean:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

# Each benchmark runs 6 times; benchstat prints the median of every
# metric with its spread. Ratios compare against a baseline measured in
# the same run, interleaved.
bench:
	$(GO) test -run '^$$' -bench 'CallVsRaw/seq|LaunchVsRaw' -benchtime 400x -count 6 ./host/ ./host/sandbox/ | tee bench.txt
	$(GO) test -run '^$$' -bench 'CallVsRaw/par8' -benchtime 20x -count 6 ./host/ | tee -a bench.txt
	$(GO) test -run '^$$' -bench 'Run100' -benchtime 10x -count 6 ./host/chat/ | tee -a bench.txt
	$(GO) test -run '^$$' -bench . -count 6 ./manifest/ ./host/audit/ ./cmd/agentcli/ | tee -a bench.txt
	$(GO) run $(BENCHSTAT) bench.txt

clean:
	rm -rf bin tools/bin bench.txt
