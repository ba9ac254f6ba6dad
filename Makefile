# smsq developer commands. `make help` lists them.
.DEFAULT_GOAL := help
GO ?= go

.PHONY: help demo test test-race lint fuzz bench build

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
	./scripts/fuzz.sh 10s

bench: ## go benchmarks of the hot paths
	$(GO) test -run '^$$' -bench . -benchmem ./...

build: ## build the three commands into ./bin
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/ ./cmd/...
