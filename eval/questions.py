"""The question set: eval/questions.jsonl (format in eval/README_questions.md)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

EVAL_DIR = Path(__file__).resolve().parent
ROOT = EVAL_DIR.parent
DEFAULT_QUESTIONS = EVAL_DIR / "questions.jsonl"
DEFAULT_DOCS = ROOT / "seeds"


@dataclass(frozen=True)
class Question:
    """One evaluation item."""

    id: str
    question: str
    language: str  # zh, zh-Hant or en
    kind: str
    answerable: bool
    key_facts: tuple[tuple[str, ...], ...]
    supporting_docs: tuple[str, ...]
    supporting_quotes: tuple[str, ...]
    paraphrase_of: str = ""
    split: str = ""  # "calib" or "check": which half of a suite (thresholds are fitted on calib)
    underspecified: bool = False  # names too little to single out a passage (eval/suites.py)


def parse_question(row: dict) -> Question:
    """A Question from one decoded JSON line; KeyError/TypeError on a malformed row."""
    return Question(
        id=str(row["id"]),
        question=str(row["question"]),
        language=str(row["language"]),
        kind=str(row["kind"]),
        answerable=bool(row["answerable"]),
        key_facts=tuple(tuple(str(s) for s in group) for group in row["key_facts"]),
        supporting_docs=tuple(str(d) for d in row["supporting_docs"]),
        supporting_quotes=tuple(str(q) for q in row["supporting_quotes"]),
        paraphrase_of=str(row.get("paraphrase_of", "")),
        split=str(row.get("split", "")),
        underspecified=bool(row.get("underspecified", False)),
    )


def load_questions(path: str | Path = DEFAULT_QUESTIONS) -> list[Question]:
    """All questions in a JSON Lines file; a bad line raises ValueError naming its line number."""
    questions = []
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                questions.append(parse_question(json.loads(line)))
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}:{number}: not a valid question ({exc!r})") from None
    if not questions:
        raise ValueError(f"{path}: no questions")
    return questions
