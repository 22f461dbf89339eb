"""LLM answer backends: a local llama.cpp model and any OpenAI-compatible server.

Both write a short answer from a few numbered passages and stream it; the answer is then
checked sentence by sentence (rag.verify) so every [n] points at an exact quote that
supports it. On a 2-core CPU the local model reads ~17 prompt tokens/s, so the prompt
holds only the best evidence: the sentences the extractive answer cited, each with one
sentence of context on either side, within `Config.llm_context_tokens`.

    gen = LocalLlamaGenerator(Config.from_env())
    for answer in gen.stream(question, candidates, extractive, texts=texts, embedder=e):
        ...  # partial Answers as the model writes, then one final, verified Answer

The modules: `base` (the Generator protocol and the shared flow), `prompt` (rules, example,
script), `passages` (the evidence given to the model), `local` (llama.cpp in process),
`openai_compat` (any OpenAI-compatible server).

Anything that goes wrong on the way (no server, a timeout, an HTTP error, a model that
cannot be loaded) ends in the extractive answer with `Answer.notice` saying why.
"""
from __future__ import annotations

from ..config import Config
from ..errors import RagError
from .base import SEED, Generator, LLMGenerator, LLMUnavailable, fallback, merge_evidence
from .local import LlamaCppPythonGenerator, LocalLlamaGenerator
from .openai_compat import OpenAICompatibleGenerator
from .passages import build_passages
from .prompt import (
    CONDENSE_EN,
    CONDENSE_ZH,
    EXAMPLE_EN,
    EXAMPLE_ZH,
    NO_ANSWER_EN,
    NO_ANSWER_ZH,
    SYSTEM_EN,
    SYSTEM_ZH,
    build_messages,
    estimate_tokens,
    question_script,
    to_question_script,
)


def make_generator(config: Config) -> LLMGenerator | None:
    """The generator Config.llm names (and, for "local", Config.llm_runtime): None for "extractive"."""
    backend = (config.llm or "extractive").lower()
    if backend == "extractive":
        return None
    if backend == "local":
        if config.llm_runtime == "llama-cpp-python":
            return LlamaCppPythonGenerator(config)
        return LocalLlamaGenerator(config)
    if backend == "openai":
        return OpenAICompatibleGenerator(config)
    raise RagError(f"unknown LLM backend {config.llm!r}: use extractive, local or openai")


__all__ = [
    "CONDENSE_EN",
    "CONDENSE_ZH",
    "EXAMPLE_EN",
    "EXAMPLE_ZH",
    "NO_ANSWER_EN",
    "NO_ANSWER_ZH",
    "SEED",
    "SYSTEM_EN",
    "SYSTEM_ZH",
    "Generator",
    "LLMGenerator",
    "LLMUnavailable",
    "LlamaCppPythonGenerator",
    "LocalLlamaGenerator",
    "OpenAICompatibleGenerator",
    "build_messages",
    "build_passages",
    "estimate_tokens",
    "fallback",
    "make_generator",
    "merge_evidence",
    "question_script",
    "to_question_script",
]
