"""What every loop shares: the Accelerator, the run folder, TensorBoard, checkpoints, signals.

A loop builds its networks and optimisers, hands them to ``Session.prepare``, and then
only writes its step. One process on a CPU is the smallest case of the same code path
as many processes on many GPUs.
"""

from __future__ import annotations

import json
import math
import signal
import time
import warnings
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState, GradientState
from accelerate.utils import set_seed

from networks import Network, build

from ..config import Config, Optimizer
from ..data.mixtures import is_mixture
from ..device import check_precision, emulated_bf16, keep_freed_memory, on_cpu
from ..resume import changes, describe, record
from ..runs import RunDir, RunError, Unloadable, atomic_save_tensors, check_network_name, load_state
from .guard import Diverged, UpdateGuard


class Stopped(Exception):
    """SIGINT/SIGTERM arrived; a checkpoint was written. ``signal`` is the number that stopped the run."""

    def __init__(self, path, signal: int):
        super().__init__(path)
        self.signal = signal


FUSED = ("adam", "adamw", "sgd")  # torch.optim classes with fused CPU and CUDA kernels
OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD, "rmsprop": torch.optim.RMSprop}


def make_optimizer(params, opt: Optimizer) -> torch.optim.Optimizer:
    cls = OPTIMIZERS[opt.name]
    kwargs: dict = {"lr": opt.lr, "weight_decay": opt.weight_decay}
    if opt.name in ("adam", "adamw"):
        kwargs["betas"] = opt.betas
    elif opt.name in ("sgd", "rmsprop"):
        kwargs["momentum"] = opt.betas[0]
    # auto: PyTorch's fused kernels where the optimizer has them (one kernel per step instead of
    # several per tensor, which counts on short steps; BENCHMARKS.md), its own default elsewhere.
    if opt.implementation == "fused" or (opt.implementation == "auto" and opt.name in FUSED):
        kwargs["fused"] = True
    elif opt.implementation == "foreach":
        kwargs["foreach"] = True
    elif opt.implementation == "for_loop":
        kwargs["foreach"] = False
    return cls(params, **kwargs)


# The scalars a progress bar shows, by their name after the role, and how it words them.
_ON_THE_BAR = {"loss": "loss", "on_real": "real", "on_generated": "generated", "accuracy": "accuracy"}


def bar_labels(stats: dict[str, float]) -> dict[str, str]:
    """The few numbers of a logging step worth a glance, under short readable names.

    >>> bar_labels({"discriminator/on_real": 0.514, "generator/loss": 0.7, "generator/lr": 2e-4})
    {'D real': '0.514', 'G loss': '0.7'}
    """
    shown = {}
    for key, value in stats.items():
        role, _, name = key.partition("/")
        if name in _ON_THE_BAR:
            shown[f"{role[:1].upper()} {_ON_THE_BAR[name]}"] = f"{value:.3g}"
    return shown
def check_trainer(trainer, path: Path, *, needed: tuple[str, ...]) -> None:
    """trainer.json is a mapping whose counters (the ones the loop reads among them) are non-negative integers."""
    if not isinstance(trainer, dict):
        raise RunError(f"{path}: expected a mapping of counters such as {{\"step\": 1000}}, got {type(trainer).__name__}")
    missing = [k for k in needed if k not in trainer]
    if missing:
        raise RunError(f"{path}: missing {', '.join(missing)}; the checkpoint is incomplete or from another loop")
    for key in (*needed, "skipped", "world_size"):
        value = trainer.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise RunError(f"{path}: {key} must be an integer >= 0, got {value!r}")


TORCH_THREADS = torch.get_num_threads()  # PyTorch's own choice (one per core, or OMP_NUM_THREADS), before any run changes it


def host_threads(cfg: Config) -> int:
    """``run.threads`` resolved (see its comment in config.py): one for toy mixtures, PyTorch's choice otherwise."""
    if cfg.run.threads != "auto":
        return cfg.run.threads
    return 1 if is_mixture(cfg.data.name) else TORCH_THREADS


def _refused(error: BaseException) -> bool:
    """A user's mistake (one line at the command line) or a request too large for memory."""
    from ..config import ConfigError
    from ..data import DataError
    from ..memory import is_out_of_memory
    from ..roles import RoleError

    return isinstance(error, (ConfigError, DataError, RoleError, RunError)) or is_out_of_memory(error)


class Session:
    """One training run: devices, folder, logs, checkpoints and clean stops."""

    def __init__(self, cfg: Config, *, resume: bool = False, overwrite: bool = False):
        self.cfg = cfg
        run = cfg.run
        check_precision(run)
        # A second run in one process (a notebook, the tests) may ask for another precision;
        # accelerate keeps its state in singletons, so start them afresh (the process group stays).
        AcceleratorState._reset_state()
        GradientState._reset_state()
        self.accelerator = Accelerator(
            cpu=on_cpu(run),
            mixed_precision=run.mixed_precision,
            gradient_accumulation_steps=run.grad_accum,
        )
        self.is_main = self.accelerator.is_main_process
        self.device = self.accelerator.device
        slow = emulated_bf16(run)
        if slow:
            warnings.warn(slow, stacklevel=2)
        set_seed(run.seed, device_specific=True)  # each process draws its own noise
        # Idle OpenMP threads spin waiting for work; beside another busy process they take its cores (the
        # wait policy is read once, when OpenMP starts, so the number of threads is what a run can set).
        torch.set_num_threads(host_threads(cfg))
        if run.cudnn_benchmark and torch.backends.cudnn.is_available():
            torch.backends.cudnn.benchmark = True
        if run.keep_freed_memory:  # process-wide, and only ever turned on: a later run cannot undo it
            keep_freed_memory()
        self.run = RunDir(Path(run.output) / run.name)
        self.resume, self.overwrite = resume, overwrite
        if self.run.path.exists() and not self.run.path.is_dir():
            raise RunError(f"run.name: {str(self.run.path)!r} is a file, not a run folder; choose another run.name or run.output")
        if resume and not self.run.path.is_dir():
            raise RunError(f"--resume {self.run.path}: no such run folder")
        # Refused before anything is written: a change that a resume cannot honour (the data order).
        self.changes = changes(self.run.config, cfg) if resume and self.run.config.is_file() else []
        # Rank 0 looks (a run in the way, a folder that is not a run, another trainer's lock) before any
        # process creates the folder, and every process stops with its verdict: none waits for one that left.
        refusal = None
        if self.is_main:
            try:
                if not resume:
                    self.run.check_new(overwrite=overwrite)
                elif self.run.lock.holder():
                    raise RunError(self.run.lock.holder())
            except RunError as error:
                refusal = str(error)
        self._agree(refusal)
        self._writer, self._logs = None, None  # TensorBoard, on the main process once the folder is open
        self.created = False  # this session made the run folder (a new run)
        self.stop_signal: int | None = None
        self._old_handlers = {}
        self.step = 0
        self.guard = UpdateGuard(run.max_bad_steps, self.device, distributed=self.accelerator.num_processes > 1)
        self._flags = self._flag_group()
        self.last_checkpoint: Path | None = None
        self.saved_at: int | None = None  # the step of the last checkpoint written or resumed from

    def _agree(self, refusal: str | None) -> None:
        """Raise rank 0's refusal on every process (a barrier too), so that no process waits for one that stopped."""
        if self.accelerator.num_processes > 1:
            from accelerate.utils import broadcast_object_list

            refusal = broadcast_object_list([refusal])[0]
        if refusal:
            raise RunError(refusal)

    # -- building ---------------------------------------------------------------------
    def build_networks(self) -> dict[str, Network]:
        nets = {}
        for name, spec in self.cfg.networks.items():
            spec = dict(spec)
            init = spec.pop("init", None)
            freeze = spec.pop("freeze_body", False)
            try:
                net = build(spec)
            except (ValueError, TypeError) as error:
                raise RunError(f"networks.{name}: {error}") from None
            if init is not None and not self.resume:  # a resumed run's weights come from its checkpoint
                self.initialise_from(name, net, init)
            if freeze:
                net.body.requires_grad_(False)
            nets[name] = net
        return nets

    def initialise_from(self, name: str, net: Network, init) -> None:
        """Start from another run's weights; the body always, the head where it fits."""
        if not isinstance(init, dict) or set(init) - {"run", "network", "ema"} or "run" not in init or "network" not in init:
            raise RunError(f"networks.{name}.init: expected {{run: RUN_FOLDER, network: NAME}}, got {init!r}")
        source = RunDir(Path(str(init["run"])).resolve())  # named absolute: a relative path depends on where gan runs
        if not source.path.is_dir():
            raise RunError(f"networks.{name}.init: run folder {str(init['run'])!r} not found (looked in {source.path})")
        check_network_name(init["network"], f"networks.{name}.init.network")
        path = source.networks / f"{init['network']}{'.ema' if init.get('ema') else ''}.safetensors"
        if not (source.networks / f"{init['network']}.json").is_file():
            have = ", ".join(source.network_names()) or "none"
            raise RunError(f"networks.{name}.init: run {str(source.path)!r} has no network {init['network']!r}; networks in it: {have}")
        loaded, fresh = load_state(net, path, strict=False)
        if not any(k.startswith("body.") for k in loaded):
            raise RunError(f"networks.{name}.init: no body tensor of {path} fits {net.extra_repr()}; the architectures differ")
        self.accelerator.print(f"networks.{name}: loaded {len(loaded)} tensors from {path}; new: {', '.join(fresh) or 'none'}")
        self.init_report = {"loaded": loaded, "new": fresh}

    def open_folder(self) -> None:
        """Create (or reopen) the run folder: called once the loop has checked everything it can."""
        refusal = None
        if self.is_main:  # one lock per run folder, held by rank 0 for all processes
            try:
                if self.resume:
                    self.run.lock.acquire()
                else:
                    self.run.prepare(self.cfg.to_dict(), overwrite=self.overwrite, lock=True)
                    self.created = True
            except RunError as error:
                refusal = str(error)
        self._agree(refusal)
        self.accelerator.wait_for_everyone()
        if self.is_main:
            self._logs = self.run.logs

    @property
    def writer(self):
        """TensorBoard's writer, made at its first use: a resume refused while loading its checkpoint writes no event file."""
        if self._writer is None and self._logs is not None:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(str(self._logs))
        return self._writer

    def prepare(self, *objects):
        prepared = self.accelerator.prepare(*objects)
        for ddp in prepared if isinstance(prepared, tuple) else (prepared,):
            if isinstance(ddp, torch.nn.parallel.DistributedDataParallel):
                # Two networks stepped alternately: broadcasting batch-norm / spectral-norm buffers from
                # rank 0 at every forward would overwrite tensors that a pending backward needs. Set on the
                # wrapper, not through accelerate: its handler still passes ``broadcast_buffers``, which
                # torch deprecates (a warning per process); the buffers are still synced once, at wrapping.
                setattr(ddp, "forward_sync_buffers" if hasattr(ddp, "forward_sync_buffers") else "broadcast_buffers", False)
        return prepared

    def schedule(self, *optimizers: torch.optim.Optimizer) -> None:
        """Set each optimizer's learning rate for the coming step (run.lr_decay)."""
        kind = self.cfg.run.lr_decay
        if kind == "none":
            return
        t = self.step / self.cfg.run.steps
        factor = 1.0 - t if kind == "linear" else 0.5 * (1.0 + math.cos(math.pi * t))
        for opt in optimizers:
            for group in opt.param_groups:
                group.setdefault("initial_lr", group["lr"])
                group["lr"] = group["initial_lr"] * factor

    # -- signals ----------------------------------------------------------------------
    def __enter__(self):
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
        return self

    def __exit__(self, kind, error, trace):
        for sig, handler in self._old_handlers.items():
            signal.signal(sig, handler)
        try:
            if self._writer is not None:
                self._writer.close()
        except OSError:  # a full disk: the error that stopped the run says so; this one would hide it
            if kind is None:
                raise
        finally:
            self.run.lock.release()
            if self.created and self.step == 0 and error is not None and _refused(error):
                # A new run that could not take its first step (a batch that does not fit in memory, a file that
                # cannot be read) leaves nothing behind: the folder holds no work, only what would mislead a resume.
                import shutil

                shutil.rmtree(self.run.path, ignore_errors=True)
        return False

    # -- divergence guard -------------------------------------------------------------
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
            raise Diverged(
                f"role {role!r}: non-finite loss or gradient at step {step}, {self.cfg.run.max_bad_steps + 1} update(s) in a row "
                f"(run.max_bad_steps = {self.cfg.run.max_bad_steps}); weights were not updated with them; {where}. "
                f"Lower the learning rate or add a penalty, then: gan train --resume {self.run.path}"
            )
        return self.guard.skipped

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
        raise type(error)(f"{error} (at step {self.step + 1}); {where}; fix or remove the file, then: gan train --resume {self.run.path}") from None

    def sync_buffers(self, *modules: torch.nn.Module) -> None:
        """Give every process rank 0's buffers (batch-norm statistics, spectral-norm vectors).

        DDP runs with ``broadcast_buffers=False`` (see __init__), so each process keeps the
        statistics of its own batches; before saving, all processes adopt one copy.
        """
        if self.accelerator.num_processes == 1:
            return
        import torch.distributed as dist

        for module in modules:
            for buffer in module.buffers():
                dist.broadcast(buffer.data, src=0)

    # -- the rhythm of a run, shared by the loops -------------------------------------
    def log_due(self) -> bool:
        """Whether the step about to run is a logging step (the only steps that read values back)."""
        return (self.step + 1) % self.cfg.run.log_every == 0 or self.step + 1 == self.cfg.run.steps

    def due(self, every: int) -> bool:
        """Whether a periodic job falls on the step just finished; every job also runs after the last step."""
        return self.step % every == 0 or self.step == self.cfg.run.steps

    def end_step(self, stats: dict, examples: int, clock: "Clock", bar=None) -> None:
        """Count the step; on logging steps write the scalars and refresh the progress bar."""
        self.step += 1
        clock.tick(examples)
        if bar is not None:
            bar.update(1)
        if stats:
            stats["speed/examples_per_second"] = clock.rate()
            stats["guard/skipped_updates"] = self.settle_guard()
            self.log(stats)
            if bar is not None:
                bar.set_postfix(bar_labels(stats))

    def _flag_group(self):
        """A process group on the host for the stop decision, so that agreeing on it never waits for a GPU
        (None: one process, or the training group already runs on the host)."""
        if self.accelerator.num_processes == 1:
            return None
        import torch.distributed as dist

        return None if "gloo" in dist.get_backend() else dist.new_group(backend="gloo")

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
            self.accelerator.print(f"\nstopped by signal {self.stop_signal} at step {self.step}; checkpoint {self.last_checkpoint}; resume with: gan train --resume {self.run.path}")
            raise Stopped(self.run.path, self.stop_signal)

    # -- checkpoints ------------------------------------------------------------------
    def save(self, extra: dict[str, dict[str, torch.Tensor]], trainer: dict, export) -> Path:
        """Write a complete checkpoint (all processes call this), then export networks."""
        import shutil

        acc = self.accelerator
        staging = self.run.staging(self.step)
        failure = None
        try:
            if self.is_main:
                shutil.rmtree(staging, ignore_errors=True)
                staging.mkdir(parents=True)
            acc.wait_for_everyone()
            acc.save_state(str(staging), safe_serialization=True)
            self.check_every_rank_saved(staging)
            if self.is_main:
                for name, tensors in extra.items():
                    atomic_save_tensors(tensors, staging / f"{name}.safetensors")
                state = dict(trainer, step=self.step, skipped=self.skipped, world_size=acc.num_processes)
                self.last_checkpoint = self.run.commit_checkpoint(staging, self.step, state, self.cfg.run.keep_checkpoints)
                export()
        except OSError as error:  # a full disk, a lost mount: the last complete checkpoint is untouched
            failure = f"{error.strerror or error}: {error.filename}" if error.filename else f"{error.strerror or error}"
        if acc.num_processes > 1:  # every process learns whether any failed (a barrier too): none waits for one that stopped
            from accelerate.utils import gather_object

            failure = next((f for f in gather_object([failure]) if f), None)
        if failure:
            if self.is_main:
                shutil.rmtree(staging, ignore_errors=True)
            last = self.run.latest_checkpoint()
            where = f"the last complete checkpoint is {last}" if last else "no complete checkpoint was written yet"
            raise RunError(f"cannot save step {self.step} in {self.run.path} ({failure}); {where}; free some space, then: gan train --resume {self.run.path}")
        self.saved_at = self.step
        return self.last_checkpoint or staging

    def check_every_rank_saved(self, staging: Path) -> None:
        """A checkpoint is complete only with every process's random state in it: wait for all of them,
        then look (every process, on its own view of the folder), and agree before it is sealed."""
        acc = self.accelerator
        if acc.num_processes == 1:
            return
        import torch.distributed as dist

        acc.wait_for_everyone()
        missing = [f"random_states_{i}.pkl" for i in range(acc.num_processes) if not (staging / f"random_states_{i}.pkl").is_file()]
        flag = torch.tensor([len(missing)], dtype=torch.int64)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX, group=self._flags)
        if int(flag):
            lacking = ", ".join(missing) or "files of another process"
            raise RunError(
                f"checkpoint {staging} lacks {lacking} as seen from process "
                f"{acc.process_index}: every process must write into the same folder (run.output on a file system all nodes share); "
                f"it is not marked complete, and latest still names the last complete checkpoint"
            )

    def reapply_optimizer_settings(self, fresh: list[list[dict]]) -> None:
        """Loading an optimizer's state brings back the learning rate, betas and weight decay it was saved with;
        the config's (as built, in ``fresh``) win, so ``--resume RUN --set optimizers.ROLE.lr=...`` takes effect.
        run.lr_decay scales from ``initial_lr``, so that is the value the config sets."""
        for opt, groups in zip(self.accelerator._optimizers, fresh):
            for group, settings in zip(opt.param_groups, groups):
                group.update(settings)
                if "initial_lr" in group:
                    group["initial_lr"] = settings["lr"]

    def restore(self, extra: dict[str, object]) -> dict:
        """Load the newest complete checkpoint that loads into the prepared objects; returns trainer.json.

        ``latest`` names it; when the pointer is lost or its checkpoint does not load (a bad disk, a
        file damaged since), the newest complete checkpoint that loads is used instead, and said so.
        """
        candidates = self.run.checkpoints_to_try()
        if not candidates:
            raise RunError(f"run {str(self.run.path)!r} has no complete checkpoint to resume from; start it again with --overwrite")
        _, pointer_problem = self.run.pointed_checkpoint()
        failures = [pointer_problem] if pointer_problem else []
        for folder in candidates:
            try:
                trainer, problem = self._load_checkpoint(folder, extra), None
            except Unloadable as error:
                problem = str(error)
            if self.accelerator.num_processes > 1:  # one rank's damaged file moves every rank on: all resume from one step
                from accelerate.utils import gather_object

                problem = next((p for p in gather_object([problem]) if p), None)
            if problem is None:
                break
            failures.append(problem)
        else:
            raise RunError(
                f"no complete checkpoint of {self.run.path} loads: {'; '.join(failures)}. "
                f"They are kept; move them out of {self.run.checkpoints} to start the run again"
            )
        if failures:
            self.accelerator.print(f"resuming from {folder.name}, the newest complete checkpoint that loads: {'; '.join(failures)}")
        self.step = int(trainer["step"])
        self.guard.skipped = int(trainer.get("skipped", 0))
        self.last_checkpoint, self.saved_at = folder, self.step
        self.accelerator.print(f"resumed {self.run.path} from {folder.name} (step {self.step})")
        if self.changes:  # recorded, so that a later plain --resume keeps them
            line = f"changed at resume: {describe(self.changes)} (recorded in {self.run.config})"
            if self.is_main:
                record(self.run.config, self.cfg)
                if self.writer is not None:
                    self.writer.add_text("config/changed_at_resume", line, self.step)
            self.accelerator.print(line)
        if self.step >= self.cfg.run.steps:  # not an error: a requeued job resumes its finished run and succeeds
            self.accelerator.print(f"nothing to train: run.steps is {self.cfg.run.steps}; to train on, pass --set run.steps=N with N > {self.step}")
        return trainer

    def _load_checkpoint(self, folder: Path, extra: dict[str, object]) -> dict:
        """Load one checkpoint; Unloadable when its files are damaged, RunError when it cannot fit this run."""
        try:
            trainer = json.loads((folder / "trainer.json").read_text())
        except (OSError, ValueError) as error:  # unreadable, or not JSON (JSONDecodeError and UnicodeDecodeError are ValueErrors)
            raise Unloadable(f"{folder / 'trainer.json'}: unreadable ({error})") from None
        try:
            check_trainer(trainer, folder / "trainer.json", needed=("step", "data_position", *(("d_updates",) if self.cfg.loop == "adversarial" else ())))
        except RunError as error:  # damaged, not another kind of run: an older checkpoint may do
            raise Unloadable(str(error)) from None
        if trainer.get("world_size", 1) != self.accelerator.num_processes:
            raise RunError(
                f"{folder} was written by {trainer.get('world_size')} process(es); resume it with as many "
                f"(this run has {self.accelerator.num_processes}) so that the data order stays the same"
            )
        # accelerate skips unreadable random states with only a log line; a resume that is
        # not exact must not pass silently, so read them first (weights_only: no code runs).
        from accelerate.utils import load as safe_load

        rng_file = folder / f"random_states_{self.accelerator.process_index}.pkl"
        try:
            safe_load(str(rng_file))
        except Exception as error:
            raise Unloadable(f"checkpoint file {rng_file} cannot be loaded safely ({type(error).__name__}: {str(error)[:200]})") from None
        for i, model in enumerate(self.accelerator._models):  # a clear message for another architecture
            load_state(self.accelerator.unwrap_model(model), folder / f"model{'' if i == 0 else f'_{i}'}.safetensors")
        fresh = [[{k: v for k, v in g.items() if k not in ("params", "initial_lr")} for g in opt.param_groups] for opt in self.accelerator._optimizers]
        try:
            self.accelerator.load_state(str(folder))
        except Exception as error:  # accelerate raises many kinds; the user needs the file and the reason
            raise Unloadable(f"checkpoint {folder} cannot be loaded ({type(error).__name__}: {str(error)[:300]})") from None
        self.reapply_optimizer_settings(fresh)
        for name, target in extra.items():
            load_state(target, folder / f"{name}.safetensors")
        return trainer

    # -- logging ----------------------------------------------------------------------
    def log(self, scalars: dict[str, float]) -> None:
        if self.writer is None:
            return
        for tag, value in scalars.items():
            if value is not None and math.isfinite(value):
                self.writer.add_scalar(tag, value, self.step)

    def log_images(self, tag: str, grid_path: Path, images: torch.Tensor) -> None:
        """Save a PNG grid of images in [0, 1] and log the same grid to TensorBoard."""
        import torchvision.utils as vutils

        nrow = max(1, int(math.sqrt(len(images))))
        grid = vutils.make_grid(images.float().cpu(), nrow=nrow, padding=2, pad_value=1.0)
        vutils.save_image(grid, str(grid_path))
        if self.writer is not None:
            self.writer.add_image(tag, grid, self.step)


class Clock:
    """Examples per second between log steps, measured on the host."""

    def __init__(self):
        self.t, self.n = time.perf_counter(), 0

    def tick(self, n: int) -> None:
        self.n += n

    def rate(self) -> float:
        now = time.perf_counter()
        rate = self.n / max(now - self.t, 1e-9)
        self.t, self.n = now, 0
        return rate
