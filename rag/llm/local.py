"""The local model: llama.cpp in process, through xllamacpp (prebuilt) or llama-cpp-python (compiled)."""
from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time
from typing import Iterator

from ..config import Config
from ..errors import RagError
from .base import SEED, LLMGenerator, LLMUnavailable, error_text

log = logging.getLogger(__name__)

CACHE_BYTES = 512 << 20  # llama.cpp prompt states kept in RAM (~60 MB each at n_ctx 2048)
XLLAMACPP_REQUIREMENT = "xllamacpp==2026.10.11549"
LOCAL_FIX_HINT = "run `make llm` (or set RAG_LLM_MODEL_PATH to a GGUF), or set RAG_LLM=extractive to answer with quotes only"
RETRY_LOAD_S = 60.0  # a model that failed to load is tried again after this long
_END = object()


class _LocalModel(LLMGenerator):
    """A model file loaded into this process once, on first use, by `_load` (per runtime).

    A failure is remembered for RETRY_LOAD_S, so that every question does not wait for
    another download that fails the same way.
    """

    name = "local"

    def __init__(self, config: Config | None = None, model_path=None):
        super().__init__(config)
        self.model_path = model_path
        self._model = None
        self._failure: tuple[float, str] | None = None
        self._load_lock = threading.Lock()

    def describe(self) -> str:
        return "The local model" if self.runtime == "xllamacpp" else f"The local model ({self.runtime})"

    def fix_hint(self) -> str:
        return LOCAL_FIX_HINT

    @property
    def loaded(self) -> bool:
        return self._model is not None

    @property
    def loading(self) -> bool:
        """True while another thread assembles or loads the model."""
        return self._model is None and self._load_lock.locked()

    def load(self):
        """The loaded model (the GGUF assembled from its wheels first if needed)."""
        if self._model is None:
            if self._failure and time.monotonic() - self._failure[0] < RETRY_LOAD_S:
                raise LLMUnavailable(self._failure[1])
            with self._load_lock:
                if self._model is None:
                    try:
                        self._model = self._load()
                    except LLMUnavailable as exc:
                        self._failure = (time.monotonic(), str(exc))
                        raise
                    self._failure = None
        return self._model

    def close(self) -> None:
        """Free the model's memory (and stop its loop)."""
        with self._load_lock:
            self._model = None

    def _load(self):
        raise NotImplementedError


class LocalLlamaGenerator(_LocalModel):
    """llama.cpp in process through xllamacpp (a prebuilt wheel: no compiler), on the bundled
    GGUF or RAG_LLM_MODEL_PATH.

    The model loads once, on first use (~5 s, ~1.8 GB RAM; the web app loads it at start-up
    while the page already serves). llama.cpp's own server loop runs inside the process:
    it keeps the evaluated prompt prefix (rules + example) between questions, writes one
    answer at a time and is thread-safe. Greedy decoding and a fixed seed: the same prompt
    gives the same answer.
    """

    runtime = "xllamacpp"

    def _load(self):
        try:
            import xllamacpp
        except ImportError as exc:
            raise LLMUnavailable(f"xllamacpp is not installed (pip install '{XLLAMACPP_REQUIREMENT}')") from exc
        path = _model_file(self.config, self.model_path)
        threads = self.config.llm_threads or os.cpu_count() or 2
        params = xllamacpp.CommonParams()
        params.model.path = str(path)
        params.n_ctx = self.config.llm_ctx
        params.n_parallel = 1  # one answer at a time: two would halve each one's speed on 2 cores
        params.cpuparams.n_threads = threads
        params.cpuparams_batch.n_threads = threads
        params.cache_ram_mib = CACHE_BYTES >> 20
        params.sampling.seed = SEED
        params.verbosity = -1  # llama.cpp's per-request log lines are not ours to print
        began = time.perf_counter()
        try:
            server = xllamacpp.Server(params)
        except Exception as exc:  # a file that is not a GGUF: "Failed to init server"
            raise LLMUnavailable(f"could not load {path}: {exc}") from exc
        log.info("loaded %s with xllamacpp in %.1f s", path, time.perf_counter() - began)
        return server

    def _stream_chat(self, messages: list[dict], max_tokens: int) -> Iterator[str]:
        if self.loading:
            raise LLMUnavailable("it is still being prepared (the first start assembles 1.1 GB); ask again in a minute")
        server = self.load()
        request = {
            "messages": messages,
            "stream": True,
            "max_tokens": max_tokens,
            "temperature": 0.0,
            "top_k": 1,
            "seed": SEED,
            "stream_options": {"include_usage": True},
        }
        events: queue.Queue = queue.Queue()
        stop = threading.Event()

        def on_event(event) -> bool:  # called on llama.cpp's thread; True stops the answer
            events.put(event)
            return stop.is_set()

        def run() -> None:
            try:
                server.handle_chat_completions(request, on_event)
            except Exception as exc:
                events.put(exc)
            finally:
                events.put(_END)

        self.last_usage = {}
        threading.Thread(target=run, name="rag-llm-answer", daemon=True).start()
        try:
            while (event := events.get()) is not _END:
                if isinstance(event, Exception):
                    raise LLMUnavailable(f"llama.cpp failed: {event}")
                if not isinstance(event, dict):
                    continue
                if event.get("error") or ("code" in event and "choices" not in event):
                    raise LLMUnavailable(f"llama.cpp reported: {error_text(json.dumps(event))}")
                self.last_usage.update(_usage(event))
                for choice in event.get("choices") or []:
                    delta = (choice.get("delta") or {}).get("content")
                    if delta:
                        yield delta
        finally:
            stop.set()  # a reader that stops early ends the answer at the next token


class LlamaCppPythonGenerator(_LocalModel):
    """llama.cpp through llama-cpp-python (RAG_LLM_RUNTIME=llama-cpp-python): the previous
    runtime, kept for comparison. It is source-only on PyPI (~15 min to compile on 2 cores).
    """

    runtime = "llama-cpp-python"

    def __init__(self, config: Config | None = None, model_path=None):
        super().__init__(config, model_path)
        self._lock = threading.Lock()  # llama_cpp.Llama writes one answer at a time

    def count_tokens(self, text: str) -> int:
        return len(self.load().tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def _load(self):
        try:
            from llama_cpp import Llama, LlamaRAMCache
        except ImportError as exc:
            raise LLMUnavailable(
                "llama-cpp-python is not installed: pip install 'llama-cpp-python==0.3.36' (compiles ~15 min)"
            ) from exc
        path = _model_file(self.config, self.model_path)
        threads = self.config.llm_threads or os.cpu_count() or 2
        began = time.perf_counter()
        try:
            llm = Llama(
                model_path=str(path),
                n_ctx=self.config.llm_ctx,
                n_threads=threads,
                n_threads_batch=threads,
                seed=SEED,
                verbose=False,
            )
        except Exception as exc:  # llama.cpp reports a bad file as ValueError/RuntimeError
            raise LLMUnavailable(f"could not load {path}: {exc}") from exc
        # Keeps the evaluated state of recent prompts: the fixed rules+example prefix of
        # each language (and of the follow-up prompt) is read once, not on every question.
        llm.set_cache(LlamaRAMCache(capacity_bytes=CACHE_BYTES))
        log.info("loaded %s with llama-cpp-python in %.1f s", path, time.perf_counter() - began)
        return llm

    def _stream_chat(self, messages: list[dict], max_tokens: int) -> Iterator[str]:
        llm = self.load()
        with self._lock:
            parts = []
            try:
                stream = llm.create_chat_completion(
                    messages=messages,
                    stream=True,
                    max_tokens=max_tokens,
                    temperature=0.0,
                    top_k=1,
                    seed=SEED,
                )
                for chunk in stream:
                    choice = chunk["choices"][0]
                    delta = choice.get("delta", {}).get("content")
                    if delta:
                        parts.append(delta)
                        yield delta
            except (ValueError, RuntimeError) as exc:  # e.g. the prompt exceeds n_ctx
                raise LLMUnavailable(str(exc)) from exc
            text = "".join(parts)
            completion = len(llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)) if text else 0
            self.last_usage = {
                "completion_tokens": completion,
                "prompt_tokens": max(0, int(llm.n_tokens) - completion),
            }


def _model_file(config: Config, model_path=None):
    """The GGUF to load, assembled from its wheels on first use; LLMUnavailable if there is none."""
    from ..local_model import resolve_model

    try:
        return model_path or resolve_model(config, progress=True)
    except RagError as exc:
        raise LLMUnavailable(str(exc)) from exc


def _usage(event: dict) -> dict:
    """Token counts and llama.cpp's own speeds from a streamed event (the last one carries them)."""
    usage = {k: v for k, v in (event.get("usage") or {}).items() if isinstance(v, int)}
    timings = event.get("timings") or {}
    if timings:
        usage.update(
            prompt_tokens_per_s=round(timings.get("prompt_per_second") or 0.0, 2),
            generation_tokens_per_s=round(timings.get("predicted_per_second") or 0.0, 2),
            cached_prompt_tokens=int(timings.get("cache_n") or 0),
        )
    return usage
