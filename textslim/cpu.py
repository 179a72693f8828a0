"""What this CPU is, and which integer-GEMM path ONNX Runtime takes on it: the one fact that decides whether an INT8
graph computes the same products here as on the machine that quantized it.

ONNX Runtime multiplies uint8 activations by int8 weights with VNNI dot products where the CPU has them (exact int32
sums). Without VNNI (AVX2, and AVX-512 without VNNI) the u8 x s8 kernel adds pairs of products in int16 first and
saturates on large operands; uint8 x uint8 (optimum's avx2 preset) is widened to int16 before multiplying and stays
exact. So a model quantized u8 x s8 can give other answers on a CPU of the other path.
"""

import platform
from pathlib import Path

VNNI_FLAGS = frozenset({"avx512_vnni", "avx512vnni", "avx_vnni"})  # AVX-512 VNNI, or AVX-VNNI on newer client cores
INT8_PATHS = {
    "vnni": "x86 with VNNI: uint8 x int8 products summed exactly",
    "no-vnni": "x86 without VNNI: uint8 x int8 pairs summed in int16 (may saturate); uint8 x uint8 exact",
    "arm64": "arm64: ONNX Runtime's NEON/SDOT kernels",
}


def _cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""


def cpu_flags() -> set[str]:
    """The CPU feature flags the kernel reports (empty where /proc/cpuinfo does not exist)."""
    for line in _cpuinfo().splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def cpu_model() -> str:
    """The CPU's model name as the kernel reports it, or the platform's processor string where it does not."""
    for line in _cpuinfo().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown"


def int8_path(flags: set[str] | None = None, machine: str | None = None) -> str:
    """Which integer-GEMM path ONNX Runtime takes on this CPU (a key of INT8_PATHS)."""
    if (machine or platform.machine()).lower() in ("arm64", "aarch64"):
        return "arm64"
    flags = cpu_flags() if flags is None else flags
    return "vnni" if flags & VNNI_FLAGS else "no-vnni"


def products_differ(operands: dict, path: str, other_path: str) -> bool:
    """Whether integer GEMMs with these operand types (a quantize.json) can give other products on the two paths:
    only full-range uint8 x int8, between a CPU without VNNI and one with it (or arm64)."""
    full_range_s8 = operands.get("weights") == "int8" and not operands.get("reduce_range")
    return full_range_s8 and (path == "no-vnni") != (other_path == "no-vnni")


def describe_cpu() -> dict:
    """The CPU model and its int8 path, as model folders and reports record them."""
    path = int8_path()
    return {"model": cpu_model(), "int8_path": path, "int8_path_means": INT8_PATHS[path]}
