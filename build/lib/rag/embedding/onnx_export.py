"""The packaged sentence-transformers model as ONNX, fp32 or int8 (dynamic quantization), exported once, offline.

`torch.onnx.export` writes the transformer (token embeddings out) with eager attention, whose graph onnxruntime's
transformer optimizer recognizes: for BERT-family models it fuses attention, embedding + layer norm, skip + layer
norm and bias + GELU into single kernels. `quantize_dynamic` then makes the int8 copy (per-channel weights,
activations quantized at run time; the fused attention becomes QAttention). Measured once by hand (commit 4ffecff;
no script reproduces it, no results file) on 1,000 SciFact chunks, 2 AVX2 cores, batches cut at 4,096 tokens:
int8 unfused about 32 chunks/s, fused 41. Pooling and normalization stay in
Python (`rag.embedding.onnx`). The directory is cached under `<cache_dir>/models/`; a half-written one is never
used, and `EXPORT_VERSION` names the layout so a changed export never reuses an older one.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rag.hf_runtime import offline_and_quiet

log = logging.getLogger(__name__)

INPUTS = ("input_ids", "attention_mask", "token_type_ids")
EXPORT_VERSION = 2  # 2: eager attention, fused by onnxruntime's transformer optimizer before quantization


def onnx_model_dir(source: Path, cache_dir: Path, name: str) -> Path:
    """`<cache>/models/<name>-onnx-v<N>/`: `model.onnx`, `model_int8.onnx` and the tokenizer, exported on first use."""
    target = cache_dir / "models" / f"{name}-onnx-v{EXPORT_VERSION}"
    if (target / "model_int8.onnx").is_file():
        return target
    export_onnx(source, target)
    return target


def export_onnx(source: Path, target: Path) -> None:
    offline_and_quiet()
    import torch
    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModel, AutoTokenizer

    log.info("preparing the embedding model once: ONNX int8 export into %s (under a minute)", target)
    tokenizer = AutoTokenizer.from_pretrained(str(source))
    model = AutoModel.from_pretrained(str(source), attn_implementation="eager").eval()

    class TokenEmbeddings(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            out = self.inner(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
            return out.last_hidden_state

    sample = tokenizer(["an example", "another, longer example sentence"], padding=True, return_tensors="pt")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        axes = {name: {0: "batch", 1: "tokens"} for name in (*INPUTS, "token_embeddings")}
        # The tracer warns about mask shapes it records as constants; the export is checked against PyTorch's
        # vectors on varied lengths and batch sizes (tests/test_embedding.py).
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                TokenEmbeddings(model),
                tuple(sample[name] for name in INPUTS),
                str(staging / "model.onnx"),
                input_names=list(INPUTS),
                output_names=["token_embeddings"],
                dynamic_axes=axes,
                opset_version=17,
                dynamo=False,
            )
        if model.config.model_type == "bert":
            _fuse_bert(staging / "model.onnx", heads=model.config.num_attention_heads, hidden=model.config.hidden_size)
        with _root_logger_quiet():  # it advises pre-processing (the graph was optimized above) through the root logger
            quantize_dynamic(
                staging / "model.onnx",
                staging / "model_int8.onnx",
                weight_type=QuantType.QInt8,
                per_channel=True,
                # fused operators are outside ONNX's shape inference; their outputs are float32
                extra_options={"DefaultTensorType": TensorProto.FLOAT},
            )
        tokenizer.save_pretrained(staging)
        for config in ("sentence_bert_config.json", "config.json"):
            if (source / config).is_file():
                shutil.copy(source / config, staging / config)
        try:
            staging.rename(target)
        except OSError:  # another process finished the same export first: keep theirs
            if not (target / "model_int8.onnx").is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@contextmanager
def _root_logger_quiet() -> Iterator[None]:
    """Errors only from the root logger meanwhile: onnxruntime's quantizer logs its internals there."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(max(level, logging.ERROR))
    try:
        yield
    finally:
        root.setLevel(level)


def _fuse_bert(path: Path, *, heads: int, hidden: int) -> None:
    """Rewrites the fp32 graph at `path` with onnxruntime's fused BERT operators."""
    from onnxruntime.transformers.optimizer import optimize_model

    optimized = optimize_model(str(path), model_type="bert", num_heads=heads, hidden_size=hidden)
    fused = optimized.get_fused_operator_statistics()
    log.debug("fused operators: %s", {k: v for k, v in fused.items() if v})
    optimized.save_model_to_file(str(path))
