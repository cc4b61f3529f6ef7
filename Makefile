# The two commands are `make dev` and `make test`; everything else is a step of theirs.
SHELL := bash
# pipefail: a failing wrangler must not hide behind the grep that filters its output.
.SHELLFLAGS := -eu -o pipefail -c
# The steps depend on each other's side effects (build/, the venv); keep them in order.
.NOTPARALLEL:
PORT ?= 8787
LOCAL_PROTOCOL ?= https
VENV ?= $(CURDIR)/.venv
export VENV
WRANGLER := node_modules/.bin/wrangler
export WRANGLER_SEND_METRICS := false

.PHONY: dev test setup build migrate dev-vars unit e2e deploy-check check clean bench bench-model fuzz

setup:
	@scripts/setup.sh

# worker-build (wasm-opt included) takes seconds even with nothing to compile, so run it
# only when an input changed.
build: setup build/index.js
build/index.js: Cargo.toml Cargo.lock .cargo/config.toml scripts/build-wasm.sh scripts/env.sh \
                $(shell find src -name '*.rs' -o -name '*.js')
	scripts/build-wasm.sh

migrate: setup
	$(WRANGLER) d1 migrations apply DB --local

# Local secrets: an operator token and the token-signing key, made once.
dev-vars:
	@if [ ! -f .dev.vars ]; then \
	  printf 'ADMIN_TOKEN="%s"\nTOKEN_SIGNING_KEY="%s"\n' \
	    "$$(head -c 24 /dev/urandom | base64 | tr -d '/+=')" "$$(head -c 32 /dev/urandom | base64)" > .dev.vars; \
	fi
	@echo "local secrets (ADMIN_TOKEN, TOKEN_SIGNING_KEY) are in $(CURDIR)/.dev.vars"

# https by default: skopeo and podman stall 10 s on a plain-http port before falling back.
dev: build migrate dev-vars
	$(WRANGLER) dev --ip 127.0.0.1 --port $(PORT) --local-protocol $(LOCAL_PROTOCOL)

test: setup unit build e2e deploy-check

unit:
	cargo test

e2e: build
	@if compgen -G 'tests/e2e/test_*.py' >/dev/null; then \
	  $(VENV)/bin/pytest tests/e2e -v; \
	else echo "no end-to-end tests yet (tests/e2e/test_*.py)"; fi

# Proves the deployable bundle offline and reports its size.
deploy-check: build
	$(WRANGLER) deploy --dry-run --outdir dist 2>&1 | grep -E 'Total Upload|--dry-run'

# This registry against CNCF distribution 2.8 and the R2 floor, then the production model
# (D1 and R2 far away, the user near the edge, the central registry far); see README "Speed".
bench: build
	$(VENV)/bin/python bench/run.py
	$(VENV)/bin/python bench/model.py

bench-model: build
	$(VENV)/bin/python bench/model.py

# Every fuzz target for FUZZ_SECONDS (default 60) each; see README "Fuzzing".
fuzz:
	scripts/fuzz.sh

check:
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings

clean:
	rm -rf build dist target/rustc-wrap
