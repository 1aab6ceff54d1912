"""The ONNX int8 embedding backend: exported offline from the packaged model, close to the PyTorch vectors."""

from pathlib import Path

import numpy as np

from rag.embedding.batched import BatchedTransformerEmbedder, resolve_device
from rag.embedding.dense import SentenceTransformerEmbedder, packaged_minilm_path
from rag.embedding.onnx import OnnxEmbedder
from rag.embedding.onnx_export import onnx_model_dir

TEXTS = [
    "Deploy the platform on Kubernetes with the Helm chart.",
    "Cats sleep for most of the day and hunt at night.",
    "Run rag ingest with a directory of Markdown files to load documents, then ask questions about them.",
    "short",
]


def test_onnx_int8_vectors_match_pytorch_and_the_export_is_cached(
    tmp_path: Path, embedder: SentenceTransformerEmbedder
) -> None:
    model_dir = onnx_model_dir(packaged_minilm_path(), tmp_path, "all-MiniLM-L6-v2")
    exported = (model_dir / "model_int8.onnx").stat().st_mtime_ns
    assert onnx_model_dir(packaged_minilm_path(), tmp_path, "all-MiniLM-L6-v2") == model_dir
    assert (model_dir / "model_int8.onnx").stat().st_mtime_ns == exported  # not exported twice

    onnx = OnnxEmbedder(model_dir, name="all-MiniLM-L6-v2", batch_size=2)
    assert onnx.dimension == embedder.dimension == 384 and onnx.name == "all-MiniLM-L6-v2-onnx-int8"
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
    assert resolve_device("cpu") == "cpu" and resolve_device("auto") in {"cpu", "cuda"}
