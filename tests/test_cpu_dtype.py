"""The language model's CPU dtype: bfloat16 only where the CPU has native bfloat16 instructions."""

from pathlib import Path

from rag.llm.cpu_dtype import cpu_flags, cpu_llm_dtype


def test_bfloat16_only_with_native_instructions() -> None:
    assert cpu_llm_dtype(frozenset({"avx2", "fma"})) == "float32"
    assert cpu_llm_dtype(frozenset({"avx2", "avx512f", "avx512_bf16"})) == "bfloat16"
    assert cpu_llm_dtype(frozenset({"amx_bf16", "amx_tile"})) == "bfloat16"


def test_flags_are_read_from_cpuinfo(tmp_path: Path) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512_bf16\n\nprocessor\t: 1\nflags\t\t: fpu\n")
    assert cpu_flags(info) == frozenset({"fpu", "sse2", "avx2", "avx512_bf16"})
    assert cpu_flags(tmp_path / "missing") == frozenset()
