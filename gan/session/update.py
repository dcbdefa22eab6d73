"""The one update path every loop takes: unscale, clip, guard, step, zero.

Each loop writes its losses and its backward passes; what follows them is the same for every
role of every loop, so it is written once, here, and the NaN guard (``guard.py``) sees the same
numbers whichever loop called.
"""

from __future__ import annotations

import torch

from ..words import command
from .guard import Diverged


class Updates:
    """The session's updates; expects ``self.accelerator``, ``self.cfg``, ``self.guard``, ``self.step``,
    ``self.run`` and ``self.last_checkpoint``."""

    def guarded_step(self, role: str, optimizer, loss: torch.Tensor, grad_norm: torch.Tensor) -> None:
        """Step ``optimizer`` unless the loss or the gradient norm is non-finite (see ``guard.py``)."""
        self.guard.step(role, optimizer, loss, grad_norm, step=self.step + 1)

    def update(self, role: str, loss: torch.Tensor, params, optimizer) -> torch.Tensor | None:
        """Unscale, clip, guard, step and zero once the last micro-batch is in; returns the gradient norm.

        Every loop updates through here, so the norm a run logs and the guard's verdict mean the same in
        each. Under fp16 the norm is that of the true gradients (unscaled first), and an overflow is the
        grad scaler's to absorb: it skips that step and lowers its scale, where the guard would count a bad
        update and keep the scale from ever shrinking; the guard then watches the loss only.
        """
        if not self.accelerator.sync_gradients:
            return None
        scaler = optimizer.scaler  # accelerate's grad scaler under fp16, else None
        if scaler is not None:
            scaler.unscale_(optimizer.optimizer)  # once per step, what accelerator.clip_grad_norm_ would do
        clip = self.cfg.objective.clip_grad_norm
        if clip:
            norm = torch.nn.utils.clip_grad_norm_(params, clip)
        else:
            norm = torch.nn.utils.get_total_norm([p.grad for p in params if p.grad is not None])
        watched = norm if scaler is None else torch.zeros_like(norm)
        # accelerate's optimizer wrapper probes for an optional package (importlib) in step() and reads a
        # signature in zero_grad() on every call; without a grad scaler it adds nothing else here.
        self.guarded_step(role, optimizer.optimizer if scaler is None else optimizer, loss, watched)
        optimizer.optimizer.zero_grad(set_to_none=True)
        return norm

    @property
    def skipped(self) -> int:
        """Updates skipped as non-finite, as of the last ``settle_guard``."""
        return self.guard.skipped

    def settle_guard(self) -> int:
        """Read the guard's counts back; stop the run if a role's updates were non-finite too often in a row."""
        over = self.guard.settle()
        if over is not None:
            role, step = over
            last = self.last_checkpoint or self.run.latest_checkpoint()
            where = f"the last good checkpoint is {last}" if last else "no checkpoint was written yet"
            then = (
                command('gan', 'train', '--resume', self.run.path)
                if last
                else "start the run again with --overwrite (there is nothing to resume)"
            )
            raise Diverged(
                f"role {role!r}: non-finite loss or gradient at step {step}, {self.cfg.run.max_bad_steps + 1} "
                f"update(s) in a row (run.max_bad_steps = {self.cfg.run.max_bad_steps}); "
                f"weights were not updated with them; {where}. "
                f"Lower the learning rate or add a penalty, then: {then}"
            )
        return self.guard.skipped
