GO      ?= go
# Empty when git cannot describe the tree: wsedge then reports the version
# recorded in its build info (module version or VCS revision), else "dev".
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null)
LDFLAGS := -X main.version=$(VERSION)

.PHONY: build run test bench fuzz vet

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/wsedge ./cmd/wsedge
	$(GO) build -o bin/wsbench ./cmd/wsbench

run:
	$(GO) run ./cmd/wsedge

test:
	$(GO) test -race ./...

vet:
	$(GO) vet ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./codec/ ./timerwheel/ ./limits/ ./routing/ ./poller/ ./server/ ./auth/ ./perm/ ./handover/

# Each fuzz target runs FUZZTIME (go test allows one -fuzz target per run).
FUZZTIME ?= 30s
fuzz:
	@for pkg in ./server ./codec ./limits ./routing ./timerwheel ./natsbroker ./bench ./cmd/wsedge ./auth ./perm ./proxy ./handover; do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep ^Fuzz); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

include bench/Makefile.inc
