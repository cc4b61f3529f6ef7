# The two commands are `make dev` and `make test`; everything else is a step of theirs.
SHELL := bash
PORT ?= 8787
LOCAL_PROTOCOL ?= https
VENV ?= $(CURDIR)/.venv
WRANGLER := node_modules/.bin/wrangler
export WRANGLER_SEND_METRICS := false

.PHONY: dev test setup build migrate dev-vars unit e2e deploy-check check clean

setup:
	@scripts/setup.sh

# Rebuild only when the Rust sources changed.
build: setup build/index.js
build/index.js: Cargo.toml Cargo.lock $(shell find src -name '*.rs')
	scripts/build-wasm.sh

migrate: setup
	$(WRANGLER) d1 migrations apply DB --local

# Local secrets: an operator token and the token-signing key, made once.
dev-vars:
	@if [ ! -f .dev.vars ]; then \
	  printf 'ADMIN_TOKEN="%s"\nTOKEN_SIGNING_KEY="%s"\n' "$$(head -c 24 /dev/urandom | base64 | tr -d '/+=')" "$$(head -c 32 /dev/urandom | base64)" > .dev.vars; \
	fi
	@echo "local secrets (ADMIN_TOKEN, TOKEN_SIGNING_KEY) are in $(CURDIR)/.dev.vars"

dev: build migrate dev-vars
	$(WRANGLER) dev --ip 127.0.0.1 --port $(PORT) --local-protocol $(LOCAL_PROTOCOL)

test: setup unit build e2e deploy-check

unit:
	cargo test

e2e: build
	@if [ -d tests/e2e ]; then $(VENV)/bin/pytest tests/e2e -v; fi

# Proves the deployable bundle offline and reports its size.
deploy-check: build
	$(WRANGLER) deploy --dry-run --outdir dist 2>&1 | grep -E 'Total Upload|--dry-run'

check:
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings

clean:
	rm -rf build dist target/rustc-wrap
