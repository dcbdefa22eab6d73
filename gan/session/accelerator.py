"""Starting the process a run computes in: the ``Accelerator``, its precision, seeds and host tuning.

Every loop starts the same way, in the same order (the precision refused before accelerate
starts, the seed set before anything draws), so that a run on one CPU and a run on many GPUs
differ only in what accelerate finds around it. The policies themselves live in ``gan/device.py``.
"""

from __future__ import annotations

import warnings

import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState, GradientState
from accelerate.utils import set_seed

from ..config import Config
from ..device import check_precision, emulated_bf16, host_threads, keep_freed_memory, on_cpu, precision


def start_accelerator(cfg: Config) -> Accelerator:
    """A fresh ``Accelerator`` for ``cfg.run``, with the process's seed, threads and memory set for it."""
    run = cfg.run
    check_precision(run)
    # A second run in one process (a notebook, the tests) may ask for another precision;
    # accelerate keeps its state in singletons, so start them afresh (the process group stays).
    AcceleratorState._reset_state()
    GradientState._reset_state()
    settled = precision(run)  # auto: bf16 or fp32, by what this device does well
    accelerator = Accelerator(cpu=on_cpu(run), mixed_precision=settled, gradient_accumulation_steps=run.grad_accum)
    if run.mixed_precision == "auto":  # the run's config keeps the word; the log says what it meant here
        accelerator.print(f"run.mixed_precision: auto is {settled} on this {accelerator.device.type}")
    slow = emulated_bf16(run)
    if slow:
        warnings.warn(slow, stacklevel=3)  # names the line that opened the session
    set_seed(run.seed, device_specific=True)  # each process draws its own noise
    # Idle OpenMP threads spin waiting for work; beside another busy process they take its cores (the
    # wait policy is read once, when OpenMP starts, so the number of threads is what a run can set).
    torch.set_num_threads(host_threads(cfg))
    if run.cudnn_benchmark and torch.backends.cudnn.is_available():
        torch.backends.cudnn.benchmark = True
    if run.keep_freed_memory:  # process-wide, and only ever turned on: a later run cannot undo it
        keep_freed_memory()
    return accelerator
