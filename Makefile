GO      ?= go
# Empty when git cannot describe the tree: wsedge then reports the version
# recorded in its build info (module version or VCS revision), else "dev".
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null)
LDFLAGS := -X main.version=$(VERSION)

.PHONY: build run test bench fuzz vet lint

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/wsedge ./cmd/wsedge
	$(GO) build -o bin/wsbench ./cmd/wsbench

run:
	$(GO) run ./cmd/wsedge

# The server's WebSocket tests run on every backend: the default (epoll on
# Linux), the portable one (std) and io_uring (uring, where the kernel offers
# it); heap figures (partial frames on std and uring, compressed idle
# connections) are checked without the race detector, whose bookkeeping
# swamps them.
test:
	$(GO) test -race ./...
	WSEDGE_TEST_POLLER=std $(GO) test -race ./server/
	WSEDGE_TEST_POLLER=uring $(GO) test -race ./server/
	WSEDGE_TEST_POLLER=std $(GO) test -run TestPartialFrameMemory ./server/
	WSEDGE_TEST_POLLER=uring $(GO) test -run TestPartialFrameMemory ./server/
	$(GO) test -run TestCompressionIdleMemory ./server/

vet:
	$(GO) vet ./...

# What CI checks before the tests: formatting, go vet, staticcheck.
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
lint:
	@test -z "$$(gofmt -l .)" || { echo "gofmt needed:"; gofmt -l .; exit 1; }
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./codec/ ./timerwheel/ ./limits/ ./routing/ ./poller/ ./server/ ./auth/ ./perm/ ./api/ ./handover/

# Each fuzz target runs FUZZTIME (go test allows one -fuzz target per run).
FUZZTIME ?= 30s
fuzz:
	@for pkg in ./server ./codec ./tlsrecord ./limits ./routing ./timerwheel ./natsbroker ./bench ./cmd/wsedge ./auth ./perm ./proxy ./api ./internal/wsfleet ./handover; do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep ^Fuzz); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

include bench/Makefile.inc
