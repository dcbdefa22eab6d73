"""Scoring a trained generator: ``gan evaluate RUN``.

Toy mixtures get the PacGAN protocol (modes, high-quality share, reverse KL). Images get
Frechet and kernel distances in the feature space of a classifier this toolkit trained
on the same data (works offline: the classifier role serving the evaluation of the
generator role), that classifier's label coverage, and Inception-v3 FID/KID where a
maintained library and its weights are available.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from . import config as C
from . import data as datasets
from .runs import RunDir, RunError, load
from .sampling import draw

TOY, IMAGE = C.TOY_METRICS, C.IMAGE_METRICS
METRICS = TOY + IMAGE


def _classifier_in(run: Path) -> str:
    for name in RunDir(run).network_names():
        info = json.loads((RunDir(run).networks / f"{name}.json").read_text())
        if info.get("role") == "classifier":
            return name
    raise RunError(f"--classifier {run}: no network with the role 'classifier' in it")


def _features(net, x: torch.Tensor, batch: int = 500) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([net.features(x[i : i + batch]).double() for i in range(0, len(x), batch)])


def evaluate(run, *, metrics: list[str] | None = None, samples: int | None = None, seed: int = 0, classifier: str | None = None) -> dict:
    """Score the generator of ``run``; returns (and writes to RUN/evaluation.json) a dict of metrics."""
    run = Path(run)
    if not (run / "config.yaml").is_file():
        raise RunError(f"{run}: not a run folder (no config.yaml)")
    cfg = C.load(run / "config.yaml")
    if "generator" not in cfg.roles:
        raise RunError(f"{run}: loop {cfg.loop!r} has no generator to evaluate")
    net = load(run, cfg.roles["generator"])
    result = {"run": str(run), "step": _step(run), "generator": cfg.roles["generator"]}
    result.update(score(net, cfg, metrics=metrics, samples=samples, seed=seed, classifier=classifier))
    return _write(run, result)


def score(net, cfg: C.Config, *, metrics: list[str] | None = None, samples: int | None = None, seed: int = 0, classifier: str | None = None) -> dict:
    """Metrics of a generator ``net`` trained on ``cfg.data`` (used by ``evaluate`` and by the loop)."""
    from . import metrics as M

    unknown = sorted(set(metrics or ()) - set(METRICS))
    if unknown:
        raise RunError(f"metric {unknown[0]!r} is unknown; accepted: {', '.join(METRICS)}")
    toy = cfg.data.name in ("ring", "grid")
    wanted = list(metrics or (TOY if toy else IMAGE[:3]))
    result: dict = {}

    if toy:
        if set(wanted) - set(TOY):
            raise RunError(f"metric: {cfg.data.name} is a toy mixture; its metrics are {', '.join(TOY)}")
        n = samples or 2500  # the PacGAN protocol draws 2,500 samples
        scores = M.mode_metrics(draw(net, n, seed=seed).cpu(), M.MIXTURES[cfg.data.name])
        result.update({k: scores[k] for k in wanted})
        result["total_modes"] = scores["total_modes"]
        result["samples"] = n
        return result

    real = datasets.open_examples(cfg.data, net.target)
    if not isinstance(real, datasets.Examples):
        raise RunError(f"evaluate reads the real data into memory; {cfg.data.name} is streamed, which is not supported yet")
    n = samples or len(real)
    fake = torch.cat([draw(net, min(500, n - i), seed=seed + i).cpu() for i in range(0, n, 500)])
    result["samples"] = n
    if any(m.endswith("_classifier") or m == "label_coverage" for m in wanted):
        if not classifier:
            raise RunError(
                "--classifier RUN: the classifier-feature metrics need a classifier trained on the same data; "
                "train one with: gan train configs/digits_classifier.yaml, then pass --classifier runs/digits_classifier"
            )
        reader = load(classifier, _classifier_in(Path(classifier)))
        if reader.source != net.target:
            raise RunError(f"--classifier {classifier}: it reads {reader.source}, but the generator writes {net.target}")
        f_real, f_fake = _features(reader, real.x), _features(reader, fake)
        half = len(f_real) // 2
        if "fid_classifier" in wanted:
            result["fid_classifier"] = M.frechet_distance(f_real, f_fake)
            perm = torch.randperm(len(f_real), generator=torch.Generator().manual_seed(seed))
            result["fid_classifier_floor"] = M.frechet_distance(f_real[perm[:half]], f_real[perm[half:]])  # two halves of the real data
        if "kid_classifier" in wanted:
            mean, std = M.kernel_distance(f_real, f_fake, generator=torch.Generator().manual_seed(seed))
            result["kid_classifier"], result["kid_classifier_std"] = mean, std
        if "label_coverage" in wanted:
            with torch.no_grad():
                labels = torch.cat([reader(fake[i : i + 500]).argmax(-1) for i in range(0, len(fake), 500)])
            result.update({f"label_{k}" if not k.startswith("label") else k: v for k, v in M.label_coverage(labels, reader.target.k, real.y).items()})
    for name in ("fid_inception", "kid_inception"):
        if name in wanted:
            try:
                f_real, f_fake = M.inception_features(net.target.to_unit(real.x)), M.inception_features(net.target.to_unit(fake))
            except M.MetricUnavailable as error:
                raise RunError(str(error)) from None
            if name == "fid_inception":
                result[name] = M.frechet_distance(f_real, f_fake)
            else:
                result[name], result[f"{name}_std"] = M.kernel_distance(f_real, f_fake)
    return {k: (float(v) if isinstance(v, torch.Tensor) else v) for k, v in result.items()}


def _step(run: Path) -> int | None:
    try:
        latest = RunDir(run).latest_checkpoint()
    except RunError:
        return None
    return json.loads((latest / "trainer.json").read_text())["step"] if latest else None


def _write(run: Path, result: dict) -> dict:
    result = {k: (float(v) if isinstance(v, torch.Tensor) else v) for k, v in result.items()}
    (run / "evaluation.json").write_text(json.dumps(result, indent=1))
    return result
