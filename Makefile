# smsq developer commands. `make help` lists them.
.DEFAULT_GOAL := help
GO ?= go

.PHONY: help demo test test-race lint fuzz bench bench-go proof chaos build

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

demo: ## run the worker on the embedded Redis and sandbox, sending one message per provider
	$(GO) run ./cmd/worker -demo

test: ## the full suite as CI runs it (installs redis-server when missing and root)
	./scripts/test.sh

test-race: ## go test -race on every package (needs redis-server on PATH)
	$(GO) test -race -count=1 ./...

lint: ## gofmt and go vet
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)
	$(GO) vet ./...

fuzz: ## a short run of every fuzz target
	./scripts/fuzz.sh 50000x

bench: ## the whole-system bench table (private redis-server, sandbox, worker processes)
	$(GO) run ./cmd/bench all

bench-go: ## go benchmarks of the hot paths
	$(GO) test -run '^$$' -bench . -benchmem ./...

proof: ## scale-out and Sentinel failover proofs
	$(GO) run ./cmd/proof scaleout
	$(GO) run ./cmd/proof failover

chaos: ## kills, a Redis restart and provider storms; counts lost and duplicated messages
	$(GO) run ./cmd/chaos

build: ## build the three commands into ./bin
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/ ./cmd/...
