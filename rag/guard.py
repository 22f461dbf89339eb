"""Documents are data: sentences that give an assistant orders, files made of them, and
sentences that only ask the question again are never evidence.

Every answerer asks here: the index (a payload's words stay out of BM25's idf), the
retriever (a payload chunk is no candidate), the extractive answerer and the LLM's
passages. `looks_like_injection` is cached by text, so a chunk or file is judged once per
process however many questions meet it.
"""
from __future__ import annotations

import functools
import re

from .text import char_ngrams, split_sentences

# Sentences that address an AI assistant rather than state a fact: "ignore previous
# instructions", fake system prompts, "answer only X". Documents are data; such a
# sentence is never evidence, so neither the answerer nor the LLM prompt takes it.
_INSTRUCTION_RE = re.compile(
    r"ignore (all |any )?(the )?(previous|prior|above|earlier) (instructions|prompts?|messages?)"
    r"|disregard (all |the )?(previous|prior|above)|system prompt|developer mode|you are now|"
    r"(reply|respond|answer) (only )?(with )?[\"'“]?[A-Z]{4,}|</?\s*(passages?|system|assistant|user)\s*>|"
    r"\b(system|assistant)\s*:|"
    r"忽略(之前|以上|先前|前面|上述)?的?(所有|全部)?(指令|指示|提示|说明|要求)|系统提示|系統提示|"
    r"(只|仅|僅)(回答|回复|回覆|输出|輸出)|你现在(是|必须)|你現在(是|必須)|"
    r"\bcite \[\d+\]|(引用|标注|標註)\s*\[\d+\]",
    re.IGNORECASE,
)

# A file in which this share of the sentences give orders to an assistant is a payload,
# not a source: its headings and its echoes of the question only exist to be quoted next
# to the orders. A news story that quotes one injection stays far below it.
INJECTION_SHARE = 0.25


def looks_like_instruction(text: str) -> bool:
    """True for a sentence that gives orders to an assistant (a prompt injection)."""
    return bool(_INSTRUCTION_RE.search(text))


@functools.lru_cache(maxsize=2048)  # chunk and file texts: a few MB at most
def looks_like_injection(text: str) -> bool:
    """True for a document whose sentences largely address an assistant: none of it is evidence."""
    spans = split_sentences(text)
    orders = sum(looks_like_instruction(text[a:b]) for a, b in spans)
    return bool(spans) and orders >= INJECTION_SHARE * len(spans)


_INTERROGATIVE_RE = re.compile(r"哪|什么|什麼|谁|誰|多少|几|幾|吗|嗎|\b(which|what|who|whom|when|where|how)\b", re.I)


def restates(sentence: str, question: str) -> bool:
    """True for a sentence that asks the question again ("关于哪些公司将参与…，请注意…").

    It scores highest on both similarity and coverage yet answers nothing, which is how a
    document that echoes users' questions would push the real evidence out.
    """
    if not _INTERROGATIVE_RE.search(sentence):
        return False
    asked = char_ngrams(question)
    return bool(asked) and len(asked & char_ngrams(sentence)) / len(asked) >= 0.6
