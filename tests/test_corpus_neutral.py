"""The library knows no particular corpus: no name, word or fact of the seeds in rag/.

The names come from the seeds themselves, not from a list kept here: every key-fact
spelling of eval/questions.jsonl (the facts the seed questions ask for) that is a name
rather than a common word, plus the words jieba has to invent for the seed files (a word
not in its dictionary is a name the corpus taught it).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from rag.ingest import load_documents
from rag.text import normalize

ROOT = Path(__file__).resolve().parent.parent
CJK_RE = re.compile(r"[\u3400-\u9fff]")


def _dictionary() -> dict:
    import jieba

    jieba.initialize()
    return jieba.dt.FREQ


def _key_fact_names(dictionary: dict) -> set[str]:
    names = set()
    for line in (ROOT / "eval" / "questions.jsonl").read_text(encoding="utf-8").splitlines():
        for group in json.loads(line)["key_facts"]:
            for spelling in group:
                plain = re.sub(r"\(.*?\)", "", spelling)
                if CJK_RE.search(plain):
                    if len(plain) >= 3 and not re.search(r"\d", plain) and normalize(plain) not in dictionary:
                        names.add(plain)
                elif re.fullmatch(r"[A-Z][a-z]+(?: [A-Z][a-z]+)*", plain) and len(plain) >= 5:
                    names.add(plain)
    return names


def _invented_words(dictionary: dict) -> set[str]:
    """CJK words of 3+ characters that jieba cuts from the seeds but does not know, and
    names written in pinyin of three syllables or more (a place, a district)."""
    import jieba

    from rag.text import split_pinyin

    words = set()
    documents, _skipped = load_documents(ROOT / "seeds")
    for doc in documents:
        for word in jieba.cut(normalize(doc.title + "\n" + doc.text)):
            if len(word) >= 3 and CJK_RE.fullmatch(word[0]) and word not in dictionary:
                words.add(word)
        lower = set(re.findall(r"\b[a-z]{6,}\b", doc.text))  # a word also written in lower case is no name
        for word in re.findall(r"\b[A-Z][a-z]{5,}\b", doc.text):
            if len(split_pinyin(word.lower()) or ()) >= 3 and word.lower() not in lower:
                words.add(word)
    return words


@pytest.fixture(scope="module")
def seed_names() -> set[str]:
    dictionary = _dictionary()
    names = _key_fact_names(dictionary) | _invented_words(dictionary)
    assert len(names) >= 30, names  # the check has something to find
    return names


def _library_text() -> dict[str, str]:
    return {str(p.relative_to(ROOT)): p.read_text(encoding="utf-8") for p in sorted((ROOT / "rag").rglob("*.py"))}


def test_rag_names_nothing_of_the_seeds(seed_names):
    found = {
        f"{path}: {name}"
        for path, text in _library_text().items()
        for name in seed_names
        if (name in text or normalize(name) in normalize(text))
    }
    assert not found, "seed names in the library:\n" + "\n".join(sorted(found))


def test_the_check_finds_a_seed_name_when_one_is_there(seed_names):
    """The detector itself: a glossary line like the ones that were removed is caught."""
    planted = 'GLOSSARY = (("北控集团",), ("Beijing Enterprises Group",), ("山河湾谷", "Shanhewangu"))'
    assert {n for n in seed_names if n in planted or normalize(n) in normalize(planted)}
