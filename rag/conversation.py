"""Conversations: which questions lean on the previous one, and how to make them standalone without a model."""
from __future__ import annotations

import re

from .errors import RagError
from .text import CJK_RE, detect_language

MAX_QUESTION_CHARS = 2000  # longer input is cut; e5 reads 512 tokens at most anyway


_FOLLOWUP_ZH_RE = re.compile(r"^(那|那么|它|它们|他|他们|她|她们|这|这个|这些|那个|那些|该|其|还有|另外|以及|和|而|再|又|此外)")
_FOLLOWUP_EN_RE = re.compile(
    r"^(and|but|also|so|then|what about|how about|and what|what else|when was it|where was it|who else|"
    r"is it|was it|are they|were they|did it|does it|did they|do they|it|its|they|their|them|that|those|these|this|he|she|his|her)\b",
    re.IGNORECASE,
)
_PRONOUN_EN_RE = re.compile(r"\b(it|its|they|them|their|that|those|these|he|she|him|her)\b", re.IGNORECASE)


def looks_like_followup(question: str) -> bool:
    """A short question, or one that opens with a pronoun or connective, leans on the last one."""
    q = question.strip()
    if detect_language(q) == "zh":
        cjk = len(CJK_RE.findall(q))
        return cjk < 12 or bool(_FOLLOWUP_ZH_RE.match(q))
    tokens = re.findall(r"[A-Za-z0-9']+", q)
    return len(tokens) < 6 or bool(_FOLLOWUP_EN_RE.match(q)) or (len(tokens) < 9 and bool(_PRONOUN_EN_RE.search(q)))


_LEADING_CONNECTIVE_RE = re.compile(r"^(那么|那|还有|另外|此外|以及|而|和|and|but|also|so|then)[\s,，、]*", re.IGNORECASE)


def condense_by_rule(previous: str, followup: str) -> str:
    """The previous question, then the follow-up without its leading connective (no model needed).

    "哪些公司将进入园区？" + "那百度呢？" -> "哪些公司将进入园区？ 百度呢？": the
    previous question brings its key terms and its question word (哪些, when), which
    retrieval and the extractive answerer's answer types need.
    """
    previous = previous.strip()
    rest = _LEADING_CONNECTIVE_RE.sub("", followup.strip()) or followup.strip()
    if not previous:
        return rest
    if previous[-1] not in "?？.。!！":
        previous += "？" if detect_language(previous) == "zh" else "?"
    return f"{previous} {rest}"


def check_messages(messages) -> list[dict]:
    """Conversation turns as {"role", "content"} dicts, ending with the user's."""
    if not isinstance(messages, (list, tuple)) or not messages:
        raise RagError("chat needs a non-empty list of {'role', 'content'} messages")
    turns = []
    for m in messages:
        if not isinstance(m, dict) or "content" not in m or m.get("role") not in ("user", "assistant", "system"):
            raise RagError("each chat message must be a dict with role user/assistant/system and content")
        turns.append({"role": m["role"], "content": "" if m["content"] is None else str(m["content"])})
    if turns[-1]["role"] != "user":
        raise RagError("the last chat message must be the user's question")
    return turns


def clean_question(question: str) -> str:
    """Strip control characters and surrounding space; refuse an empty question."""
    if not isinstance(question, str):
        raise RagError("the question must be text")
    cleaned = "".join(ch if ch.isprintable() or ch in "\n\t" else " " for ch in question).strip()
    if not cleaned:
        raise RagError("the question is empty: type a question about your documents")
    return cleaned[:MAX_QUESTION_CHARS]
