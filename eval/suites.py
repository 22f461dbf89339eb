"""Development suites built from public reading-comprehension sets (../shared/datasets/).

Each suite is a folder of documents (one passage a file) and a question list in the
format of eval/questions.jsonl, rebuilt deterministically into a cache folder:

| suite | questions | documents |
|---|---|---|
| seeds | eval/questions.jsonl (100, written for the five seeds) | seeds/ |
| cmrc | CMRC 2018, simplified Chinese | its Chinese Wikipedia passages |
| drcd | DRCD, traditional Chinese | its Taiwan Wikipedia passages |
| xquad-en-zh | XQuAD, English questions | the Chinese translation of the passages |
| xquad-zh-en | XQuAD, Chinese questions | the English passages |

Unanswerable questions are made the honest way: 30% of the passages are held out
of the folder, and their questions are kept when no answer string occurs in any remaining
file. Each question belongs to the "calib" or "check" half (by passage), so a threshold
fitted on one half is reported on the other. The licences are share-alike: CMRC 2018 and
XQuAD CC BY-SA 4.0, DRCD CC BY-SA 3.0; each generated folder carries an ATTRIBUTION file.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
from dataclasses import dataclass, replace
from pathlib import Path

from rag.text import normalize, words

from .questions import DEFAULT_DOCS, DEFAULT_QUESTIONS, ROOT, Question, load_questions

DATASETS = Path(os.environ.get("RAG_DATASETS_DIR", ROOT.parent / "shared" / "datasets"))
SUITES = ("seeds", "cmrc", "drcd", "xquad-en-zh", "xquad-zh-en")
BUILD_VERSION = "3"  # bump when the construction below changes
HELD_OUT = 0.3  # share of passages whose questions become unanswerable
GATE_SIZE = 120  # questions in each suite's fixed CI sample
GATE_UNANSWERABLE = 0.25
# Passages per Chinese suite: the full CMRC/DRCD sets (848/1,000 passages) take long to
# index on two cores; this many keeps `make eval` within minutes with ~1,000 questions.
MAX_PASSAGES = 320

ATTRIBUTION = {
    "cmrc": "CMRC 2018 (Cui et al., EMNLP 2019), github.com/ymcui/cmrc2018 @ c0eb1b6, CC BY-SA 4.0",
    "drcd": "DRCD (Shao et al., 2018, arXiv:1806.00920), github.com/DRCKnowledgeTeam/DRCD @ b944790, CC BY-SA 3.0",
    "xquad": "XQuAD (Artetxe et al., ACL 2020), github.com/google-deepmind/xquad @ 7d30520, CC BY-SA 4.0",
}


@dataclass(frozen=True)
class Passage:
    id: str
    title: str
    text: str
    # (id, question, answers, probe): the probe is the question in the passages' language
    # (itself, except for XQuAD's cross-lingual pairs), which `underspecified` judges.
    questions: tuple[tuple[str, str, tuple[str, ...], str], ...]


@dataclass(frozen=True)
class Suite:
    name: str
    docs_dir: Path
    questions: list[Question]

    def sample(self, size: str) -> list[Question]:
        """"full": every question; "gate": the fixed CI sample; "calib"/"check": a half."""
        if size == "full":
            return self.questions
        if size in ("calib", "check"):
            return [q for q in self.questions if q.split == size]
        if size == "gate":
            return gate_sample(self.questions)
        raise ValueError(f"unknown sample {size!r}: full, gate, calib or check")


def _rank(key: str, salt: str) -> str:
    return hashlib.sha256(f"{salt}:{key}".encode()).hexdigest()


def _cmrc() -> list[Passage]:
    rows = json.loads((DATASETS / "cmrc2018_dev.json").read_text(encoding="utf-8"))
    return [
        Passage(
            row["context_id"],
            row["title"],
            row["context_text"],
            tuple((q["query_id"], q["query_text"], tuple(dict.fromkeys(str(a) for a in q["answers"])), q["query_text"]) for q in row["qas"]),
        )
        for row in rows
    ]


def _squad(path: Path, prefix: str) -> list[Passage]:
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    passages = []
    for a, article in enumerate(data):
        for p, paragraph in enumerate(article["paragraphs"]):
            qas = tuple(
                (q["id"], q["question"], tuple(dict.fromkeys(ans["text"] for ans in q["answers"])), q["question"])
                for q in paragraph["qas"]
            )
            passages.append(Passage(f"{prefix}{a:03d}_{p:02d}", article["title"].replace("_", " "), paragraph["context"], qas))
    return passages


def _xquad(passage_lang: str) -> list[Passage]:
    """Passages in `passage_lang`; questions in the other language, answers from both."""
    question_lang = "en" if passage_lang == "zh" else "zh"
    passages = _squad(DATASETS / f"xquad_dev.{passage_lang}.json", "xq")
    asked = {q[0]: q for p in _squad(DATASETS / f"xquad_dev.{question_lang}.json", "xq") for q in p.questions}
    return [
        replace(p, questions=tuple((qid, asked[qid][1], answers + asked[qid][2], probe) for qid, _, answers, probe in p.questions))
        for p in passages
    ]


def _source(suite: str) -> tuple[list[Passage], str, str]:
    """(passages, question language, passage language)."""
    if suite == "cmrc":
        return _cmrc(), "zh", "zh"
    if suite == "drcd":
        return _squad(DATASETS / "DRCD_dev.json", "drcd"), "zh-Hant", "zh"
    if suite == "xquad-en-zh":
        return _xquad("zh"), "en", "zh"
    if suite == "xquad-zh-en":
        return _xquad("en"), "zh", "en"
    raise ValueError(f"unknown suite {suite!r}: choose one of {', '.join(SUITES)}")


def load_suite(name: str, cache_dir: Path | None = None) -> Suite:
    """The suite's documents folder and questions, built on first use."""
    if name == "seeds":
        return Suite("seeds", DEFAULT_DOCS, [replace(q, split=_half(q.paraphrase_of or q.id)) for q in load_questions(DEFAULT_QUESTIONS)])
    folder = (cache_dir or _cache_dir()) / f"{name}-v{BUILD_VERSION}"
    questions_file = folder / "questions.jsonl"
    if not questions_file.exists():
        _build(name, folder)
    return Suite(name, folder / "docs", load_questions(questions_file))


def _cache_dir() -> Path:
    from rag import Config

    return Config.from_env().cache_dir / "suites"


def _half(key: str) -> str:
    return "calib" if int(_rank(key, "split"), 16) % 2 == 0 else "check"


def _build(name: str, folder: Path) -> None:
    """Write docs/*.txt, questions.jsonl and ATTRIBUTION into `folder` (atomically)."""
    import shutil

    passages, question_lang, passage_lang = _source(name)
    passages = sorted(passages, key=lambda p: _rank(p.id, name))[:MAX_PASSAGES]
    cut = round(len(passages) * HELD_OUT)
    held_out, kept = passages[:cut], sorted(passages[cut:], key=lambda p: p.id)
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "docs").mkdir(parents=True)
    texts = []
    for p in kept:
        body = f"---\ntitle: {json.dumps(p.title, ensure_ascii=False)}\n---\n{p.text}\n"
        (tmp / "docs" / f"{p.id}.txt").write_text(body, encoding="utf-8")
        texts.append(normalize(p.title + " " + p.text))
    corpus_words = _document_frequencies(texts)
    texts = [t.replace(" ", "") for t in texts]
    judge = functools.partial(underspecified, frequencies=corpus_words, documents=len(texts))
    rows = [_row(q, p, question_lang, judge, True) for p in kept for q in p.questions]
    for p in held_out:
        for q in p.questions:
            # Unanswerable only if no remaining file holds any of its answers.
            if not any(normalize(a).replace(" ", "") in t for a in q[2] for t in texts):
                rows.append(_row(q, p, question_lang, judge, False))
    with open(tmp / "questions.jsonl", "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    family = "xquad" if name.startswith("xquad") else name
    (tmp / "ATTRIBUTION").write_text(
        f"Derived from {ATTRIBUTION[family]}.\nPassages are {passage_lang}; questions are {question_lang}. "
        "Share-alike: this folder keeps the licence of its source.\n",
        encoding="utf-8",
    )
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)


def _document_frequencies(texts: list[str]) -> dict[str, int]:
    frequencies: dict[str, int] = {}
    for text in texts:
        for word in set(words(text)):
            frequencies[word] = frequencies.get(word, 0) + 1
    return frequencies


def _row(item, passage: Passage, language: str, judge, answerable: bool) -> dict:
    qid, question, answers, probe = item
    return {
        "id": qid,
        "question": question,
        "language": language,
        "kind": "answerable" if answerable else "unanswerable",
        "answerable": answerable,
        "key_facts": [list(answers)] if answerable else [],
        "supporting_docs": [f"{passage.id}.txt"] if answerable else [],
        "supporting_quotes": [answers[0]] if answerable else [],
        "split": _half(passage.id),
        "underspecified": judge(probe),
    }


RARE_WORD_DF = 0.01  # a word in at most this share of the passages (or 2) points at a few of them


def underspecified(question: str, frequencies: dict[str, int], documents: int) -> bool:
    """A question that names nothing rare in the folder: no word of it is in only a few passages.

    Its writer saw one passage; in a folder of hundreds, "生命数耗完即算为什么？" or "How many
    nations control this region in total?" leaves open which passage it means. For a
    question in the other language than the passages, its translation in the passages'
    language is judged (XQuAD is parallel).
    """
    rare = max(2, RARE_WORD_DF * documents)
    return not any(0 < frequencies.get(t, 0) <= rare for t in set(words(normalize(question))))


def gate_sample(questions: list[Question], size: int = GATE_SIZE) -> list[Question]:
    """A fixed sample: a quarter unanswerable (or all there are), the rest answerable."""
    ordered = sorted(questions, key=lambda q: _rank(q.id, "gate"))
    negatives = [q for q in ordered if not q.answerable][: round(size * GATE_UNANSWERABLE)]
    positives = [q for q in ordered if q.answerable][: size - len(negatives)]
    chosen = {q.id for q in negatives + positives}
    return [q for q in questions if q.id in chosen]
