"""What machine a benchmark ran on, for printing beside its figures."""

from __future__ import annotations

import os
import platform


def describe() -> str:
    """One line: CPU model, cores, memory, OS, Python, and GPU when CTranslate2 sees one."""
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
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
            f"Python {platform.python_version()}")
