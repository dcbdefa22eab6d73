"""What ``gan train --resume RUN --set KEY=VALUE`` may change, and the record of what it did change.

A resumed run continues the data order, the noise and the update count of the run it resumes, so
the values that decide them stay fixed; everything else (learning rates, run.steps, logging) may
change, and the change is written into the run's ``config.yaml`` so that a later plain ``--resume``
keeps it.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from .. import config as C
from ..yamlfile import YamlError, cut, read

# Keys that decide which examples each update sees (and so an exact resume); why, for the message.
FIXED = {
    "data.name": "it changes the data",
    "data.holdout": "it changes which examples are trained on",
    "data.batch_size": "it changes the data order",
    "run.seed": "it changes the data order and the noise",
    "run.grad_accum": "it changes the data order",
    "objective.d_steps": "it changes the data order",
}
LOCATION = ("run.output", "run.name")  # where the run folder is, not how it trains


def flat(tree: dict, prefix: str = "") -> dict[str, object]:
    """{"run": {"steps": 4}} -> {"run.steps": 4}; lists stay values."""
    out = {}
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flat(value, f"{path}."))
        else:
            out[path] = value
    return out


def saved_config(path: Path) -> dict:
    """The run's config.yaml as the resolved mapping it stands for (defaults filled in where it still validates)."""
    raw = _read(path)
    try:
        return C.from_dict(raw).to_dict()
    except C.ConfigError:  # a --set at this resume may be what repairs it; compare what is written
        return raw


def _read(path: Path) -> dict:
    """The run's config.yaml as a mapping, read as strictly as any config (gan/yamlfile.py)."""
    try:
        raw = read(path) or {}
    except YamlError as error:
        raise C.ConfigError(str(error)) from None
    if not isinstance(raw, dict):
        raise C.ConfigError(
            f"{path}: a run's config must be a mapping with sections networks, roles, ...; got {type(raw).__name__}"
        )
    return raw


def changes(path: Path, cfg: C.Config) -> list[tuple[str, object, object]]:
    """(key, saved value, new value) for each value of ``cfg`` that differs from the run's ``config.yaml``.

    Raises ConfigError, naming the key, for a change a resume cannot honour.
    """
    old, new = flat(saved_config(path)), flat(cfg.to_dict())
    found = [
        (k, old.get(k), new.get(k))
        for k in sorted(set(old) | set(new))
        if k not in LOCATION and old.get(k) != new.get(k)
    ]
    for key, was, now in found:
        if key in FIXED or (key.startswith("optimizers.") and key.endswith(".name") and was is not None):
            why = FIXED.get(key, "its saved state belongs to the other optimizer")
            raise C.ConfigError(
                f"--set {key}={cut(now)} at resume: the run was trained with {key}={cut(was)}, and {why}; "
                f"resume with {cut(was)}, or start a new run with --set run.name=NEW"
            )
    return found


def describe(found: list[tuple[str, object, object]]) -> str:
    """One line: ``optimizers.generator.lr 0.0002 -> 0.01, run.steps 4 -> 6``."""
    return ", ".join(f"{key} {cut(was)} -> {cut(now)}" for key, was, now in found)


def record(path: Path, cfg: C.Config) -> None:
    """Write ``cfg`` as the run's config.yaml (atomically), keeping the saved location of the run."""
    from .folder import CONFIG_HEADER, atomic_write_text

    saved = _read(path)
    resolved = cfg.to_dict()
    for key in ("output", "name"):
        if key in (saved.get("run") or {}):
            resolved["run"][key] = saved["run"][key]
    atomic_write_text(path, CONFIG_HEADER + yaml.safe_dump(resolved, sort_keys=False))
