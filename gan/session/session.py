"""One training run's state: the Accelerator, the run folder, the step, and how the run ends.

``Session`` holds what every loop shares and composes the concerns that act on it, one module each:
``checkpoints.py`` (save, restore), ``stops.py`` (signals, unreadable data), ``update.py`` (the one
update path and its NaN guard), ``logs.py`` (TensorBoard) and ``processes.py`` (what several
processes agree on). The process itself is started by ``accelerator.py``; a run is set up, top to
bottom, by ``gan/loops/setup.py``. One process on a CPU is the smallest case of the same code path as many
processes on many GPUs.
"""

from __future__ import annotations

from pathlib import Path

from ..config import Config
from ..runs.folder import RunDir, RunError
from ..runs.resume import changes
from .accelerator import start_accelerator
from .checkpoints import Checkpoints
from .guard import UpdateGuard
from .logs import TensorBoard
from .optim import schedule
from .processes import Processes
from .progress import Clock, bar_labels, progress_bar
from .stops import Stops
from .update import Updates


def _refused(error: BaseException) -> bool:
    """A user's mistake (one line at the command line) or a request too large for memory."""
    from ..config import ConfigError
    from ..data import DataError
    from ..memory import is_out_of_memory
    from ..roles import RoleError

    return isinstance(error, (ConfigError, DataError, RoleError, RunError)) or is_out_of_memory(error)


class Session(Checkpoints, Stops, Updates, TensorBoard, Processes):
    """One training run: devices, folder, logs, checkpoints and clean stops."""

    def __init__(self, cfg: Config, *, resume: bool = False, overwrite: bool = False):
        self.cfg = cfg
        self.accelerator = start_accelerator(cfg)
        self.is_main = self.accelerator.is_main_process
        self.device = self.accelerator.device
        self.run = RunDir(Path(cfg.run.output) / cfg.run.name)
        self.resume, self.overwrite = resume, overwrite
        if self.run.path.exists() and not self.run.path.is_dir():  # new or resumed: the one place this is asked
            raise RunError(
                f"run.name: {str(self.run.path)!r} is a file, not a run folder; choose another run.name or run.output"
            )
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
        self.guard = UpdateGuard(cfg.run.max_bad_steps, self.device, distributed=self.accelerator.num_processes > 1)
        self._flags = self._flag_group()
        self.last_checkpoint: Path | None = None
        self.saved_at: int | None = None  # the step of the last checkpoint written or resumed from
        self.prepared_models: list = []  # what ``prepare`` gave back, in accelerate's order (processes.py)
        self.prepared_optimizers: list = []
        self.init_reports: dict[str, dict] = {}  # per network started from another run: tensors loaded and left new

    def open_folder(self) -> None:
        """Create (or reopen) the run folder: called once the loop has checked everything it can."""
        refusal = None
        if self.is_main:  # one lock per run folder, held by rank 0 for all processes
            try:
                if self.resume:
                    self.run.lock.acquire()
                    if not self.run.marker.is_file() and self.run.complete_checkpoints():  # a run from before markers
                        self.run.mark()
                else:
                    kept = self.run.prepare(self.cfg.to_dict(), overwrite=self.overwrite, lock=True)
                    self.created = True
                    if kept:
                        self.accelerator.print(
                            f"--overwrite: kept {len(kept)} entr{'y' if len(kept) == 1 else 'ies'} in {self.run.path} "
                            f"that no run wrote: {', '.join(kept[:5])}{' ...' if len(kept) > 5 else ''}"
                        )
            except RunError as error:
                refusal = str(error)
            except OSError as error:  # the marker of an older run could not be written: a full or read-only disk
                refusal = (
                    f"cannot write in the run folder {self.run.path} ({error.strerror or error}: {error.filename})"
                )
        self._agree(refusal)
        self.accelerator.wait_for_everyone()
        if self.is_main:
            self._logs = self.run.logs

    def __enter__(self):
        self._catch_signals()
        return self

    def __exit__(self, kind, error, trace):
        self._release_signals()
        try:
            if self._writer is not None:
                self._writer.close()
        except OSError:  # a full disk: the error that stopped the run says so; this one would hide it
            if kind is None:
                raise
        finally:
            self.run.lock.release()
            self.close_processes()
            if self.created and self.step == 0 and error is not None and _refused(error):
                # A new run that could not take its first step (a batch that does not fit in memory, a file that
                # cannot be read) leaves nothing behind: the folder holds no work, only what would mislead a resume.
                # What it did not write (a user's file kept by --overwrite) stays.
                self.run.discard()
        return False

    # -- the rhythm of a run, shared by the loops -------------------------------------
    def schedule(self, *optimizers) -> None:
        """Set each optimizer's learning rate for the coming step (run.lr_decay)."""
        schedule(self.cfg.run, self.step, *optimizers)

    def log_due(self) -> bool:
        """Whether the step about to run is a logging step (the only steps that read values back)."""
        return (self.step + 1) % self.cfg.run.log_every == 0 or self.step + 1 == self.cfg.run.steps

    def due(self, every: int) -> bool:
        """Whether a periodic job falls on the step just finished; every job also runs after the last step."""
        return self.step % every == 0 or self.step == self.cfg.run.steps

    def train(self, loop) -> None:
        """The rhythm every loop shares, written once: step until ``run.steps``; after each step log, run the jobs
        that fall due (sample grids, scores), checkpoint when due or stop on a signal; a data file that cannot be
        read stops the run with the steps done kept. Then the loop's ``finish``.

        A loop supplies ``batches`` (with a ``position``), ``update(log) -> (stats, examples)``,
        ``jobs() -> [(every, job)]``, ``checkpoint()`` and ``finish()``.
        """
        from ..data import DataError

        bar, clock = progress_bar(self), Clock()
        while self.step < self.cfg.run.steps:
            taken = loop.batches.position
            try:
                self.one_step(loop, clock, bar)
            except DataError as error:  # a streamed file that cannot be read
                bar.close()
                self.stop_for_unreadable_data(error, loop.checkpoint, untouched=loop.batches.position == taken)
        bar.close()
        loop.finish()

    def one_step(self, loop, clock: Clock, bar=None) -> None:
        """One update of ``loop`` and whatever falls due after it (the speed benchmark times this too)."""
        stats, examples = loop.update(self.log_due())
        self.end_step(stats, examples, clock, bar)
        for every, job in loop.jobs():
            if every and self.due(every):
                job()
        self.save_or_stop(loop.checkpoint, bar)

    def end_step(self, stats: dict, examples: int, clock: Clock, bar=None) -> None:
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
