# The two commands of the README, and the checks CI runs.
.PHONY: demo test check bench build

demo:
	go run ./cmd/crowdgate serve --demo

test:
	go test -race ./...

check:
	bash .ci/run

build:
	go build -o crowdgate ./cmd/crowdgate

bench:
	go test -run XXX -bench . -benchmem ./queue ./admission ./gateway
