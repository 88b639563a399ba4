# Agentry Cloud — developer entry points. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help
CARGO ?= cargo

.PHONY: help demo demo-cloud test bench lint build llm fuzz sdk

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-11s %s\n", $$1, $$2}'

build: ## build the agentry binary (debug)
	$(CARGO) build -p agentry

demo: ## agentry dev + the local LLM: an agent answers a question about this repository with bash
	scripts/demo.sh

demo-cloud: ## NATS + Postgres + hub + 3 node processes, several agents, traces printed, all stopped
	scripts/demo-cloud.sh

test: ## the whole test suite on real PostgreSQL, NATS and the local LLM (installed when missing)
	scripts/test.sh

bench: ## benchmarks on Postgres + NATS; figures go to docs/benchmarks.md
	scripts/bench.sh

fuzz: ## the fuzz targets alone (proptest over fuzz/corpus); CASES=N for a longer run
	fuzz/run.sh $(CASES)

sdk: ## regenerate the Python and TypeScript SDKs' code from proto/ (sdk/python, sdk/typescript)
	scripts/sdk-python.sh generate
	scripts/sdk-typescript.sh generate

lint: ## clippy, rustfmt check, rustdoc links, buf lint
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	RUSTDOCFLAGS='-D warnings' $(CARGO) doc --workspace --no-deps
	$(CARGO) fmt --all --check
	npx --yes @bufbuild/buf@1.47.2 lint

llm: ## install and start the local model (Qwen2.5-Coder 1.5B) on 127.0.0.1:8090
	scripts/local-llm.sh start 1.5b
