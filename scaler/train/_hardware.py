"""Device auto-selection and the precision / memory-format choices that are actually faster on it."""
from __future__ import annotations

import contextlib
import ctypes
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any, ContextManager

import torch

from scaler.errors import ConfigError

__all__ = ["select_device", "resolve_amp", "resolve_channels_last", "autocast", "cpu_has_native_bf16",
           "tune_malloc", "device_name", "cache_dir", "precision_candidates", "read_cache", "write_cache"]

# glibc mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_MMAP_THRESHOLD_MAX = 32 * 2**20  # glibc's ceiling on 64-bit: larger blocks are always mmapped
_TRIM_THRESHOLD = 2**30
_MALLOC_TUNED = False


def select_device(name: str = "auto") -> torch.device:
    """"auto": cuda, else mps, else cpu; an explicit name must be available here."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"unknown device {name!r}; valid: auto, cpu, cuda, cuda:N, mps") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} asked for but CUDA is not available here; valid: auto, cpu")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ConfigError(f"device {name!r} does not exist; valid: cuda:0..cuda:{torch.cuda.device_count() - 1}")
    if device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ConfigError(f"device {name!r} asked for but MPS is not available here; valid: auto, cpu")
    if device.type not in ("cpu", "cuda", "mps"):
        raise ConfigError(f"unsupported device {name!r}; valid: auto, cpu, cuda, cuda:N, mps")
    return device


def cpu_has_native_bf16() -> bool:
    """True when the CPU computes bf16 natively (AVX512-BF16 or AMX-BF16) and oneDNN can use it.

    `torch.backends.cpu.get_cpu_capability()` says only "AVX512" on such CPUs, and oneDNN also
    accepts plain AVX512 for bf16 by emulation, which is slower than fp32; so ask for the ISA flags.
    """
    if not torch.backends.mkldnn.is_available():
        return False
    get_capabilities = getattr(torch.cpu, "get_capabilities", None)
    if get_capabilities is None:  # older torch: AMX shows up in the capability string
        return "AMX" in torch.backends.cpu.get_cpu_capability()
    flags = get_capabilities()
    return bool(flags.get("avx512_bf16") or flags.get("amx_bf16"))


def resolve_amp(amp: str, device: torch.device) -> str:
    """The autocast dtype a mode means on `device`: "off", "bf16" or "fp16"."""
    if amp == "auto":
        if device.type == "cuda":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        if device.type == "cpu" and cpu_has_native_bf16():
            return "bf16"
        return "off"
    if amp == "fp16" and device.type == "cpu":
        raise ConfigError("amp 'fp16' is not supported on cpu; valid there: auto, off, bf16")
    if amp == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise ConfigError("amp 'bf16' is not supported by this GPU; valid: auto, off, fp16")
    if amp != "off" and device.type == "mps":
        raise ConfigError(f"amp {amp!r} is not supported on mps here; valid: auto, off")
    return amp


def resolve_channels_last(channels_last: bool | None, device: torch.device, amp: str) -> bool:
    """None (auto): on for CPU (oneDNN's native NHWC convs, measured faster in fp32 and bf16) and
    for CUDA with amp (tensor-core convolutions run in NHWC); off otherwise."""
    if channels_last is not None:
        return channels_last
    return device.type == "cpu" or (device.type == "cuda" and amp != "off")


def autocast(device: torch.device, amp: str) -> ContextManager:
    """The autocast context for a resolved amp mode (a no-op context when off)."""
    if amp == "off":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if amp == "bf16" else torch.float16
    return torch.autocast(device.type, dtype=dtype)


def tune_malloc() -> bool:
    """Keep freed activation-sized blocks (up to 32 MiB) in glibc's heap instead of unmapping them; True if set.

    By default glibc serves large blocks with mmap and returns them with munmap, so every training
    step maps its activations afresh and the kernel zero-fills each page on first touch: ~32k page
    faults (~125 MB zeroed) per step for the width-16 U-Net at 96x128, batch 8, about half its CPU
    time. With a fixed mmap threshold and a high trim threshold the blocks are reused and a steady
    step takes no page faults. The cost: up to 1 GiB freed at the top of the heap is kept rather
    than returned to the OS. Process-wide and idempotent; a no-op off glibc.
    """
    global _MALLOC_TUNED
    if _MALLOC_TUNED:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    _MALLOC_TUNED = bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_MAX)) and bool(
        mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD))
    return _MALLOC_TUNED


def device_name(device: torch.device) -> str:
    """What the device is, for cache keys and result records: the GPU's name, or the CPU's model name."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "cpu":
        try:
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.startswith("model name"):
                    return "cpu: " + line.split(":", 1)[1].strip()
        except OSError:
            pass
        return "cpu: " + (platform.processor() or platform.machine() or "unknown")
    return device.type


def cache_dir() -> Path:
    """Where measured timings and choices are cached: $SCALER_CACHE_DIR, else ~/.cache/scaler."""
    return Path(os.environ.get("SCALER_CACHE_DIR") or Path.home() / ".cache" / "scaler")


def read_cache(path: Path) -> dict[str, Any]:
    """A JSON cache file as a dict (empty when absent or unreadable: a cache is never worth an error)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_cache(path: Path, data: dict[str, Any]) -> None:
    """Write a JSON cache file atomically (a temporary file renamed over it); an unwritable cache is skipped."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
        os.replace(tmp, path)
    except OSError:
        pass


def precision_candidates(device: torch.device, amp: str = "auto",
                         channels_last: bool | None = None) -> list[tuple[str, bool]]:
    """The (amp, channels_last) pairs worth measuring on `device`; the first is eager fp32 (the reference).

    An explicit amp or channels_last is kept as given (validated by `resolve_amp`); "auto" tries every
    precision the device runs: fp32 and bf16 on CPU, fp32, fp16 (and bf16 where supported) on CUDA.
    """
    if amp != "auto":
        amps = [resolve_amp(amp, device)]
    elif device.type == "cuda":
        amps = ["off", "fp16"] + (["bf16"] if torch.cuda.is_bf16_supported() else [])
    elif device.type == "cpu":
        amps = ["off", "bf16"]
    else:
        amps = ["off"]
    layouts = [False, True] if channels_last is None else [channels_last]
    return [(a, layout) for a in amps for layout in layouts]
