"""What every LLM backend shares: passages -> prompt -> streamed text -> verified Answer."""
from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import replace
from typing import Iterator, Protocol, runtime_checkable

from ..config import Config
from ..errors import RagError
from ..types import ABSTAIN_MESSAGE, Answer, Candidate, Citation
from ..verify import strip_marks, verify
from .passages import build_passages
from .prompt import CONDENSE_MAX_TOKENS, build_messages, clean_rewrite, condense_messages, estimate_tokens, question_script, to_question_script

log = logging.getLogger(__name__)

SEED = 42  # greedy decoding and a fixed seed: the same prompt gives the same answer


class LLMUnavailable(RagError):
    """The LLM could not answer (no server, timeout, HTTP error, model missing)."""


# ---- prompt ----------------------------------------------------------------------------


@runtime_checkable
class Generator(Protocol):
    """An answer backend: writes the answer from the retrieved passages, the extractive answer
    being its evidence and its fallback. Everything the assistant and the web app call."""

    name: str

    @property
    def loaded(self) -> bool:
        """True once the model is ready to answer without a wait."""

    def load(self) -> None:
        """Get the model ready now (the web app calls it at start-up); may raise LLMUnavailable."""

    def warm_up(self) -> None:
        """Read the fixed prompt prefix once, so that the first question does not pay for it."""

    def stream(
        self, question: str, candidates: list[Candidate], extractive: Answer, *, texts: dict[str, str] | None, embedder
    ) -> Iterator[Answer]:
        """Partial Answers (`partial=True`, the text so far) as the model writes, then the final one."""

    def generate(
        self, question: str, candidates: list[Candidate], extractive: Answer, *, texts: dict[str, str] | None, embedder
    ) -> Answer:
        """The final Answer of `stream`."""

    def rewrite_question(self, history: list[dict], followup: str) -> str | None:
        """A standalone version of a follow-up question, or None."""


class LLMGenerator:
    """Shared flow: passages -> prompt -> streamed text -> verified Answer (or the extractive fallback)."""

    name = "llm"
    loaded = True  # a server is ready or it is not; only a local model has something to load

    def load(self) -> None:
        """Nothing to prepare for a server."""

    def __init__(self, config: Config | None = None):
        self.config = config or Config.from_env()
        self.last_usage: dict = {}

    # subclasses: yield text deltas; raise LLMUnavailable when the model cannot answer
    def _stream_chat(self, messages: list[dict], max_tokens: int) -> Iterator[str]:
        raise NotImplementedError

    def describe(self) -> str:
        return self.name

    def fix_hint(self) -> str:
        """What the user can do when this backend is unavailable."""
        return "check the LLM settings (RAG_LLM_*), or set RAG_LLM=extractive to answer with quotes only"

    def count_tokens(self, text: str) -> int:
        """Prompt tokens of a text (an estimate unless the model's tokenizer is at hand)."""
        return estimate_tokens(text)

    def complete(self, messages: list[dict], max_tokens: int) -> str:
        """The whole reply to a chat, not streamed (raises LLMUnavailable)."""
        return "".join(self._stream_chat(messages, max_tokens))

    def warm_up(self) -> None:
        """Read each language's fixed prompt prefix (rules + example) once, so that the
        first questions pay only for their passages (llama.cpp keeps the states in RAM)."""
        for question in ("问题？", "Question?"):
            try:
                self.complete(build_messages(question, []), 1)
            except LLMUnavailable as exc:
                log.warning("warming up the model failed: %s", exc)
                return

    def rewrite_question(self, history: list[dict], followup: str) -> str | None:
        """A standalone version of a follow-up question, or None if the model fails."""
        try:
            reply = self.complete(condense_messages(history, followup), CONDENSE_MAX_TOKENS)
        except LLMUnavailable as exc:
            log.warning("could not rewrite the follow-up: %s", exc)
            return None
        return clean_rewrite(reply, followup)

    def generate(
        self,
        question: str,
        candidates: list[Candidate],
        extractive: Answer,
        *,
        texts: dict[str, str] | None = None,
        embedder=None,
    ) -> Answer:
        answer = extractive
        for answer in self.stream(question, candidates, extractive, texts=texts, embedder=embedder):
            pass
        return answer

    def stream(
        self,
        question: str,
        candidates: list[Candidate],
        extractive: Answer,
        *,
        texts: dict[str, str] | None = None,
        embedder=None,
    ) -> Iterator[Answer]:
        """Partial Answers as the model writes, then the final verified Answer.

        A partial Answer's text is the model's text so far without its [n] marks (they are
        unverified passage numbers), and its citations are still the extractive ones, so a
        sources panel has something to show.

        The final Answer's `timings` hold first_token_s (from this call to the first
        streamed text), total_s, context_tokens (passage tokens; exact for the local model), prompt_tokens
        and completion_tokens (exact for the local model, estimated for a server when it
        reports no usage), tokens_per_s (completion tokens over the time after the first
        token) and verify_s.
        """
        began = time.perf_counter()
        unavailable = f"{self.describe()} did not answer ({{}}); showing the quoted sentences. To fix: {self.fix_hint()}."
        try:
            passages = build_passages(candidates, extractive, texts, self.config.llm_context_tokens, self.count_tokens)
        except LLMUnavailable as exc:  # the local model could not be loaded
            log.warning("%s backend failed: %s", self.name, exc)
            yield fallback(extractive, unavailable.format(exc))
            return
        if not passages:
            yield fallback(extractive, "No passages to give the model; showing the quoted sentences.")
            return
        messages = build_messages(question, passages)
        script = question_script(question)
        parts: list[str] = []
        first = None
        self.last_usage = {}
        try:
            for delta in self._stream_chat(messages, self.config.llm_max_tokens):
                if delta:
                    first = first if first is not None else time.perf_counter() - began
                    parts.append(delta)
                    text = to_question_script(strip_marks("".join(parts)).strip(), script)
                    yield Answer(question, text, extractive.citations, grounded=0.0, backend=self.name, partial=True)
        except LLMUnavailable as exc:
            log.warning("%s backend failed: %s", self.name, exc)
            yield fallback(extractive, unavailable.format(exc))
            return
        generated = time.perf_counter()
        raw = to_question_script("".join(parts), script)
        result = verify(raw, passages, embedder, question)
        timings = self._timings(passages, messages, raw, began, first, generated)
        log.info("%s answer: %s", self.name, timings)
        yield self._final(question, raw, result, extractive, timings)

    def _timings(self, passages, messages: list[dict], raw: str, began: float, first: float | None, generated: float) -> dict:
        """The figures a final Answer carries (see `stream`)."""
        done = time.perf_counter()
        usage = dict(self.last_usage)
        completion = usage.get("completion_tokens") or estimate_tokens(raw)
        decode_s = generated - began - (first or 0.0)
        timings = {
            "context_tokens": sum(self.count_tokens(p.text) for p in passages),
            "passages": len(passages),
            "first_token_s": round(first, 3) if first is not None else None,
            "total_s": round(done - began, 3),
            "generate_s": round(generated - began, 3),
            "verify_s": round(done - generated, 3),
            "prompt_tokens": usage.get("prompt_tokens") or sum(estimate_tokens(m["content"]) for m in messages),
            "completion_tokens": completion,
            "tokens_per_s": round((completion - 1) / decode_s, 2) if completion > 1 and decode_s > 0.05 else None,
        }
        timings.update({k: v for k, v in usage.items() if k not in timings})  # llama.cpp's own speeds
        return timings

    def _final(self, question: str, raw: str, result, extractive: Answer, timings: dict) -> Answer:
        """The verified answer; an abstention; or the extractive answer saying why the model's is not shown."""
        if not raw.strip():
            return fallback(extractive, f"{self.describe()} returned an empty answer; showing the quoted sentences.", timings)
        if result.abstained:
            return Answer(question=question, text=ABSTAIN_MESSAGE, abstained=True, backend=self.name, timings=timings, grounded=1.0)
        if not result.citations:
            # Nothing the model said is backed by the passages (e.g. an age it made up).
            why = (
                "the documents do not support it"
                if extractive.abstained
                else "the sources do not support it; showing the quoted sentences instead"
            )
            return fallback(extractive, f"The {self.name} model's answer was discarded: {why}.", timings, grounded=result.grounded)
        notice = ""
        if result.dropped:
            n = len(result.dropped)
            notice = f"Removed {n} sentence{'s' if n > 1 else ''} the sources do not support."
        timings.update(claims=result.claims, supported=result.supported, repointed=result.repointed)
        return Answer(
            question=question,
            text=result.text,
            citations=result.citations,
            grounded=round(result.grounded, 4),
            backend=self.name,
            notice=notice,
            timings=timings,
        )


_MARK_RE = re.compile(r"\[(\d+)\]")


def merge_evidence(answer: Answer, evidence: Answer) -> tuple[str, list[Citation]]:
    """The evidence (the extractive answer shown under an LLM's) renumbered to follow
    `answer`'s citations, and one citation list for both.

    A quote that `answer` already cites (same file, overlapping span) keeps its number, so
    each [n] on the page points at one source card.
    """
    citations = list(answer.citations)
    numbers: dict[int, int] = {}
    for c in evidence.citations:
        same = next((a for a in citations if a.source == c.source and a.start < c.end and c.start < a.end), None)
        if same is None:
            same = replace(c, n=len(citations) + 1)
            citations.append(same)
        numbers[c.n] = same.n
    text = _MARK_RE.sub(lambda m: f"[{numbers.get(int(m.group(1)), m.group(1))}]", evidence.text)
    return text, citations


def fallback(extractive: Answer, notice: str, timings: dict | None = None, grounded: float | None = None) -> Answer:
    """The extractive answer, saying why the LLM's is not shown."""
    answer = replace(extractive, notice=notice, timings={**extractive.timings, **(timings or {})})
    if grounded is not None:
        answer.timings["llm_grounded"] = round(grounded, 4)
    return answer

def error_text(body: str) -> str:
    """The message inside an error body (OpenAI's {"error": {"message"}} or any JSON), else the text."""
    try:
        value = json.loads(body)
        if isinstance(value, dict):
            err = value.get("error", value)
            if isinstance(err, dict):
                return str(err.get("message") or err)[:300]
            return str(err)[:300]
    except (json.JSONDecodeError, TypeError):
        pass
    return " ".join(body.split())[:300]
