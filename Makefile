# WireGUI build and test entry points. `make test` is what CI runs (.ci/run).

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
GO      ?= go

.PHONY: build run test deps vet clean

## build: the static binary ./wiregui
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o wiregui .

## run: build and start WireGUI with its defaults (SQLite in /var/lib/wiregui as root)
run: build
	./wiregui serve

## deps: install the Debian packages the test suite uses (as root; skipped when present)
deps:
	./scripts/test-deps.sh

## vet: static checks
vet:
	$(GO) vet ./...

## test: every test: unit, both databases, network namespaces, VictoriaMetrics, Chromium
test: deps vet build
	WIREGUI_BIN=$(CURDIR)/wiregui ./scripts/test.sh

clean:
	rm -f wiregui
