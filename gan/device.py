"""Device policy: where a run computes and what pays there, asked in one place by every loop.

- the device: the CPU when ``run.cpu`` asks for it or no GPU is to be had (``on_cpu``);
- precision: ``auto`` is bf16 where the hardware computes it natively and fast (a GPU with bf16,
  a CPU with AMX whose oneDNN reaches its bf16 kernels), fp32 elsewhere (``precision``); fp16 is
  refused on a CPU (autocast ignores it there), bf16 is warned against on a CPU without bf16 kernels
  (``check_precision``, ``emulated_bf16``);
- memory layout: image networks and batches go channels-last where that was measured faster
  (``channels_last``);
- host memory: freed blocks are kept for the next step (``keep_freed_memory``);
- host threads: one for toy mixtures, PyTorch's own choice otherwise (``host_threads``).

Keeping freed host memory: a training step on a CPU frees and allocates the same few-megabyte
activations every step. glibc's malloc returns such blocks to the OS (they are mmap-ed, or trimmed
from the top of the heap) and the next step faults them back in, one zeroed 4 KiB page at a time:
thousands of page faults a step, a share of its time worth having back (BENCHMARKS.md). jemalloc and
tcmalloc, which Intel's PyTorch launcher preloads for the same reason, keep such memory; with glibc,
two ``mallopt`` settings do. The price: the process keeps its peak footprint until it exits, which
is what a GPU's caching allocator does too.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import platform

import torch

from networks.spaces import Image, Space

from .config import Config, ConfigError, Run
from .data.mixtures import is_mixture

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # from glibc's malloc.h
MMAP_THRESHOLD_MAX = 32 << 20  # glibc's largest accepted value on 64-bit: larger blocks still go to mmap
TRIM_THRESHOLD = 1 << 30  # free memory at the top of the heap kept before trimming


def keep_freed_memory() -> bool:
    """Ask glibc to keep freed blocks up to 32 MiB for reuse; False where the C library is not glibc."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_MAX)) and bool(
            libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
        )
    except (OSError, AttributeError):
        return False


TORCH_THREADS = (
    torch.get_num_threads()
)  # PyTorch's own choice (one per core, or OMP_NUM_THREADS), before any run changes it


def host_threads(cfg: Config) -> int:
    """``run.threads`` resolved (see its comment in config.py): one for toy mixtures, PyTorch's choice otherwise."""
    if cfg.run.threads != "auto":
        return cfg.run.threads
    return 1 if is_mixture(cfg.data.name) else TORCH_THREADS


def on_cpu(run: Run) -> bool:
    """Whether a run computes on the CPU: asked for with ``run.cpu``, or no GPU to be had."""
    return run.cpu or not torch.cuda.is_available()


def cpu_has_bf16() -> bool:
    """Whether oneDNN computes bf16 on this CPU with vector instructions (AVX-512 or AMX) rather than a scalar
    fallback."""
    probe = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    return True if probe is None else bool(probe())


def cpu_has_amx() -> bool:
    """Whether this CPU has AMX tiles, where oneDNN runs bf16 convolutions and products on matrix units: the one CPU
    measured where bf16 pays (an Intel Xeon: a digits step 0.65x fp32's; BENCHMARKS.md). AVX-512's bf16 dot products
    alone (a Zen 4) are left out: with oneDNN held to them on that Xeon a bf16 step cost 1.26x fp32's."""
    probe = getattr(torch.cpu, "_is_amx_tile_supported", None)
    return probe is not None and bool(probe())


def precision(run: Run) -> str:
    """The mixed precision a run computes in: ``run.mixed_precision``, with ``auto`` settled for the device at hand,
    each time a run starts or resumes (a run resumed on another machine may compute in the other precision)."""
    if run.mixed_precision != "auto":
        return run.mixed_precision
    if on_cpu(run):  # oneDNN's bf16 kernels in reach too: an AMX chip with ONEDNN_MAX_CPU_ISA=AVX2 would emulate bf16
        return "bf16" if cpu_has_amx() and cpu_has_bf16() else "no"
    return "bf16" if torch.cuda.is_bf16_supported() else "no"


def check_precision(run: Run) -> None:
    """Refuse a precision that cannot do what it promises on the device the run will have."""
    if run.mixed_precision == "fp16" and on_cpu(run):
        raise ConfigError("run.mixed_precision: fp16 does nothing on a CPU (autocast ignores it); use bf16 or no")


def emulated_bf16(run: Run) -> str | None:
    """Why ``run.mixed_precision: bf16`` would crawl here, or None: without bf16 kernels the CPU computes it in scalar
    code."""
    if precision(run) == "bf16" and on_cpu(run) and not cpu_has_bf16():
        return (
            "run.mixed_precision: bf16 on this CPU has no native kernels (no AVX-512 or AMX): its products run in "
            "emulated arithmetic, many times slower than fp32 (BENCHMARKS.md); use 'no' here"
        )
    return None


def uses_channels_last(setting: bool | str, device: torch.device) -> bool:
    """``run.channels_last`` resolved: ``"auto"`` means where it was measured faster, a CPU (oneDNN)."""
    return device.type == "cpu" if setting == "auto" else bool(setting)


def channels_last(run: Run, device: torch.device, space: Space) -> bool:
    """Whether a network reading or writing ``space`` keeps its weights and batches channels-last (NHWC).

    Only images have channels to lay out; a network over points or strings keeps its layout whatever the setting.
    """
    return isinstance(space, Image) and uses_channels_last(run.channels_last, device)
