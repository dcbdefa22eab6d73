"""What several processes of one run must agree on: refusals, DDP's buffers, and a channel for stop flags.

One process is the smallest case: each method then does nothing more than the single-process
code would. Under DDP every process must take the same decision at the same point, or the
others wait forever in their next collective.
"""

from __future__ import annotations

import time

import torch

from ..runs.folder import RunError


class Processes:
    """The session's collectives; expects ``self.accelerator``."""

    def _agree(self, refusal: str | None) -> None:
        """Raise rank 0's refusal on every process (a barrier too), so that no process waits for one that stopped."""
        if self.accelerator.num_processes > 1:
            from accelerate.utils import broadcast_object_list

            refusal = broadcast_object_list([refusal])[0]
        if refusal:
            raise RunError(refusal)

    def prepare(self, *objects):
        """``accelerator.prepare``, with DDP's buffers left to each process between checkpoints (``sync_buffers``).

        The prepared models and optimizers are kept, in accelerate's order (model.safetensors, model_1, ...), for
        the checkpoint loader: it reads them here rather than from the Accelerator's private lists.
        """
        prepared = self.accelerator.prepare(*objects)
        for thing in prepared if isinstance(prepared, tuple) else (prepared,):
            if isinstance(thing, torch.nn.Module):
                self.prepared_models.append(thing)
            elif isinstance(thing, torch.optim.Optimizer):
                self.prepared_optimizers.append(thing)
        for ddp in prepared if isinstance(prepared, tuple) else (prepared,):
            if isinstance(ddp, torch.nn.parallel.DistributedDataParallel):
                # Two networks stepped alternately: broadcasting batch-norm / spectral-norm buffers from
                # rank 0 at every forward would overwrite tensors that a pending backward needs. Set on the
                # wrapper, not through accelerate: its handler still passes ``broadcast_buffers``, which
                # torch deprecates (a warning per process); the buffers are still synced once, at wrapping.
                setattr(
                    ddp, "forward_sync_buffers" if hasattr(ddp, "forward_sync_buffers") else "broadcast_buffers", False
                )
        return prepared

    def sync_buffers(self, *modules: torch.nn.Module) -> None:
        """Give every process rank 0's buffers (batch-norm statistics, spectral-norm vectors).

        DDP runs with ``broadcast_buffers=False`` (see ``prepare``), so each process keeps the
        statistics of its own batches; before saving, all processes adopt one copy.
        """
        if self.accelerator.num_processes == 1:
            return
        import torch.distributed as dist

        for module in modules:
            for buffer in module.buffers():
                dist.broadcast(buffer.data, src=0)

    def close_processes(self) -> None:
        """Tear the process groups down on every way out of a run (its end, a signal, an error).

        A gloo group left for the interpreter's shutdown can abort the process after its work is done
        ("terminate called without an active exception"); torch asks every program to call
        ``destroy_process_group`` itself. Idempotent, and nothing to do for one process.
        """
        if self.accelerator.num_processes > 1:
            # A gloo worker thread frees a finished collective's tensors after the caller has its result, and freeing
            # a tensor Python has seen takes the GIL: a process that exits at once (a non-main rank, right after the
            # last checkpoint's gather) meets that thread in interpreter shutdown, where taking the GIL ends the
            # thread and std::terminate aborts the process (a core dump showed AsyncAllgatherWork's destructor). A
            # moment without the GIL lets the workers finish first; it cannot hang, whatever the other processes do.
            time.sleep(0.05)
            self.accelerator.end_training()  # accelerate's own teardown: destroys every group if any is left

    def _flag_group(self):
        """A process group on the host for the stop decision, so that agreeing on it never waits for a GPU
        (None: one process, or the training group already runs on the host)."""
        if self.accelerator.num_processes == 1:
            return None
        import torch.distributed as dist

        return None if "gloo" in dist.get_backend() else dist.new_group(backend="gloo")
