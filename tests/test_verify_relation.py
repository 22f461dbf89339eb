"""The verifier checks what a sentence claims, not only that its names and numbers occur.

The two cases of the answer-quality issue: a reporter named as the district mayor, and a
founder named as the new CEO. Both names occur in the cited passage, in another role.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from rag.verify import Passage, verify

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
COMPANY_NEWS = (
    "海底捞创始人张勇表示，公司将继续在海外扩张。"
    "2022年3月，杨利娟出任海底捞首席执行官，负责公司日常经营管理。"
)


def _passage(text: str) -> list[Passage]:
    return [Passage(1, "news.txt", "", "", 0, len(text), text)]


def _kept(question: str, answer: str, text: str, embedder) -> bool:
    return verify(answer, _passage(text), embedder, question).supported > 0


@pytest.fixture(scope="module")
def seed_002() -> str:
    from rag.ingest import load_document

    return load_document(SEEDS / "002_e1ad1554a458d264.txt", SEEDS).text


def test_the_reporter_is_not_the_district_mayor(seed_002, embedder):
    assert "intern reporter He Rui" in seed_002
    assert not _kept("Who is the district mayor of Chaoyang?", "The district mayor of Chaoyang is He Rui [1].", seed_002, embedder)


def test_the_founder_is_not_the_new_ceo(embedder):
    assert not _kept("海底捞的新任首席执行官是谁？", "海底捞的新任首席执行官是张勇[1]。", COMPANY_NEWS, embedder)


def test_the_passage_that_names_the_ceo_supports_the_right_answer(embedder):
    assert _kept("海底捞的新任首席执行官是谁？", "海底捞的新任首席执行官是杨利娟[1]。", COMPANY_NEWS, embedder)


def test_a_list_in_one_sentence_is_still_supported(seed_002, embedder):
    answer = "The innovation zone will introduce Beijing Enterprises Group, Huawei, Xiaomi and Alibaba [1]."
    assert _kept("Which companies will the innovation zone introduce?", answer, seed_002, embedder)
