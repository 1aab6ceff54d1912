"""Which device `RAG_EMBED_DEVICE=auto` means. Importing torch only to ask CUDA costs about 1.5 s a process here,
so the device files are looked at first: where no GPU driver is present the answer is the CPU, without torch."""

from __future__ import annotations

import os
from pathlib import Path

# a GPU driver's device nodes: NVIDIA's on Linux, the WSL2 GPU paravirtualization device
GPU_DEVICE_FILES = (Path("/dev/nvidiactl"), Path("/dev/nvidia0"), Path("/dev/dxg"))


def gpu_driver_present(device_files: tuple[Path, ...] = GPU_DEVICE_FILES) -> bool:
    """A GPU could be visible to this process: a driver's device file exists and CUDA_VISIBLE_DEVICES hides none."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", "unset").strip() in ("", "-1"):
        return False
    return any(f.exists() for f in device_files)


def resolve_device(device: str) -> str:
    """`auto` is CUDA when a GPU is visible (asked of torch only when a driver is present), else CPU."""
    if device != "auto":
        return device
    if not gpu_driver_present():
        return "cpu"
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
