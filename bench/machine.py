"""What machine a benchmark ran on, for printing beside its figures."""

from __future__ import annotations

import os
import platform

# CPU features that change what Whisper decodes: CTranslate2 picks its int8 kernels by
# them (CT2_FORCE_CPU_ISA overrides), and oneDNN, which it runs the encoder's
# convolutions with, uses VNNI where there is VNNI (ONEDNN_MAX_CPU_ISA overrides). Two
# AMD EPYCs, with and without AVX-512 VNNI, committed different text from the same clip.
KERNEL_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8")
KERNEL_ENV = ("CT2_FORCE_CPU_ISA", "ONEDNN_MAX_CPU_ISA", "CT2_USE_MKL")


def _cpuinfo() -> tuple[str, set[str]]:
    cpu, flags = platform.processor() or "unknown CPU", set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                elif line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    break
    except OSError:
        pass
    return cpu, flags


def kernels() -> str:
    """The CPU features and overrides that choose the decoding kernels, and the
    CTranslate2 version: two runs compare only where this line is the same."""
    _, flags = _cpuinfo()
    parts = [f for f in KERNEL_FLAGS if f in flags] or ["no AVX2"]
    parts += [f"{name}={os.environ[name]}" for name in KERNEL_ENV if os.environ.get(name)]
    try:
        from importlib.metadata import version

        parts.append(f"ctranslate2 {version('ctranslate2')}")
    except Exception:
        pass
    return " ".join(parts)


def describe() -> str:
    """One line: CPU model, cores, memory, OS, Python, GPU when CTranslate2 sees one, and
    the decoding kernels (:func:`kernels`)."""
    cpu, _ = _cpuinfo()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    mem = ""
    try:
        with open("/proc/meminfo", encoding="utf-8") as fh:
            kb = int(fh.readline().split()[1])
            mem = f", {kb / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    gpu = ""
    try:
        import ctranslate2

        if ctranslate2.get_cuda_device_count() > 0:
            gpu = f", {ctranslate2.get_cuda_device_count()} CUDA device(s)"
    except Exception:
        pass
    return (f"{cpu}, {cores} cores{mem}{gpu}; {platform.system()} {platform.release()}; "
            f"Python {platform.python_version()}; kernels: {kernels()}")
