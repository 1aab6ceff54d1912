"""The ONNX int8 embedding backend: exported offline from the packaged model, close to the PyTorch vectors."""

from pathlib import Path

import numpy as np
import pytest

from rag.embedding.batched import BatchedTransformerEmbedder
from rag.embedding.dense import SentenceTransformerEmbedder, packaged_minilm_path
from rag.embedding.device import gpu_driver_present, resolve_device
from rag.embedding.onnx import OnnxEmbedder
from rag.embedding.onnx_export import onnx_model_dir
from rag.embedding.token_batches import hf_token_ids, token_batches
from rag.settings import Settings

TEXTS = [
    "Deploy the platform on Kubernetes with the Helm chart.",
    "Cats sleep for most of the day and hunt at night.",
    "Run rag ingest with a directory of Markdown files to load documents, then ask questions about them.",
    "short",
]


def test_onnx_int8_vectors_match_pytorch_and_the_export_is_cached(embedder: SentenceTransformerEmbedder) -> None:
    """In the model cache every run shares (a fresh export is tests/test_ingest.py's first-run test)."""
    model_dir = onnx_model_dir(packaged_minilm_path(), Settings().embedding.cache_dir, "all-MiniLM-L6-v2")
    exported = (model_dir / "model_int8.onnx").stat().st_mtime_ns
    assert onnx_model_dir(packaged_minilm_path(), Settings().embedding.cache_dir, "all-MiniLM-L6-v2") == model_dir
    assert (model_dir / "model_int8.onnx").stat().st_mtime_ns == exported  # not exported twice

    onnx = OnnxEmbedder(model_dir, batch_tokens=40)
    assert onnx.dimension == embedder.dimension == 384 and onnx.name == "all-MiniLM-L6-v2-onnx-v2-int8"
    got, want = np.array(onnx.embed_documents(TEXTS)), np.array(embedder.embed_documents(TEXTS))
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    assert ((got * want).sum(axis=1) > 0.97).all()  # batching by length keeps each text's own vector
    query = np.array(onnx.embed_query("how do I install on kubernetes"))
    assert int(np.argmax(got @ query)) == 0


def test_batched_transformer_path_matches_sentence_transformers(embedder: SentenceTransformerEmbedder) -> None:
    """The GPU path's logic (tokenized ahead, length-sorted batches, own pooling), run on CPU in fp32."""
    batched = BatchedTransformerEmbedder(packaged_minilm_path(), name="m", device="cpu", batch_size=2)
    assert batched.dimension == 384
    got, want = np.array(batched.embed_documents(TEXTS)), np.array(embedder.embed_documents(TEXTS))
    assert ((got * want).sum(axis=1) > 0.9999).all()


def test_resolve_device_picks_cuda_only_when_a_gpu_is_visible(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    monkeypatch.setattr("rag.embedding.device.gpu_driver_present", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == "cpu"
    monkeypatch.setattr("rag.embedding.device.gpu_driver_present", lambda: False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == "cpu"  # no driver: torch is not asked
    assert resolve_device("cpu") == "cpu"  # an explicit device is taken as given, GPU or not
    assert resolve_device("cuda:1") == "cuda:1"


def test_a_gpu_driver_counts_unless_cuda_visible_devices_hides_every_gpu(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    node = tmp_path / "nvidia0"
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert not gpu_driver_present((node,))
    node.touch()
    assert gpu_driver_present((node,))
    for hidden in ("", "-1"):
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", hidden)
        assert not gpu_driver_present((node,))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    assert gpu_driver_present((node,))


def test_token_batches_cover_every_text_once_within_the_budget(embedder: SentenceTransformerEmbedder) -> None:
    texts = [word * n for n, word in enumerate(["alpha ", "beta gamma ", "delta ", "x "] * 5, start=1)]
    tokenizer = embedder.tokenizer
    pad = int(tokenizer.pad_token_id)  # type: ignore[attr-defined]
    batches = list(token_batches(hf_token_ids(tokenizer, texts, max_length=32), pad_id=pad, token_budget=64))
    rows = [r for b in batches for r in b.rows]
    assert sorted(rows) == list(range(len(texts)))
    widths = [b.input_ids.shape[1] for b in batches]
    assert widths == sorted(widths) and max(widths) == 32  # sorted by tokens, truncated at max_length
    assert all(b.input_ids.size <= 64 or len(b.rows) == 1 for b in batches)
    for b in batches:
        assert (b.attention_mask.sum(axis=1) >= 1).all() and b.attention_mask[:, 0].all()
        assert b.features()["token_type_ids"].shape == b.input_ids.shape
    assert list(token_batches(hf_token_ids(tokenizer, [], max_length=32), pad_id=pad, token_budget=64)) == []


def test_token_batches_keep_padding_small_for_texts_of_mixed_lengths() -> None:
    """Short sentences (an answer's, for attribution) of mixed lengths: no batch pads a text past 1.25 times the
    shortest one's length, which halved the cost of embedding them on this CPU (benchmarks.attribution)."""
    encoded = [[1] * n for n in (5, 6, 7, 10, 12, 30, 31, 60, 9, 8)]
    batches = list(token_batches(encoded, pad_id=0, token_budget=4096))
    assert sorted(r for b in batches for r in b.rows) == list(range(len(encoded)))
    for b in batches:
        lengths = [len(encoded[r]) for r in b.rows]
        assert max(lengths) <= 1.25 * min(lengths)
    assert len(list(token_batches([[1] * 8] * 20, pad_id=0, token_budget=4096))) == 1  # equal lengths: one batch


def test_the_onnx_embedder_tokenizes_like_the_transformers_tokenizer_of_its_export() -> None:
    """The ONNX path reads tokenizer.json with `tokenizers` alone: the same ids, truncated alike."""
    from transformers import AutoTokenizer

    model_dir = onnx_model_dir(packaged_minilm_path(), Settings().embedding.cache_dir, "all-MiniLM-L6-v2")
    onnx = OnnxEmbedder(model_dir)
    texts = [*TEXTS, "word " * 600, "Ünïcödé\ttext  with   spaces 🎉", ""]
    want = hf_token_ids(AutoTokenizer.from_pretrained(str(model_dir)), texts, max_length=onnx._max_length)
    assert [e.ids for e in onnx._encoder.encode_batch(texts)] == want
    assert max(len(ids) for ids in want) == onnx._max_length  # the long text was cut, its specials kept


def test_pytorch_embedder_matches_sentence_transformers_encode(embedder: SentenceTransformerEmbedder) -> None:
    got = np.array(embedder.embed_documents(TEXTS))
    want = embedder._model.encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    assert np.allclose(got, want, atol=1e-5)
