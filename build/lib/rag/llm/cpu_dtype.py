"""The dtype a language model should run in on this CPU.

bfloat16 only where the CPU computes it natively (AVX-512 BF16 or AMX); elsewhere its matrix products are emulated
and the prompt's prefill is slow. `python -m benchmarks.llm_dtype` measures both on grounded ClapNQ prompts with
SmolLM2-135M in-process and writes benchmarks/results/llm_dtype.json. On the AMD EPYC with AVX-512 BF16 that runs
this repository now (2026-11-30, that file): time to first token 0.87 s in bfloat16, 1.94 s in float32; decoding
17.4 and 11.4 tokens/s; 64 tokens in all 4.09 s and 6.25 s, so bfloat16 is chosen. On the AVX2 machines before it
(the same script, 2026-11-27, file not kept): 7.47 s against 1.55 s to the first token, 10.56 s against 6.46 s in
all, so float32. vLLM on a 700-token prompt on AVX2 (measured once by hand, commit 7e04833, one request per
`--dtype`; no script reproduces it): first token 18.7 s with `--dtype bfloat16`, 4.1 s with `--dtype float32`. A
streamed answer should start as soon as it can, which is what a chat user waits on.
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
