"""Stopping a run cleanly: on SIGINT/SIGTERM, on a data file that cannot be read, with a checkpoint to resume from.

A signal is only noted when it arrives; the run acts on it at the end of the step, never mid-update,
and under several processes all of them stop at the same step boundary.
"""

from __future__ import annotations

import signal

import torch

from ..words import command


class Stopped(Exception):
    """SIGINT/SIGTERM arrived; a checkpoint was written. ``signal`` is the number that stopped the run."""

    def __init__(self, path, signal: int):
        super().__init__(path)
        self.signal = signal


class Stops:
    """The session's stops; expects ``self.accelerator``, ``self.cfg``, ``self.run``, ``self.step``,
    ``self.stop_signal``, ``self._old_handlers``, ``self._flags`` and the checkpoint bookkeeping
    (``self.saved_at``, ``self.last_checkpoint``, ``self.due``, ``self.settle_guard``)."""

    def _catch_signals(self) -> None:
        def ask_to_stop(signum, frame):
            self.stop_signal = signum  # acted on at the end of the step: never mid-update
            # A second Ctrl-C is a user who will not wait for that checkpoint: it goes to the handler from before
            # the run. A second SIGTERM is not: a scheduler and a launcher forwarding its signal both send one.
            if signum == signal.SIGINT:
                signal.signal(signum, self._old_handlers.get(signum, signal.default_int_handler))

        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._old_handlers[sig] = signal.signal(sig, ask_to_stop)
            except ValueError:  # not the main thread (e.g. inside a test runner thread)
                pass

    def _release_signals(self) -> None:
        for sig, handler in self._old_handlers.items():
            signal.signal(sig, handler)

    def agreed_stop(self) -> int | None:
        """The signal that stops the run, agreed by every process at the same step boundary.

        A signal reaches one process (a scheduler's SIGTERM to one rank, Ctrl-C on one node); if that
        process alone stopped to checkpoint, the others would wait for it in their next collective
        forever. So all processes compare flags after every step and stop together.
        """
        if self.accelerator.num_processes == 1:
            return self.stop_signal
        import torch.distributed as dist

        flag = torch.tensor([self.stop_signal or 0], dtype=torch.int64)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX, group=self._flags)
        return int(flag) or None

    def save_or_stop(self, checkpoint, bar=None) -> None:
        """Checkpoint when due; after SIGINT/SIGTERM, checkpoint, say how to resume, and stop."""
        agreed = self.agreed_stop()
        if agreed is not None and self.stop_signal is None:  # another process was signalled
            self.stop_signal = agreed
        stopping = agreed is not None
        if self.due(self.cfg.run.checkpoint_every) or stopping:
            self.settle_guard()  # a run that diverged stops before it writes a checkpoint
            checkpoint()
        if stopping:
            if bar is not None:
                bar.close()
            self.accelerator.print(
                f"\nstopped by signal {self.stop_signal} at step {self.step}; checkpoint {self.last_checkpoint}; "
                f"resume with: {command('gan', 'train', '--resume', self.run.path)}"
            )
            raise Stopped(self.run.path, self.stop_signal)

    def stop_for_unreadable_data(self, error: Exception, checkpoint, *, untouched: bool) -> None:
        """A data file that fails mid-run (streamed folders are read as they go) stops the run, keeping its steps.

        When the failing step had changed nothing yet (``untouched``: no batch of it taken), the steps done
        so far are checkpointed first. Not under several processes: a checkpoint needs them all, and the
        others are not failing.
        """
        if untouched and self.accelerator.num_processes == 1 and self.step > 0 and self.saved_at != self.step:
            self.settle_guard()
            checkpoint()
        last = self.last_checkpoint or self.run.latest_checkpoint()
        where = f"the last checkpoint is {last}" if last else "no checkpoint was written yet"
        raise type(error)(
            f"{error} (at step {self.step + 1}); {where}; fix or remove the file, then: "
            f"{command('gan', 'train', '--resume', self.run.path)}"
        ) from None
