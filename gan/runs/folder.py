"""Run folders: the resolved config, logs, sample grids, checkpoints and exported networks.

```
runs/<name>/
  config.yaml                 the config as resolved (overrides applied)
  logs/                       TensorBoard event files
  samples/step_00000500.png   grids from fixed noise
  checkpoints/step_00001000/  accelerate state (safetensors) + ema.safetensors + trainer.json
  checkpoints/latest          the name of the newest *complete* checkpoint
  networks/<name>.json        the keywords that rebuild a network (and the role it had)
  networks/<name>.safetensors (and <name>.ema.safetensors): its weights
```

Everything that outlives a crash is written under a temporary name, flushed to the disk
(fsync), and renamed into place, and the folder holding the new name is flushed too: a
kill or a power loss at any moment leaves the previous complete file, never half a file.
``.lock`` in a run folder names the trainer writing to it (PID and host) while it runs.
Loading reads only safetensors, JSON, and ``torch.load(weights_only=True)`` (inside
accelerate), so a file from elsewhere cannot run code.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shlex
import shutil
import socket
import tempfile
from contextlib import contextmanager, suppress
from pathlib import Path

import torch
import yaml
from safetensors import SafetensorError
from safetensors.torch import load_file
from safetensors.torch import save as save_tensors

from networks import Network, build

from ..config import is_plain_name
from ..yamlfile import shorten


class RunError(ValueError):
    """A run folder, checkpoint or exported network that cannot be used as asked."""


class Unloadable(RunError):
    """A file that is missing, truncated or damaged (as opposed to one that does not fit): an older checkpoint may
    do."""


def fsync_file(path: Path) -> None:
    """Flush a file's data to the disk: a rename is durable before the data it names otherwise."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """Flush a folder's entries (a rename, a new file) to the disk; a no-op where folders cannot be opened."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except (PermissionError, IsADirectoryError):  # Windows: renames there are made durable by the file system
        return
    try:
        os.fsync(fd)
    except OSError as error:
        if error.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):  # file systems that do not sync folders
            raise
    finally:
        os.close(fd)


def write_failure(error: BaseException) -> str | None:
    """Why a write failed (a full disk, a read-only file system, no permission), or None for any other error.

    Writers say it their own way: Python raises OSError; safetensors a SafetensorError that names the
    OS error; torch.save (inside accelerate's save_state) a RuntimeError from its zip writer.
    """
    if isinstance(error, OSError):
        return error.strerror or str(error) or type(error).__name__
    text = str(error)
    if isinstance(error, SafetensorError) and ("IoError" in text or "No space" in text):
        for reason in ("No space left on device", "Read-only file system", "Permission denied", "Disk quota exceeded"):
            if reason in text:
                return reason
        return "an I/O error"
    if isinstance(error, RuntimeError) and ("PytorchStreamWriter failed" in text or "file write failed" in text):
        return "the file could not be written (a full disk?)"
    return None


@contextmanager
def on_write_failure(refusal):
    """A write that fails for want of space or permission becomes the one-line error ``refusal(cause)``; any other
    error passes as it is."""
    try:
        yield
    except Exception as error:
        cause = write_failure(error)
        if cause is None:
            raise
        raise refusal(cause) from None


class NotWritten(RunError):
    """A result that was computed but could not be written; ``result`` holds it, so that it can still be shown."""

    def __init__(self, message: str, result=None):
        super().__init__(message)
        self.result = result


def _umask() -> int:
    """The process's umask, read without changing it (os.umask sets it too, racing other threads)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


@contextmanager
def replacing(path: Path):
    """Write ``path`` whole or not at all: yields a binary file to write it into.

    The bytes go to a new temporary file in the target's folder, created exclusively under a unique
    name (``tempfile.mkstemp``: O_CREAT | O_EXCL, so a file or link already there is never written
    through), flushed to the disk, and renamed over ``path``. The rename replaces a link at ``path``
    itself and never writes where it points. The temporary file is removed on every way out.
    """
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as f:
            if hasattr(os, "fchmod"):  # mkstemp makes it private (0600); the file it becomes is an ordinary one
                os.fchmod(f.fileno(), 0o666 & ~_umask())
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    with replacing(path) as f:
        f.write(data)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_save_tensors(tensors: dict[str, torch.Tensor], path: Path, metadata: dict | None = None) -> None:
    """Weights as a safetensors file, whole or not at all (serialised in memory, then written like any file)."""
    data = save_tensors({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, metadata=metadata)
    atomic_write_bytes(path, data)


@contextmanager
def exclusively(path: Path):
    """Hold an advisory lock on ``path`` (made if missing, never through a link) for a read-modify-write.

    Two ``gan evaluate`` of one run each read evaluation.json, add their scores and write it back;
    without the lock the second writer drops the first one's scores. The lock file stays: removing it
    would let a third process lock a new file while the second still holds the old one.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
    try:
        if os.name == "nt":
            import msvcrt

            msvcrt.locking(fd, msvcrt.LK_LOCK, 1)
        else:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX)  # released when the file is closed
        yield
    finally:
        os.close(fd)


def _start_time(pid: int) -> int | None:
    """When a process started (clock ticks since boot, Linux), so that a reused PID is not taken for the old owner."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def _alive(pid: int, started: int | None) -> bool:
    if os.name == "nt":  # os.kill there would end the process: assume it runs
        return True
    try:
        os.kill(pid, 0)  # signal 0: no signal, only the question whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        pass
    return started is None or _start_time(pid) in (None, started)


class RunLock:
    """One trainer per run folder: ``RUN/.lock`` holds the owner's PID and host; a dead owner's lock is taken over."""

    NAME = ".lock"

    def __init__(self, folder: Path):
        self.folder = folder
        self.path = folder / self.NAME
        self.held = False

    def holder(self) -> str | None:
        """Why the folder is in use by another trainer, in one sentence; None when it is free or its owner is gone."""
        try:
            info = json.loads(self.path.read_text())
            pid, host, started = int(info["pid"]), str(info["host"]), info.get("started")
        except (OSError, ValueError, KeyError, TypeError):  # no lock, or one that no trainer could have written
            return None
        if self.held and pid == os.getpid():
            return None
        if host == socket.gethostname():
            if not _alive(pid, started if isinstance(started, int) else None):
                return None
            return (
                f"run folder {str(self.folder)!r} is in use by another trainer (PID {pid}); "
                f"wait for it to end or stop it (kill {pid})"
            )
        return (
            f"run folder {str(self.folder)!r} is in use by another trainer (PID {pid} on host {host}); "
            f"wait for it to end, or, if no trainer runs there any more, delete {self.path}"
        )

    def acquire(self) -> None:
        """Take the lock (the folder exists); a live owner makes this a RunError naming its PID."""
        for _ in range(2):  # the second try follows a dead owner's lock removed
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)  # atomic: one of two trainers wins
            except FileExistsError:
                busy = self.holder()
                if busy:
                    raise RunError(busy) from None
                self.path.unlink(missing_ok=True)  # a dead owner's
                continue
            except OSError as error:  # a read-only or full file system
                raise RunError(
                    f"cannot take the lock {self.path} of the run folder ({error.strerror or error})"
                ) from None
            with os.fdopen(fd, "w") as f:
                json.dump({"pid": os.getpid(), "host": socket.gethostname(), "started": _start_time(os.getpid())}, f)
            self.held = True
            return
        raise RunError(
            self.holder()
            or f"run folder {str(self.folder)!r}: another trainer took its lock {self.path} at the same moment"
        )

    def release(self) -> None:
        if not self.held:
            return
        self.held = False
        try:
            if json.loads(self.path.read_text()).get("pid") == os.getpid():
                self.path.unlink()
        except (OSError, ValueError, AttributeError):  # removed with the folder, or not ours any more
            pass


def remove(path: Path, *, missing_ok: bool = True) -> None:
    """Remove a file, a link (never what it points to) or a folder with everything in it."""
    try:
        if path.is_symlink() or not path.is_dir():
            path.unlink(missing_ok=missing_ok)
        else:
            shutil.rmtree(path)
    except FileNotFoundError:
        if not missing_ok:
            raise


CONFIG_HEADER = (
    "# The config this run used, resolved: every key with the value it had, defaults included, and data.path\n"
    "# made absolute (a relative one is read from the folder gan ran in), so the run reads the same from anywhere.\n"
)
MARKER = ".gan-run"  # written into every run folder this toolkit makes: only such a folder is ever replaced
EVALUATION_LOCK = ".evaluation.lock"
# Everything a run writes into its folder (the loops, gan sample's run loop, gan evaluate). --overwrite removes
# these and nothing else: a user's file that sits in a run folder outlives the run.
RUN_ENTRIES = (
    "config.yaml",
    "logs",
    "samples",
    "checkpoints",
    "networks",
    "evaluation.json",
    "metrics.json",
    "samples.npz",
    "samples.txt",
    EVALUATION_LOCK,
    RunLock.NAME,
    MARKER,
)


class RunDir:
    """Paths inside one run folder."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.logs = self.path / "logs"
        self.samples = self.path / "samples"
        self.checkpoints = self.path / "checkpoints"
        self.networks = self.path / "networks"
        self.config = self.path / "config.yaml"
        self.marker = self.path / MARKER
        self.lock = RunLock(self.path)

    def check_new(self, *, overwrite: bool) -> bool:
        """Refuse what a new run must not replace; returns whether an old run will be replaced.

        A path that is a file is refused earlier, for new and resumed runs alike, where the session opens.
        """
        busy = self.lock.holder()
        if busy:
            raise RunError(busy)
        if not self.path.is_dir() or not any(p.name != RunLock.NAME for p in self.path.iterdir()):
            return False
        if not overwrite:
            raise RunError(
                f"run folder {str(self.path)!r} already exists; pass --resume {shlex.quote(str(self.path))} to "
                "continue it, --overwrite to replace it, or --set run.name=NEW for a new one"
            )
        if (
            not self.marker.is_file() or self.marker.is_symlink()
        ):  # --overwrite deletes runs, never a folder that merely looks like one
            raise RunError(
                f"run folder {str(self.path)!r} exists but holds no {MARKER} marker, so this toolkit did not make it "
                f"(or a version from before markers did); --overwrite leaves it as it is: choose another run.name or "
                f"run.output, or delete the folder yourself"
            )
        return True

    def remove_run_files(self) -> list[str]:
        """Remove what a run wrote here (``RUN_ENTRIES``), never following a link; returns the names of what is left."""
        for name in RUN_ENTRIES:
            remove(self.path / name)
        return sorted(p.name + ("/" if p.is_dir() and not p.is_symlink() else "") for p in self.path.iterdir())

    def mark(self) -> None:
        """Write the marker that says this toolkit made the folder: only marked folders are replaced by --overwrite."""
        import time
        import uuid

        atomic_write_text(
            self.marker,
            json.dumps(
                {"made_by": "gan-toolkit", "run": uuid.uuid4().hex, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")},
                indent=1,
            ),
        )

    def prepare(self, config: dict, *, overwrite: bool, lock: bool = False) -> list[str]:
        """Create the folder for a new run (and take its lock); an existing run is kept unless ``overwrite``.

        Returns the names of entries that a replaced run folder held and no run wrote: they are kept.
        """
        kept = []
        try:
            if self.check_new(overwrite=overwrite):
                kept = self.remove_run_files()
            self.path.mkdir(parents=True, exist_ok=True)
            if lock:
                self.lock.acquire()
            self.mark()
            for folder in (self.logs, self.samples, self.checkpoints, self.networks):
                folder.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.config, CONFIG_HEADER + yaml.safe_dump(config, sort_keys=False))
        except OSError as error:  # a file in the way, no permission, a full disk
            raise RunError(
                f"run.output: cannot create the run folder {str(self.path)!r} ({error.strerror or error}: "
                f"{error.filename})"
            ) from None
        return kept

    def discard(self) -> None:
        """Undo a new run that never took a step: remove what it wrote, and the folder if nothing else is in it."""
        try:
            if not self.remove_run_files():
                self.path.rmdir()
        except OSError:  # already gone, or not ours to remove any more
            pass

    # -- checkpoints -----------------------------------------------------------------
    def complete_checkpoints(self) -> list[Path]:
        """Checkpoints sealed by their trainer.json, newest first."""
        return sorted((p for p in self.checkpoints.glob("step_*") if (p / "trainer.json").is_file()), reverse=True)

    def pointed_checkpoint(self) -> tuple[Path | None, str | None]:
        """The checkpoint ``latest`` names if it is complete, else None and what is wrong with the pointer."""
        pointer = self.checkpoints / "latest"
        if not pointer.is_file():
            return None, f"{pointer} is missing"
        name = pointer.read_text().strip()
        folder = self.checkpoints / name
        if not name.startswith("step_") or "/" in name or not (folder / "trainer.json").is_file():
            return None, f"{pointer} names {name!r}, which is no complete checkpoint"
        return folder, None

    def checkpoints_to_try(self) -> list[Path]:
        """Complete checkpoints in the order a resume tries them: the one ``latest`` names, then newest first."""
        pointed, _ = self.pointed_checkpoint()
        rest = [p for p in self.complete_checkpoints() if p != pointed]
        return ([pointed] if pointed else []) + rest

    def latest_checkpoint(self) -> Path | None:
        """The checkpoint ``latest`` names, or the newest complete one when the pointer is lost; None if there is
        none."""
        candidates = self.checkpoints_to_try()
        return candidates[0] if candidates else None

    def staging(self, step: int) -> Path:
        return self.checkpoints / f".partial-step_{step:08d}"

    def commit_checkpoint(self, staging: Path, step: int, trainer: dict, keep: int) -> Path:
        """Seal a fully written staging folder: flush it, trainer.json last, rename, move ``latest``, prune.

        The staged files and their folder reach the disk before the commit marker does, so a power
        loss can never leave a trainer.json beside empty or missing files.
        """
        for file in staging.rglob("*"):
            if file.is_file():
                fsync_file(file)
        fsync_dir(staging)
        atomic_write_text(staging / "trainer.json", json.dumps(trainer, indent=1))
        final = self.checkpoints / f"step_{step:08d}"
        remove(final)
        os.replace(staging, final)
        fsync_dir(self.checkpoints)
        atomic_write_text(self.checkpoints / "latest", final.name)
        # Only checkpoints up to this one count: a newer one left by an abandoned run (one that did not
        # load at resume) must not push out the checkpoints this run now stands on.
        complete = sorted(p for p in self.complete_checkpoints() if p.name <= final.name)
        for old in [
            *complete[:-keep],
            *(p for p in self.checkpoints.glob(".partial-*") if p != staging),
        ]:  # and a killed save's
            with suppress(OSError):  # the new checkpoint is sealed; what cannot be pruned now is pruned next time
                remove(old)
        return final

    # -- exported networks -------------------------------------------------------------
    def export(self, name: str, net: Network, role: str, ema: torch.nn.Module | None = None) -> None:
        """Write a network alone: its weights (and its moving average's), then the JSON that rebuilds it.

        Weights that are not finite are refused, naming the tensor, so the last good export stays. The
        JSON records each weight file's SHA-256, and loading checks it: a flipped bit or a file swapped
        by hand is refused instead of sampling from damaged weights.
        """
        check_network_name(name, "network")
        files = {f"{name}.safetensors": net.state_dict()}
        if ema is not None:
            files[f"{name}.ema.safetensors"] = ema.state_dict()
        for file, state in files.items():
            check_finite(state, f"network {name!r} ({file}) is not exported, and {self.networks} keeps its last export")
        digests = {}
        for file, state in files.items():
            data = save_tensors({k: v.detach().contiguous().cpu() for k, v in state.items()})
            digests[file] = hashlib.sha256(data).hexdigest()
            atomic_write_bytes(self.networks / file, data)
        info = {"spec": net.spec, "role": role, "ema": ema is not None, "sha256": digests}
        atomic_write_text(self.networks / f"{name}.json", json.dumps(info, indent=1))

    def network_names(self) -> list[str]:
        """The networks exported into this run; a run folder that does not exist is named as missing."""
        if not self.path.is_dir():
            raise RunError(f"run folder {str(self.path)!r} not found (looked in {self.path.resolve()})")
        return sorted(p.stem for p in self.networks.glob("*.json"))


def check_network_name(name, what: str) -> None:
    """A network name read from a command line or a run folder becomes a file name: refuse any path in it."""
    if not is_plain_name(name):
        raise RunError(f"{what} {shorten(name)}: a network name may hold only letters, digits, '_' and '-'")


def check_finite(tensors: dict[str, torch.Tensor], where: str, error=None) -> None:
    """Refuse weights holding NaN or inf, naming the first such tensor: they would sample black grids or NaN scores."""
    for key, value in tensors.items():
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise (error or RunError)(f"tensor {key!r} holds NaN or inf: {where}")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_digest(info: dict, info_path: Path, weights: Path) -> None:
    """A weight file must be the one its network's JSON recorded at export (exports from before digests are not
    checked)."""
    recorded = info.get("sha256")
    expected = recorded.get(weights.name) if isinstance(recorded, dict) else None
    if expected is None:
        return
    if not weights.is_file():
        raise Unloadable(f"weights file {str(weights)!r} not found")
    if sha256_of(weights) != expected:
        raise RunError(
            f"{weights}: its SHA-256 is not the one {info_path.name} recorded at export, so the file was changed or "
            "damaged since; it is not loaded. The run's next checkpoint exports it again (gan train --resume), "
            "or copy it from a backup"
        )


def read_network_info(info_path: Path) -> dict:
    """A network's JSON: the spec that rebuilds it, its role, whether it has EMA weights, its files' digests."""
    try:
        info = json.loads(info_path.read_text())
    except (OSError, ValueError) as error:
        raise RunError(f"{info_path}: cannot rebuild the network ({error})") from None
    if not isinstance(info, dict) or not isinstance(info.get("spec"), dict):
        raise RunError(
            f'{info_path}: cannot rebuild the network (expected {{"spec": {{"family": ..., ...}}, "role": ...}})'
        )
    return info


def load_state(net: torch.nn.Module, path: Path, *, strict: bool = True) -> tuple[list[str], list[str]]:
    """Load safetensors weights into ``net``; a bad file or a mismatch is one RunError naming the file.

    Returns (loaded keys, keys left as they were) when ``strict`` is False.
    """
    if not path.is_file():
        raise Unloadable(f"weights file {str(path)!r} not found")
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as error:
        raise Unloadable(f"{path}: not a readable safetensors file ({error}); it may be truncated or corrupt") from None
    check_finite(state, f"{path} is not loaded (damaged, or saved from a run that diverged)", Unloadable)
    own = net.state_dict()
    wrong = [
        f"{k} {tuple(v.shape)} vs {tuple(own[k].shape)}"
        for k, v in state.items()
        if k in own and own[k].shape != v.shape
    ]
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if strict and (wrong or missing or unexpected):
        parts = []
        if wrong:
            parts.append(f"shapes differ for {', '.join(wrong[:3])}{' ...' if len(wrong) > 3 else ''}")
        if missing:
            parts.append(f"missing {', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''}")
        if unexpected:
            parts.append(f"unexpected {', '.join(unexpected[:3])}{' ...' if len(unexpected) > 3 else ''}")
        raise RunError(
            f"{path} does not fit the network ({'; '.join(parts)}): it was saved from another architecture or other "
            "spaces"
        )
    fitting = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    net.load_state_dict(fitting, strict=strict)
    return sorted(fitting), sorted(set(own) - set(fitting))


def load(run: str | Path, name: str, *, ema: bool = True, device="cpu", units: bool = True):
    """Rebuild a trained network from a run folder (its EMA weights where they exist).

    A network trained on a table comes back as a ``gan.predict.Predictor``: raw rows in, distributions in the
    targets' own units out (``units=False``: the bare network, in the standardised units it was trained in).

    >>> painter = load("runs/digits", "painter")  # doctest: +SKIP
    >>> painter.sample(64).shape                  # doctest: +SKIP
    torch.Size([64, 1, 28, 28])
    >>> load("runs/diabetes", "predictor").predict(rows)["mean"]  # doctest: +SKIP
    """
    folder = RunDir(run)
    if not folder.path.is_dir():
        raise RunError(f"run folder {str(folder.path)!r} not found")
    check_network_name(name, "network")
    info_path = folder.networks / f"{name}.json"
    if not info_path.is_file():
        names = folder.network_names()
        have = ", ".join(names) if names else "none yet (they are exported at each checkpoint and at the end)"
        raise RunError(f"run {str(folder.path)!r} has no network {name!r}; networks in it: {have}")
    info = read_network_info(info_path)
    try:
        net = build(info["spec"])
    except (KeyError, ValueError, TypeError) as error:
        raise RunError(f"{info_path}: cannot rebuild the network ({error})") from None
    weights = folder.networks / (f"{name}.ema.safetensors" if ema and info.get("ema") else f"{name}.safetensors")
    check_digest(info, info_path, weights)
    load_state(net, weights)
    net = net.to(device).eval()
    return with_units(folder, name, net) if units else net


# -- the units of a network trained on a table (gan/verbs/predict.py) ----------------------------
def units_path(folder: RunDir, name: str) -> Path:
    """In a folder of its own under networks/: a NAME.units.json beside NAME.json would be listed as a network."""
    return folder.networks / "units" / f"{name}.json"


def keep_units(folder: RunDir, name: str, units: dict) -> None:
    """Written when a loop on a table is set up, so the run keeps what its data code computed (``Table.units``)."""
    path = units_path(folder, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(units, indent=1))


def with_units(folder: RunDir, name: str, net: Network):
    """``net`` with the units it was trained in, or ``net`` itself where it was not trained on a table."""
    from networks import Normal

    if not isinstance(net.target, Normal):  # only a normal[D] network is trained on a table's targets
        return net
    from ..verbs.predict import Predictor, units_from_config

    path = units_path(folder, name)
    if path.is_file():
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise RunError(f"{path}: cannot read the units network {name!r} was trained in ({error})") from None
    else:  # a run from before runs kept their units: its config opens the same table, split and scaled the same way
        record = units_from_config(folder.config, net)
    if record is None:
        return net
    try:
        return Predictor(net, record, name=name)
    except (KeyError, TypeError, ValueError) as error:
        raise RunError(f"{path}: not the units of network {name!r} ({error})") from None
