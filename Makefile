# behorig — the two commands a new user needs are `make dev` and `make test`.
GO ?= go

.PHONY: dev test bench vet deps build

## dev: run the whole service locally with demo data (PostgreSQL and slapd under ./.dev)
dev: deps build
	bin/behorig dev

## test: the whole test suite against real PostgreSQL and slapd started by the tests
test: deps vet
	$(GO) test -count=1 -timeout 14m ./...

## bench: benchmarks against the raw tools on this machine, ending in one table with ratios
bench: deps
	@mkdir -p .artifacts
	bash -o pipefail -c "$(GO) test -run '^$$' -bench . -benchtime 3x -timeout 60m ./... | tee .artifacts/bench.txt"
	@$(GO) run ./cmd/benchtable < .artifacts/bench.txt

## vet: formatting and static checks
vet:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt would change: $$unformatted"; exit 1; fi
	$(GO) vet ./...

## deps: install the Debian packages the tests and `make dev` need (as root), or name them
deps:
	@bash scripts/deps.sh

build:
	$(GO) build -o bin/behorig ./cmd/behorig
