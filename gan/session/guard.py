"""The NaN guard: an update whose loss or gradient norm is not finite is skipped, and a run that keeps
producing them stops, without reading a value back from a GPU at every update.

A NaN that reaches the weights ruins the run and, at the next checkpoint, the saved copy too, so
every update is checked. Checked on the host (``if torch.isfinite(loss): step()``), the CPU waits
for the GPU to finish the backward pass, twice a training step, and the GPU then idles while the
next kernels are queued. Fused optimizers take the verdict as a tensor instead: with ``found_inf``
set to 1 their kernel leaves the weights and the optimizer's state exactly as they were (the
protocol ``torch.amp.GradScaler`` uses). The verdicts stay on the device and are read back, all at
once, where they are reported: at logging steps, before a checkpoint, and every ``READ_EVERY``
updates. A run that diverges is therefore stopped there rather than at the update itself; the bad
updates never touched its weights either way.

On a CPU a read costs nothing (every op has finished when its call returns) and the device-side
skip costs a little (fused Adam then undoes each parameter's step count with one more op, which
shows on short steps such as the ring MLP's; BENCHMARKS.md), so there the verdict is read at
once. So it is for optimizers without a fused kernel (foreach and per-tensor implementations,
RMSprop) and under fp16, where the optimizer handed over is accelerate's grad-scaler wrapper,
which takes no verdict tensor (the scaler's own check of the gradients needs no read with a fused
optimizer; this one still does).

Under several processes every process must take the same decision, or their weights part: the
gradients are averaged, so their norm agrees, but each process has its own loss. The verdict is
therefore the maximum over processes (one all-reduce of one number, on the device: no read).
"""

from __future__ import annotations

import torch


class Diverged(RuntimeError):
    """Training produced non-finite values too many times in a row."""


class UpdateGuard:
    """Steps optimizers only on finite updates; counts skipped updates and streaks of them per role.

    >>> guard = UpdateGuard(max_bad_steps=2, device=torch.device("cpu"))
    >>> w = torch.nn.Parameter(torch.ones(2)); opt = torch.optim.Adam([w], fused=True)
    >>> w.grad = torch.full((2,), float("nan")); guard.step("generator", opt, torch.tensor(1.0), w.grad.norm(), step=1)
    >>> w.tolist(), guard.settle(), guard.skipped
    ([1.0, 1.0], None, 1)
    """

    # verdicts kept at most before they are read back anyway: bounded memory, one read in 1000 updates
    READ_EVERY = 1000

    def __init__(self, max_bad_steps: int, device: torch.device, *, distributed: bool = False):
        self.max_bad_steps = max_bad_steps
        self.distributed = distributed  # agree on each verdict with the other processes
        self.on_device = device.type != "cpu"  # skip on the device where the optimizer can (see the module's docstring)
        self.skipped = 0  # as of the last settle(); saved in checkpoints
        self.streak: dict[str, int] = {}  # per role: the other role's good updates do not reset it
        self.over: tuple[str, int] | None = None  # (role, step) where a streak first passed max_bad_steps
        self._verdicts: list[tuple[str, int, torch.Tensor]] = []  # (role, step, non-finite?) not yet read back

    def step(self, role: str, optimizer, loss: torch.Tensor, grad_norm: torch.Tensor, *, step: int) -> None:
        """``optimizer.step()`` unless ``loss`` or ``grad_norm`` is non-finite; ``step`` names the update in a
        message."""
        bad = ~torch.isfinite(loss.detach().float() + grad_norm.float())
        if self.distributed:
            import torch.distributed as dist

            verdict = bad.float().reshape(1)
            dist.all_reduce(verdict, op=dist.ReduceOp.MAX)
            bad = verdict[0] > 0
        if self.on_device and getattr(optimizer, "_step_supports_amp_scaling", False):  # fused: the verdict as a tensor
            self._verdicts.append((role, step, bad))
            optimizer.grad_scale, optimizer.found_inf = None, bad.float()
            try:
                optimizer.step()
            finally:
                del optimizer.grad_scale, optimizer.found_inf
            if len(self._verdicts) >= self.READ_EVERY:
                self.settle()
        else:  # read at once
            skip = bool(bad)
            self._count(role, step, skip)
            if not skip:
                optimizer.step()

    def settle(self) -> tuple[str, int] | None:
        """Read the kept verdicts back (one host read) and count them; (role, step) once a streak passed
        ``max_bad_steps``."""
        if self._verdicts:
            bad = torch.stack([v for _, _, v in self._verdicts]).tolist()
            for (role, step, _), skip in zip(self._verdicts, bad):
                self._count(role, step, skip)
            self._verdicts.clear()
        return self.over

    def _count(self, role: str, step: int, skip: bool) -> None:
        self.skipped += skip
        self.streak[role] = self.streak.get(role, 0) + 1 if skip else 0
        if self.streak[role] > self.max_bad_steps and self.over is None:
            self.over = (role, step)
