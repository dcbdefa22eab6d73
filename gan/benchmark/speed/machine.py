"""What the machine can do, and how to time it fairly: the matrix-product peak, memory, a timer that waits for the
device.

The peak is the denominator of every "% of peak" the speed benchmark reports, so it is measured the way
the step's own products run: through each library PyTorch hands products to, at shapes that let each
reach its best, in the same process and precision as the step.
"""

from __future__ import annotations

import math
import os
import platform
import resource
import time
from pathlib import Path

import torch

from ...words import counted


def sync(device: torch.device) -> None:
    """Wait for queued kernels: a timer read before this measures launches, not work."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, steps: int, device) -> float:
    """Seconds for ``steps`` calls of ``fn``, waiting for the device before and after."""
    sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        fn()
    sync(device)
    return time.perf_counter() - start


# The shapes the peak is measured at, m x k x n. On a CPU a square product alone can understate the
# peak: a 4096 x 1024 x 1024 product, whose right-hand side stays in cache, ran faster than a
# 2048-square one on some CPUs, as fast as the fastest convolution there (BENCHMARKS.md,
# "Measurements behind the defaults"). cuBLAS peaks at large squares.
PEAK_SHAPES = {"cpu": ((2048, 2048, 2048), (4096, 1024, 1024)), "cuda": ((8192, 8192, 8192),)}


def matrix_products(device: torch.device, dtype: torch.dtype, shape: tuple[int, int, int]) -> dict:
    """The same m x k by k x n product through each library PyTorch hands matrix products to on ``device``.

    ``torch.mm`` goes to BLAS (MKL on a CPU, cuBLAS on a GPU); convolutions and, on a CPU, the
    networks' conv layers go to oneDNN, reached here as a 1x1 convolution over channels-last data,
    which is exactly a matrix product. They differ, and by CPU: where BLAS is the slower one, a peak
    from ``torch.mm`` alone would rate convolutions above 100%.
    Returns name -> a function computing ``a @ b``.
    """
    m, k, n = shape
    a = torch.randn(m, k, device=device).to(dtype)
    b = torch.randn(k, n, device=device).to(dtype)
    paths = {"blas": lambda: torch.mm(a, b)}
    if device.type == "cpu" and m % 64 == 0:
        # a's rows as the pixels of a 64 x m/64 image with k channels, stored channels-last: the same memory
        pixels = a.view(1, 64, m // 64, k).permute(0, 3, 1, 2)
        weight = b.t().contiguous().view(n, k, 1, 1)
        paths["onednn"] = lambda: torch.nn.functional.conv2d(pixels, weight).permute(0, 2, 3, 1).reshape(m, n)
    return paths


# A small product timed first, to tell whether a library computes this type natively: on a CPU without
# bf16 instructions bf16 products run in emulated arithmetic, and measuring a peak there at full size
# would take minutes a round. On a GPU a small product measures the launch, not the arithmetic, so the
# probe is larger there.
PROBE_SHAPES = {"cpu": (256, 256, 256), "cuda": (2048, 2048, 2048)}


def matmul_peaks(
    device: torch.device, dtype: torch.dtype = torch.float32, *, shapes=None, repeats: int = 10, budget_s: float = 0.5
) -> dict:
    """For each library in ``matrix_products``: FLOP/s of its best of ``repeats`` products, over ``shapes``
    (default ``PEAK_SHAPES`` for the device type).

    Each library first times a ``PROBE_SHAPES`` product; a shape that this speed predicts to take more
    than ``budget_s`` a product is not run, and where no shape is run the probe's speed is the library's
    (a slow path: emulated arithmetic, not a peak worth the minutes).
    """
    kind = "cuda" if device.type == "cuda" else "cpu"
    out, probe = {}, PROBE_SHAPES[kind]

    def best_of(product, flops, n):
        product()  # first call: kernel choice, page faults
        best = math.inf
        for _ in range(n):
            sync(device)
            start = time.perf_counter()
            product()
            sync(device)
            best = min(best, time.perf_counter() - start)
        return flops / best

    probes = {
        name: best_of(product, 2 * math.prod(probe), 2)
        for name, product in matrix_products(device, dtype, probe).items()
    }
    for m, k, n in shapes or PEAK_SHAPES[kind]:
        for name, product in matrix_products(device, dtype, (m, k, n)).items():
            if 2 * m * k * n / probes[name] <= budget_s:
                out[name] = max(out.get(name, 0.0), best_of(product, 2 * m * k * n, repeats))
    return {name: out.get(name, rate) for name, rate in probes.items()}


def matmul_peak(device: torch.device, dtype: torch.dtype = torch.float32, *, shapes=None, repeats: int = 10) -> float:
    """What this device reaches at its easiest: the fastest library's fastest product (``matmul_peaks``)."""
    return max(matmul_peaks(device, dtype, shapes=shapes, repeats=repeats).values())


def peak_memory_mb(device: torch.device) -> float:
    """Peak memory so far: allocated tensors on a GPU; the process's resident set on a CPU."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def describe(device: torch.device) -> str:
    """The device's name for a table: the GPU's, or the CPU's model and core count."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    family = _cpuinfo("cpu family")
    kind = ", ".join(x for x in (family and f"family {family}", torch.backends.cpu.get_cpu_capability()) if x)
    return f"{cpu_model() or platform.machine()} CPU ({kind}), {counted(os.cpu_count(), 'core')}"


def cpu_model() -> str | None:
    """The CPU's name from /proc/cpuinfo (Linux): machines of the same kind may carry different CPUs, and numbers from
    two CPUs do not compare."""
    return _cpuinfo("model name")


def _cpuinfo(field: str) -> str | None:
    """A field of /proc/cpuinfo's first processor (Linux), e.g. "cpu family": a virtual machine may name its CPU only
    "AMD EPYC", and the family (25 Zen 3, 26 Zen 5) with ATen's vector kernels (AVX2, AVX512) tells apart what a
    number depends on."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return None
    values = [line.split(":", 1)[1].strip() for line in lines if line.split(":", 1)[0].strip() == field]
    return values[0] if values else None
