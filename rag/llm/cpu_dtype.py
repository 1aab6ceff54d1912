"""The dtype a language model should run in on this CPU.

bfloat16 only where the CPU computes it natively (AVX-512 BF16 or AMX); elsewhere its matrix products are emulated
and the prompt's prefill is slow. On this repository's AVX2 machines (`python -m benchmarks.llm_dtype`, which writes
benchmarks/results/llm_dtype.json; grounded ClapNQ prompts, SmolLM2-135M in-process): time to first token 7.47 s in
bfloat16, 1.55 s in float32; decoding 13.6 and 9.7 tokens/s (float32 moves twice the bytes); 64 tokens in all
10.56 s and 6.46 s. vLLM on a 700-token prompt (measured once by hand, commit 7e04833, one request per `--dtype`;
no script reproduces it): first token 18.7 s with `--dtype bfloat16`, 4.1 s with `--dtype float32`, decoding about
the same. A streamed answer starts sooner in float32, which is what a chat user waits on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

NATIVE_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    """The CPU's feature flags (Linux); empty when they cannot be read."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.partition(":")[2].split())
    return frozenset()


def cpu_llm_dtype(flags: frozenset[str] | None = None) -> Literal["bfloat16", "float32"]:
    return "bfloat16" if (cpu_flags() if flags is None else flags) & NATIVE_BF16_FLAGS else "float32"
