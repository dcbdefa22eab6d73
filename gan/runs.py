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

Everything that outlives a crash is written under a temporary name and renamed into
place, so a kill at any moment leaves the previous complete file, never half a file.
Loading reads only safetensors, JSON, and ``torch.load(weights_only=True)`` (inside
accelerate), so a file from elsewhere cannot run code.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import torch
import yaml
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from networks import Network, build


class RunError(ValueError):
    """A run folder, checkpoint or exported network that cannot be used as asked."""


def atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def atomic_save_tensors(tensors: dict[str, torch.Tensor], path: Path, metadata: dict | None = None) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(tmp), metadata=metadata)
    os.replace(tmp, path)


class RunDir:
    """Paths inside one run folder."""

    def __init__(self, path: "str | Path"):
        self.path = Path(path)
        self.logs = self.path / "logs"
        self.samples = self.path / "samples"
        self.checkpoints = self.path / "checkpoints"
        self.networks = self.path / "networks"
        self.config = self.path / "config.yaml"

    def prepare(self, config: dict, *, overwrite: bool) -> None:
        """Create the folder for a new run; an existing run is kept unless ``overwrite``."""
        if self.path.exists() and any(self.path.iterdir()):
            if not overwrite:
                raise RunError(
                    f"run folder {str(self.path)!r} already exists; pass --resume {self.path} to continue it, "
                    f"--overwrite to replace it, or --set run.name=NEW for a new one"
                )
            shutil.rmtree(self.path)
        try:
            for folder in (self.logs, self.samples, self.checkpoints, self.networks):
                folder.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.config, yaml.safe_dump(config, sort_keys=False))
        except OSError as error:  # a file in the way, no permission, a full disk
            raise RunError(f"run.output: cannot create the run folder {str(self.path)!r} ({error.strerror or error}: {error.filename})") from None

    # -- checkpoints -----------------------------------------------------------------
    def latest_checkpoint(self) -> Path | None:
        pointer = self.checkpoints / "latest"
        if not pointer.is_file():
            return None
        folder = self.checkpoints / pointer.read_text().strip()
        if not (folder / "trainer.json").is_file():
            raise RunError(f"{pointer} names {folder.name}, which is incomplete or missing; delete the pointer to start over")
        return folder

    def staging(self, step: int) -> Path:
        return self.checkpoints / f".partial-step_{step:08d}"

    def commit_checkpoint(self, staging: Path, step: int, trainer: dict, keep: int) -> Path:
        """Seal a fully written staging folder: trainer.json last, rename, move ``latest``, prune."""
        atomic_write_text(staging / "trainer.json", json.dumps(trainer, indent=1))
        final = self.checkpoints / f"step_{step:08d}"
        if final.exists():
            shutil.rmtree(final)
        os.replace(staging, final)
        atomic_write_text(self.checkpoints / "latest", final.name)
        complete = sorted(p for p in self.checkpoints.glob("step_*") if (p / "trainer.json").is_file())
        for old in complete[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
        for partial in self.checkpoints.glob(".partial-*"):  # left by a killed save
            if partial != staging:
                shutil.rmtree(partial, ignore_errors=True)
        return final

    # -- exported networks -------------------------------------------------------------
    def export(self, name: str, net: Network, role: str, ema: torch.nn.Module | None = None) -> None:
        info = {"spec": net.spec, "role": role, "ema": ema is not None}
        atomic_save_tensors(net.state_dict(), self.networks / f"{name}.safetensors")
        if ema is not None:
            atomic_save_tensors(ema.state_dict(), self.networks / f"{name}.ema.safetensors")
        atomic_write_text(self.networks / f"{name}.json", json.dumps(info, indent=1))

    def network_names(self) -> list[str]:
        return sorted(p.stem for p in self.networks.glob("*.json"))


def load_state(net: torch.nn.Module, path: Path, *, strict: bool = True) -> tuple[list[str], list[str]]:
    """Load safetensors weights into ``net``; a bad file or a mismatch is one RunError naming the file.

    Returns (loaded keys, keys left as they were) when ``strict`` is False.
    """
    if not path.is_file():
        raise RunError(f"weights file {str(path)!r} not found")
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as error:
        raise RunError(f"{path}: not a readable safetensors file ({error}); it may be truncated or corrupt") from None
    own = net.state_dict()
    wrong = [f"{k} {tuple(v.shape)} vs {tuple(own[k].shape)}" for k, v in state.items() if k in own and own[k].shape != v.shape]
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
        raise RunError(f"{path} does not fit the network ({'; '.join(parts)}): it was saved from another architecture or other spaces")
    fitting = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    net.load_state_dict(fitting, strict=strict)
    return sorted(fitting), sorted(set(own) - set(fitting))


def load(run: "str | Path", name: str, *, ema: bool = True, device="cpu") -> Network:
    """Rebuild a trained network from a run folder (its EMA weights where they exist).

    >>> painter = load("runs/digits", "painter")  # doctest: +SKIP
    >>> painter.sample(64).shape                  # doctest: +SKIP
    torch.Size([64, 1, 28, 28])
    """
    folder = RunDir(run)
    if not folder.path.is_dir():
        raise RunError(f"run folder {str(folder.path)!r} not found")
    info_path = folder.networks / f"{name}.json"
    if not info_path.is_file():
        names = folder.network_names()
        have = ", ".join(names) if names else "none yet (they are exported at each checkpoint and at the end)"
        raise RunError(f"run {str(folder.path)!r} has no network {name!r}; networks in it: {have}")
    try:
        info = json.loads(info_path.read_text())
        if not isinstance(info, dict) or not isinstance(info.get("spec"), dict):
            raise ValueError('expected {"spec": {"family": ..., ...}, "role": ...}')
        net = build(info["spec"])
    except (json.JSONDecodeError, KeyError, ValueError, TypeError) as error:
        raise RunError(f"{info_path}: cannot rebuild the network ({error})") from None
    weights = folder.networks / (f"{name}.ema.safetensors" if ema and info.get("ema") else f"{name}.safetensors")
    load_state(net, weights)
    return net.to(device).eval()
