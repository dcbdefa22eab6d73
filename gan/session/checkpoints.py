"""Checkpoints: written by every process, committed complete or not at all, and loaded back at a resume.

The folder layout and the commit order (stage, marker last, rename, then ``latest``) are
``gan/runs/folder.py``'s; this module decides what goes in (accelerate's state, the loop's extras,
trainer.json's counters) and which checkpoint a resume loads.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path

import torch

from ..loop_registry import loop as registered
from ..runs.folder import RunError, Unloadable, atomic_save_tensors, load_state, on_write_failure, remove, write_failure
from ..runs.resume import describe, record
from ..words import command
from .optim import reapply_settings, settings


def check_trainer(trainer, path: Path, *, needed: tuple[str, ...]) -> None:
    """trainer.json is a mapping whose counters (the ones the loop reads among them) are non-negative integers."""
    if not isinstance(trainer, dict):
        raise RunError(
            f"{path}: expected a mapping of counters such as {{\"step\": 1000}}, got {type(trainer).__name__}"
        )
    missing = [k for k in needed if k not in trainer]
    if missing:
        raise RunError(f"{path}: missing {', '.join(missing)}; the checkpoint is incomplete or from another loop")
    for key in (*needed, "skipped", "world_size"):
        value = trainer.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise RunError(f"{path}: {key} must be an integer >= 0, got {value!r}")


class Checkpoints:
    """The session's checkpoints; expects ``self.accelerator``, ``self.cfg``, ``self.run``, ``self.step``,
    ``self.guard``, ``self.changes``, ``self._flags``, and keeps ``self.last_checkpoint`` and ``self.saved_at``."""

    def save(self, extra: dict[str, dict[str, torch.Tensor]], trainer: dict, export) -> Path:
        """Write a complete checkpoint (all processes call this), then export networks."""
        acc = self.accelerator
        staging = self.run.staging(self.step)
        failure = None
        try:
            if self.is_main:
                remove(staging)  # a killed save's leftovers, or anything else at the name: never followed
                staging.mkdir(parents=True)
            acc.wait_for_everyone()
            acc.save_state(str(staging), safe_serialization=True)
            self.check_every_rank_saved(staging)
            if self.is_main:
                for name, tensors in extra.items():
                    atomic_save_tensors(tensors, staging / f"{name}.safetensors")
                state = dict(trainer, step=self.step, skipped=self.skipped, world_size=acc.num_processes)
                self.last_checkpoint = self.run.commit_checkpoint(
                    staging, self.step, state, self.cfg.run.keep_checkpoints
                )
                export()
        except Exception as error:  # a full disk, a lost mount: the last complete checkpoint is untouched
            cause = write_failure(error)
            if cause is None:
                raise
            failure = f"{cause}: {error.filename}" if getattr(error, "filename", None) else f"{cause}: {staging}"
        if (
            acc.num_processes > 1
        ):  # every process learns whether any failed (a barrier too): none waits for one that stopped
            from accelerate.utils import gather_object

            failure = next((f for f in gather_object([failure]) if f), None)
        if failure:
            if self.is_main:
                remove(staging)
            last = self.run.latest_checkpoint()
            where = f"the last complete checkpoint is {last}" if last else "no complete checkpoint was written yet"
            raise RunError(
                f"cannot save step {self.step} in {self.run.path} ({failure}); {where}; free some space, then: "
                f"{command('gan', 'train', '--resume', self.run.path)}"
            )
        self.saved_at = self.step
        return self.last_checkpoint or staging

    @contextmanager
    def writing(self, path: Path):
        """A file the run writes between checkpoints (a sample grid, held-out scores, samples): a full or read-only
        disk stops the run in one line naming the file and the checkpoint that ``--resume`` continues from."""

        def refusal(cause: str) -> RunError:
            last = self.last_checkpoint or self.run.latest_checkpoint()
            where = f"the last complete checkpoint is {last}" if last else "no complete checkpoint was written yet"
            then = (
                command("gan", "train", "--resume", self.run.path) if last else "start the run again with --overwrite"
            )
            return RunError(f"cannot write {path} ({cause}); {where}; free some space, then: {then}")

        with on_write_failure(refusal):
            yield

    def check_every_rank_saved(self, staging: Path) -> None:
        """A checkpoint is complete only with every process's random state in it: wait for all of them,
        then look (every process, on its own view of the folder), and agree before it is sealed."""
        acc = self.accelerator
        if acc.num_processes == 1:
            return
        import torch.distributed as dist

        acc.wait_for_everyone()
        missing = [
            f"random_states_{i}.pkl"
            for i in range(acc.num_processes)
            if not (staging / f"random_states_{i}.pkl").is_file()
        ]
        flag = torch.tensor([len(missing)], dtype=torch.int64)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX, group=self._flags)
        if int(flag):
            lacking = ", ".join(missing) or "files of another process"
            raise RunError(
                f"checkpoint {staging} lacks {lacking} as seen from process "
                f"{acc.process_index}: every process must write into the same folder (run.output on a file system all "
                "nodes share); it is not marked complete, and latest still names the last complete checkpoint"
            )

    def restore(self, extra: dict[str, object]) -> dict:
        """Load the newest complete checkpoint that loads into the prepared objects; returns trainer.json.

        ``latest`` names it; when the pointer is lost or its checkpoint does not load (a bad disk, a
        file damaged since), the newest complete checkpoint that loads is used instead, and said so.
        """
        candidates = self.run.checkpoints_to_try()
        if not candidates:
            raise RunError(
                f"run {str(self.run.path)!r} has no complete checkpoint to resume from; start it again with --overwrite"
            )
        _, pointer_problem = self.run.pointed_checkpoint()
        failures = [pointer_problem] if pointer_problem else []
        for folder in candidates:
            try:
                trainer, problem = self._load_checkpoint(folder, extra), None
            except Unloadable as error:
                problem = str(error)
            if (
                self.accelerator.num_processes > 1
            ):  # one rank's damaged file moves every rank on: all resume from one step
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
            self.accelerator.print(
                f"resuming from {folder.name}, the newest complete checkpoint that loads: {'; '.join(failures)}"
            )
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
            self.accelerator.print(
                f"nothing to train: run.steps is {self.cfg.run.steps}; to train on, pass --set run.steps=N with N > "
                f"{self.step}"
            )
        return trainer

    def _load_checkpoint(self, folder: Path, extra: dict[str, object]) -> dict:
        """Load one checkpoint; Unloadable when its files are damaged, RunError when it cannot fit this run."""
        try:
            trainer = json.loads((folder / "trainer.json").read_text())
        except (
            OSError,
            ValueError,
        ) as error:  # unreadable, or not JSON (JSONDecodeError and UnicodeDecodeError are ValueErrors)
            raise Unloadable(f"{folder / 'trainer.json'}: unreadable ({error})") from None
        try:
            check_trainer(trainer, folder / "trainer.json", needed=("step", *registered(self.cfg.loop).counters))
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
            raise Unloadable(
                f"checkpoint file {rng_file} cannot be loaded safely ({type(error).__name__}: {str(error)[:200]})"
            ) from None
        for i, model in enumerate(self.prepared_models):  # a clear message for another architecture
            load_state(self.accelerator.unwrap_model(model), folder / f"model{'' if i == 0 else f'_{i}'}.safetensors")
        fresh = settings(self.prepared_optimizers)
        try:
            self.accelerator.load_state(str(folder))
        except Exception as error:  # accelerate raises many kinds; the user needs the file and the reason
            raise Unloadable(
                f"checkpoint {folder} cannot be loaded ({type(error).__name__}: {str(error)[:300]})"
            ) from None
        reapply_settings(self.prepared_optimizers, fresh)
        for name, target in extra.items():
            load_state(target, folder / f"{name}.safetensors")
        return trainer
