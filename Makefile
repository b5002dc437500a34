# The two commands of the README, and the checks CI runs.
.PHONY: demo test check bench build

# go run is silent while it fetches and compiles: say so first.
demo:
	@echo "Building Crowdgate (the first run downloads modules and compiles, a minute or two)..."
	GOTOOLCHAIN=$${GOTOOLCHAIN:-go1.26.10} go run ./cmd/crowdgate serve --demo

# The quick run: no browser, proxy, cluster, fault or reliability tests.
test:
	go test -short ./...

# Everything, as CI runs it (go test -race ./... and the linters).
check:
	bash .ci/run

build:
	go build -o crowdgate ./cmd/crowdgate

bench:
	go test -run XXX -bench . -benchmem ./queue ./admission ./gateway
