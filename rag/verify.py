"""Checks an LLM's answer against the passages it was given, sentence by sentence.

A small model writes fluent answers but cites the wrong [n] and now and then adds a fact
the passages lack. So its [n] marks are treated as hints only:

- Each answer sentence is a *claim* when it says something beyond the question (a key
  term that is neither in the question nor filler such as "包括"/"following"), or when it
  carries an [n] (then all its words are checked). Other sentences ("入驻的企业有：") are
  kept as they are, uncited and not counted.
- A claim is *supported* by a passage when every number and every Latin name in it
  occurs in the passage (or in the question), and enough of its key terms do: literally
  (normalised: simplified script, half-width, lower case) or through pinyin (a name in
  hanzi ~ its pinyin spelling). With an embedder, the e5 similarity of the claim and the passage is a second
  signal, which is what lets a Chinese claim rest on an English passage.
- A supported claim keeps the cited passages that support it; when none of them does, it
  is re-pointed to the passage that supports it best. An unsupported claim is dropped
  (not marked): the reader never sees a sentence the sources do not back. `grounded` is
  the share of claims that were supported, so dropping shows as a lower score.
- Each kept claim cites the smallest run of its passage's sentences that holds the
  claim's terms; the quote is that exact span of the source text, never model text.
  Citations are numbered 1, 2, ... in order of first use.
- An answer that opens with "文档中没有提到" / "The documents do not say" (or says only
  that) is an abstention: `ABSTAIN_MESSAGE`, no citations.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from .text import CJK_RE, detect_language, normalize, pinyin_pairs, split_pinyin, split_sentences, words
from .types import ABSTAIN_MESSAGE, Citation

# Words that carry no claim of their own ("the answer is", "包括以下").
FILLER = frozenset(
    """包括 以下 如下 主要 分别 分别是 其中 相关 方面 信息 内容 根据 段落 文档 资料 提到 提及 显示 指出 表示
    答案 问题 具体 一些 这些 那些 它们 他们 我们 以上 所述 来说 而言 方面 有关
    according passage passages document documents answer question following include includes including
    mentioned mention mentions listed list several various text based states stated say says""".split()
)

_MARK_RE = re.compile(
    r"\s*[\[【［(（]\s*(?:passages?|段落|来源|资料|文档|ref\.?|source)?\s*"
    r"(\d{1,2}(?:\s*(?:[,，、;；]|and|和)\s*\d{1,2})*)\s*[\]】］)）]",
    re.IGNORECASE,
)
_BULLET_ONLY_RE = re.compile(r"^\s*(\d{1,2}[.、)）]|[-*•·])\s*$")
_BULLET_RE = re.compile(r"^(\d{1,2}[.、)）]\s*|[-*•·]\s+)")
_OPEN_MARK_RE = re.compile(r"\s*[\[【［][^\]】］]{0,12}$")
_NUMBER_RE = re.compile(r"\d+(?:\.\d+)?")
_NUMBER_WORDS = {
    w: str(i)
    for i, w in enumerate("zero one two three four five six seven eight nine ten eleven twelve".split())
}
# A clause ends at a sentence end or a bracket: a role given in parentheses ("(reporter
# X)") is its own clause. Commas do not end one. Measured on true and near-miss claims
# from the CMRC check half (python -m eval verifier): no check keeps 1.00 of the true
# claims at precision 0.58; whole sentences at 0.5, 0.82 at 0.82 but miss the reporter in
# parentheses; these clauses at RELATION_MIN 0.34, 0.75 at 0.80; cut at commas too, 0.48 at 0.85.
_CLAUSE_RE = re.compile(r"[。！？!?；;()（）\[\]【】\n]+|(?<=[a-z0-9])\.(?=\s)")
_LATIN_WORD_RE = re.compile(r"[A-Za-z][A-Za-z'’-]*")
_TERMINAL_RE = re.compile(r"[。！？!?.;；…:：]+[”」』\"'）)]*$")
_ABSTAIN_RE = re.compile(
    r"文档中?(并)?(没有|沒有|未)(提到|提及|找到|说明|說明|涉及)|文檔中?(並)?沒有提到|(段落|资料|材料)中?(并)?(没有|未)(提到|提及|涉及|说明)"
    r"|没有(提供)?(相关|足够)?的?信息|无法(从|根据)|"
    r"\b(the )?(documents?|passages?|sources?|texts?) (do|does|did) not (say|mention|state|contain|specify|provide)"
    r"|\bnot (mentioned|stated|specified) in the (documents?|passages?)|\bno information (about|on|regarding)",
    re.IGNORECASE,
)

# Support thresholds. e5-small similarities (claim vs the passage's best sentence) alone
# do not separate a faithful cross-lingual paraphrase (0.79-0.90 on the seeds) from a
# made-up one (0.76-0.85), so similarity only counts together with lexical evidence,
# or, across languages, when it is high.
COVERAGE_STRONG = 0.6  # share of the claim's new terms found: enough alone
COVERAGE_WEAK = 0.3  # enough with SIM_WEAK
SIM_WEAK = 0.82  # same language, with COVERAGE_WEAK
SIM_ANCHORED = 0.78  # other language, with a number or name found in the passage
SIM_STRONG = 0.86  # other language, alone (names and numbers must still check out)
RELATION_MIN = 0.34  # share of the relation's terms (question terms the claim repeats) beside the answer

@dataclass(frozen=True)
class Passage:
    """One numbered passage of a prompt: an exact span of a source's cleaned text."""

    n: int
    source: str
    title: str
    date: str
    start: int
    end: int
    text: str  # == cleaned source text[start:end]
    sentences: tuple[tuple[int, int], ...] = ()  # absolute sentence spans inside [start, end)

    def sentence_spans(self) -> tuple[tuple[int, int], ...]:
        if self.sentences:
            return self.sentences
        return tuple((self.start + a, self.start + b) for a, b in split_sentences(self.text)) or ((self.start, self.end),)


@dataclass
class Verification:
    """The result of `verify`: the rewritten answer and what happened to each sentence."""

    text: str
    citations: list[Citation]
    grounded: float
    abstained: bool = False
    claims: int = 0
    supported: int = 0
    repointed: int = 0
    dropped: list[str] = field(default_factory=list)


def strip_marks(text: str) -> str:
    """Text without [n] marks (and without a half-written one at the end), for display while streaming."""
    return _OPEN_MARK_RE.sub("", _MARK_RE.sub("", text))


def model_abstained(text: str) -> bool:
    """True when the answer opens with, or consists of, 'the documents do not say'."""
    sentences = [strip_marks(text[a:b]).strip() for a, b in split_sentences(text)]
    sentences = [s for s in sentences if s]
    if not sentences:
        return True  # an empty answer says nothing
    if _ABSTAIN_RE.search(sentences[0]):
        return True
    return all(_ABSTAIN_RE.search(s) for s in sentences)


def verify_citations(
    answer_text: str, passages: list[Passage], embedder=None, question: str = ""
) -> tuple[str, list[Citation], float]:
    """(text with verified, renumbered [n], citations with exact quotes, grounded share).

    An abstention comes back as (ABSTAIN_MESSAGE, [], 1.0); see `verify` for details.
    """
    result = verify(answer_text, passages, embedder, question)
    return result.text, result.citations, result.grounded


# ---- analysis of terms -----------------------------------------------------------------


@dataclass
class _Evidence:
    """A piece of source text prepared for term look-ups."""

    norm: str
    tokens: set[str]
    pinyin: set[str]
    numbers: set[str]
    lang: str
    clauses: list[tuple[str, set[str]]] = field(default_factory=list)  # (normalised clause, its words)


_ZH_DIGITS = {"一": "1", "二": "2", "两": "2", "三": "3", "四": "4", "五": "5", "六": "6", "七": "7", "八": "8", "九": "9", "十": "10"}


def _evidence(text: str) -> _Evidence:
    norm = normalize(text)
    numbers = set(_NUMBER_RE.findall(norm))
    numbers.update(d for ch, d in _ZH_DIGITS.items() if ch in norm)  # 四大行动 backs "4 actions"
    clauses = [(piece, set(words(piece))) for piece in _CLAUSE_RE.split(norm) if piece.strip()]
    return _Evidence(norm, set(words(norm)), set(pinyin_pairs(norm)), numbers, detect_language(text), clauses)


def _contains_phrase(norm: str, phrase: str) -> bool:
    if CJK_RE.search(phrase):
        return phrase in norm
    return re.search(rf"(?<![a-z0-9]){re.escape(phrase)}(?![a-z0-9])", norm) is not None


def _found(term: str, ev: _Evidence) -> bool:
    """Does the evidence hold this (normalised) term, literally or by pinyin?"""
    if CJK_RE.search(term):
        if term in ev.norm:
            return True
        if _pinyin_found(pinyin_pairs(term), ev):
            # A CJK name written in pinyin in the evidence.
            return any(t.isascii() and t.isalpha() for t in ev.tokens)
        return False
    if term in ev.tokens or _contains_phrase(ev.norm, term):
        return True
    if _NUMBER_RE.fullmatch(term) or term in _NUMBER_WORDS:
        return _NUMBER_WORDS.get(term, term) in ev.numbers
    syllables = split_pinyin(term)
    return bool(syllables) and len(syllables) >= 2 and _pinyin_found(pinyin_pairs(term), ev)


def _pinyin_found(pairs: list[str], ev: _Evidence) -> bool:
    """All syllable pairs of a name in the evidence, or all but one of a name of 4+ syllables:
    a machine translation often cuts a long name at another syllable ("Xihu Longjing" as
    "Xi Hulongjing"), which loses the pair across the cut."""
    missing = len(set(pairs) - ev.pinyin)
    return bool(pairs) and (missing == 0 or (missing == 1 and len(set(pairs)) >= 3))


@dataclass
class _Claim:
    index: int
    raw: str
    clean: str
    marks: list[int]
    norm: str = ""
    terms: list[str] = field(default_factory=list)  # content terms beyond the question
    names: list[str] = field(default_factory=list)  # Latin names: must be found in English evidence
    pinyin_names: list[str] = field(default_factory=list)  # pinyin-like names: must be found in any evidence
    numbers: list[str] = field(default_factory=list)
    abstain: bool = False
    bullet: str = ""  # a leading list marker ("1. ", "- "), kept in the output, not analysed

    @property
    def is_claim(self) -> bool:
        return bool(self.terms or self.names or self.numbers) and not self.abstain


def _split(answer_text: str) -> list[tuple[str, str]]:
    """(sentence, gap before it), with a sentence made only of marks joined to the previous one."""
    parts: list[list[str]] = []
    pos = 0
    bullet: tuple[str, str] | None = None  # a list number ("1.") split off its item
    for a, b in split_sentences(answer_text):
        gap, sentence = answer_text[pos:a], answer_text[a:b]
        pos = b
        if bullet is not None:
            gap, sentence = bullet[1], bullet[0] + " " + sentence
            bullet = None
        elif _BULLET_ONLY_RE.match(sentence):
            bullet = (sentence, gap)
            continue
        if parts and not strip_marks(sentence).strip(" \t\n。.!?！？,，"):
            parts[-1][0] += sentence
            continue
        parts.append([sentence, gap])
    if bullet is not None:
        parts.append([bullet[0], bullet[1]])
    return [(s, g) for s, g in parts]


def _latin_names(clean: str, lang: str) -> list[str]:
    """Latin words that name something: all of them in a Chinese sentence; in an English one,
    capitalised words that do not open the sentence, and acronyms.

    Against a Chinese passage only the pinyin-like ones (a company or place name) can be checked:
    "Innovation Zone" or "AI" have no spelling there to look for."""
    found = []
    for i, match in enumerate(_LATIN_WORD_RE.finditer(clean)):
        word = match.group(0)
        if lang == "zh":
            found.append(word)
        elif word.isupper() and len(word) >= 2:
            found.append(word)
        elif word[0].isupper() and i > 0 and word.lower() not in {"i"}:
            found.append(word)
    names = []
    for word in found:
        for tok in words(normalize(word)):
            if tok not in FILLER:
                names.append(tok)
    return names


def _whole_words(terms: list[str]) -> list[str]:
    return [t for t in terms if not any(t != u and t in u for u in terms)]


def _analyse(index: int, raw: str, question_ev: _Evidence) -> _Claim:
    marks = [int(n) for group in _MARK_RE.findall(raw) for n in re.findall(r"\d+", group)]
    clean = strip_marks(raw).strip()
    bullet = _BULLET_RE.match(clean)
    claim = _Claim(index, raw, clean[bullet.end() :] if bullet else clean, marks)
    claim.bullet = bullet.group(0) if bullet else ""
    clean = claim.clean
    claim.norm = normalize(clean)
    claim.abstain = bool(_ABSTAIN_RE.search(clean))
    lang = detect_language(clean)
    question_words = question_ev.tokens
    terms = []
    for tok in dict.fromkeys(words(claim.norm)):
        if tok in FILLER or tok in question_words:
            continue
        if _NUMBER_RE.fullmatch(tok) or tok in _NUMBER_WORDS:
            if _NUMBER_WORDS.get(tok, tok) not in question_ev.numbers:
                terms.append(tok)
            continue
        if CJK_RE.search(tok):
            if len(tok) < 2 or tok in question_ev.norm:
                continue
        elif len(tok) < 2:
            continue
        terms.append(tok)
    # jieba's search mode also yields the parts of a word (北京工业大学 -> 北京, 工业, 大学):
    # keep the whole word only, or the parts of one name would count as several terms.
    claim.terms = _whole_words(terms)
    if not claim.terms and marks:
        # A cited sentence in the question's own words ("是的，两家公司签订了合作协议[1]"):
        # check all its words rather than take it for filler.
        claim.terms = _whole_words([t for t in dict.fromkeys(words(claim.norm)) if t not in FILLER and len(t) > 1])
    claim.names = [t for t in dict.fromkeys(_latin_names(clean, lang)) if t not in question_words]
    claim.pinyin_names = [t for t in claim.names if len(split_pinyin(t) or ()) >= 2]
    claim.numbers = [n for n in dict.fromkeys(_NUMBER_RE.findall(claim.norm)) if n not in question_ev.numbers]
    return claim


@dataclass
class _Support:
    passage: int  # index into passages
    supported: bool
    score: float
    coverage: float


def _relation_holds(claim: _Claim, ev: _Evidence, question_terms: list[str]) -> bool:
    """Does the passage say the claim's answer in the question's relation, not in another one?

    "The mayor of the district is Li Ming" names a person the passage does name, as its
    reporter; "海底捞的新任首席执行官是张勇" a person it names as founder. Names and numbers
    occurring in the passage are not enough: the clauses that hold the claim's answer
    ("(intern reporter Li Ming)", "海底捞创始人张勇表示") must also hold at least
    RELATION_MIN of the question's terms that the claim repeats (the relation it asserts).
    Checked only where claim and passage share a language and the passage uses some of
    those terms (a number alone would make a translation look unrelated).
    """
    if detect_language(claim.clean) != ev.lang:
        return True  # an English claim's words cannot be looked for in a Chinese passage
    claim_tokens = set(words(claim.norm))
    relation = [t for t in question_terms if _in(t, claim.norm, claim_tokens)]
    if not relation or not any(_in(t, ev.norm, ev.tokens) for t in relation):
        return True
    answers = [t for t in claim.terms + claim.names + claim.numbers if t not in relation]
    near = [(clause, tokens) for clause, tokens in ev.clauses if any(_in(t, clause, tokens) for t in answers)]
    if not near:
        return True  # the answer is paraphrased or in pinyin: similarity decided
    beside = sum(any(_in(t, clause, tokens) for clause, tokens in near) for t in relation)
    return beside >= RELATION_MIN * len(relation)


def _in(term: str, norm: str, tokens: set[str]) -> bool:
    return term in norm if CJK_RE.search(term) else term in tokens


def _support(claim: _Claim, ev: _Evidence, similarity: float | None, question_terms: list[str] = ()) -> _Support:
    numbers_ok = all(n in ev.numbers for n in claim.numbers)
    required = claim.names if ev.lang == "en" else claim.pinyin_names
    names_ok = all(_found(n, ev) for n in required)
    terms = claim.terms
    found = [t for t in terms if _found(t, ev)]
    coverage = len(found) / len(terms) if terms else 1.0
    anchored = bool(claim.numbers) or any(t in claim.names or t in _NUMBER_WORDS for t in found)
    sim = similarity if similarity is not None else -1.0
    if detect_language(claim.clean) == ev.lang:
        lexical = coverage >= COVERAGE_STRONG or (coverage >= COVERAGE_WEAK and sim >= SIM_WEAK)
    else:
        lexical = coverage >= COVERAGE_STRONG or (anchored and sim >= SIM_ANCHORED) or sim >= SIM_STRONG
        if similarity is None:
            lexical = lexical or (anchored and coverage >= COVERAGE_WEAK)
    relation_ok = not (numbers_ok and names_ok and lexical) or _relation_holds(claim, ev, question_terms)
    supported = numbers_ok and names_ok and lexical and relation_ok
    score = coverage + (0.0 if similarity is None else 3 * (similarity - 0.8))
    score -= 0.0 if numbers_ok else 1.0
    score -= 0.0 if names_ok else 1.0
    score -= 0.0 if relation_ok else 1.0
    return _Support(-1, supported, score, coverage)


def _best_span(claim: _Claim, passage: Passage, sims: np.ndarray | None) -> tuple[int, int]:
    """The shortest run of the passage's sentences that holds the most of the claim's terms."""
    spans = passage.sentence_spans()
    terms = list(dict.fromkeys(claim.terms + claim.names + claim.numbers))
    evs = [_evidence(passage.text[a - passage.start : b - passage.start]) for a, b in spans]
    hits = []
    for ev in evs:
        hits.append({t for t in terms if (t in ev.numbers if _NUMBER_RE.fullmatch(t) else _found(t, ev))})
    best, best_key = (0, 0), None
    for i in range(len(spans)):
        covered: set[str] = set()
        for j in range(i, len(spans)):
            covered |= hits[j]
            sim = float(sims[i : j + 1].max()) if sims is not None and len(sims) == len(spans) else 0.0
            key = (len(covered), -(j - i), sim, -i)
            if best_key is None or key > best_key:
                best, best_key = (i, j), key
    i, j = best
    return spans[i][0], spans[j][1]


def _with_marks(clean: str, marks: list[int], lang: str) -> str:
    if not marks:
        return clean
    tag = "".join(f"[{n}]" for n in marks)
    match = _TERMINAL_RE.search(clean)
    body, tail = (clean[: match.start()], match.group(0)) if match else (clean, "")
    body = body.rstrip()
    return f"{body}{' ' if lang == 'en' else ''}{tag}{tail}"


def verify(answer_text: str, passages: list[Passage], embedder=None, question: str = "") -> Verification:
    """Check each sentence of an LLM answer against the passages; see the module docstring."""
    if model_abstained(answer_text):
        return Verification(ABSTAIN_MESSAGE, [], 1.0, abstained=True)
    question_ev = _evidence(question)
    question_terms = _whole_words([t for t in sorted(question_ev.tokens) if t not in FILLER and (len(t) > 1 or not CJK_RE.match(t))])
    pieces = _split(answer_text)
    claims = [_analyse(i, raw, question_ev) for i, (raw, _gap) in enumerate(pieces)]
    evidence = [_evidence(p.text) for p in passages]
    claim_sims, sentence_sims = _similarities(claims, passages, embedder)
    by_number = {p.n: i for i, p in enumerate(passages)}
    keys: dict[tuple[str, int, int], int] = {}
    result = Verification("", [], 1.0)
    out: list[str] = []
    for claim, (_raw, gap) in zip(claims, pieces):
        lead = "" if not out else _gap(gap)
        if not claim.is_claim:
            if claim.clean:
                out.append(lead + claim.bullet + claim.clean)
            continue
        result.claims += 1
        sims = None if claim_sims is None else claim_sims[claim.index]
        supports = [_support(claim, ev, None if sims is None else float(sims[i]), question_terms) for i, ev in enumerate(evidence)]
        for i, support in enumerate(supports):
            support.passage = i
        cited = [by_number[n] for n in dict.fromkeys(claim.marks) if n in by_number]
        chosen = [i for i in cited if supports[i].supported] or _support_elsewhere(claim, supports, passages, sims, question_terms)
        if not chosen:
            result.dropped.append(claim.clean)
            continue
        if cited and not set(chosen) & set(cited):
            result.repointed += 1
        result.supported += 1
        numbers = _cite(claim, chosen, passages, supports, sentence_sims, keys, result.citations)
        lang = detect_language(claim.clean) if claim.clean else "en"
        out.append(lead + claim.bullet + _with_marks(claim.clean, numbers, lang))
    result.grounded = result.supported / result.claims if result.claims else 0.0
    result.text = "".join(out).strip()
    return result


def _similarities(claims, passages: list[Passage], embedder):
    """(claim x passage: its best sentence's similarity, per passage: claim x sentence), or
    (None, None) without an embedder or claims."""
    if embedder is None or not passages or not any(c.is_claim for c in claims):
        return None, None
    claim_vecs = embedder.embed_queries([c.clean for c in claims])
    spans = [p.sentence_spans() for p in passages]
    flat = [p.text[a - p.start : b - p.start] for p, ss in zip(passages, spans) for a, b in ss]
    vecs = embedder.embed_passages(flat)
    sentence_sims, at = [], 0
    for ss in spans:
        sentence_sims.append(claim_vecs @ vecs[at : at + len(ss)].T)
        at += len(ss)
    return np.stack([s.max(axis=1) for s in sentence_sims], axis=1), sentence_sims


def _support_elsewhere(claim, supports, passages: list[Passage], sims, question_terms) -> list[int]:
    """The passages a claim rests on when the ones it cites do not hold it: the best
    supporting one, else the best two together (a list may gather items from two)."""
    ranked = sorted((s for s in supports if s.supported), key=lambda s: -s.score)
    if ranked:
        return [ranked[0].passage]
    if len(passages) < 2:
        return []
    pair = sorted(supports, key=lambda s: -s.score)[:2]
    joined = _evidence("\n".join(passages[s.passage].text for s in pair))
    sim = None if sims is None else max(float(sims[s.passage]) for s in pair)
    return sorted(s.passage for s in pair) if _support(claim, joined, sim, question_terms).supported else []


def _cite(claim, chosen: list[int], passages: list[Passage], supports, sentence_sims, keys: dict, citations: list[Citation]) -> list[int]:
    """The citation numbers for a claim: the best span of each chosen passage, numbered once."""
    numbers = []
    for i in chosen:
        p = passages[i]
        sims = None if sentence_sims is None else sentence_sims[i][claim.index]
        start, end = _best_span(claim, p, sims)
        key = (p.source, start, end)
        if key not in keys:
            keys[key] = len(citations) + 1
            quote = p.text[start - p.start : end - p.start]
            citations.append(Citation(keys[key], p.source, p.title, quote, start, end, round(supports[i].score, 4), p.date))
        if keys[key] not in numbers:
            numbers.append(keys[key])
    return numbers


def _gap(gap: str) -> str:
    if "\n" in gap:
        return "\n"
    return " " if gap else ""
