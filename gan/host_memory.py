"""Keep freed host memory for reuse, instead of handing it back to the OS between training steps.

A training step on a CPU frees and allocates the same few-megabyte activations every step.
glibc's malloc returns such blocks to the OS (they are mmap-ed, or trimmed from the top of the
heap) and the next step faults them back in, one zeroed 4 KiB page at a time: thousands of page
faults a step, a share of its time worth having back (BENCHMARKS.md). jemalloc and tcmalloc,
which Intel's PyTorch launcher preloads for the same reason, keep such memory; with glibc, two
``mallopt`` settings do. The price: the process keeps its peak footprint until it exits, which
is what a GPU's caching allocator does too.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import platform

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # from glibc's malloc.h
MMAP_THRESHOLD_MAX = 32 << 20  # glibc's largest accepted value on 64-bit: larger blocks still go to mmap
TRIM_THRESHOLD = 1 << 30       # free memory at the top of the heap kept before trimming


def keep_freed_memory() -> bool:
    """Ask glibc to keep freed blocks up to 32 MiB for reuse; False where the C library is not glibc."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_MAX)) and bool(libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    except (OSError, AttributeError):
        return False
