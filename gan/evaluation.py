"""Scoring a trained generator: ``gan evaluate RUN``.

Toy mixtures get the PacGAN protocol (modes, high-quality share, reverse KL). Images get
Frechet and kernel distances in the feature space of a classifier this toolkit trained
on the same data (works offline: the classifier role serving the evaluation of the
generator role), that classifier's label coverage, and Inception-v3 FID/KID where a
maintained library and its weights are available.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch

from . import config as C
from . import data as datasets
from .memory import check_fits
from .runs import RunDir, RunError, load
from .sampling import draw

TOY, IMAGE = C.TOY_METRICS, C.IMAGE_METRICS
METRICS = TOY + IMAGE


def _classifier_in(run: Path) -> str:
    for name in RunDir(run).network_names():
        path = RunDir(run).networks / f"{name}.json"
        try:
            info = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise RunError(f"--classifier {run}: {path} is not readable JSON ({error})") from None
        if not isinstance(info, dict):
            raise RunError(f'--classifier {run}: {path}: expected {{"spec": ..., "role": ...}}, got {type(info).__name__}')
        if info.get("role") == "classifier":
            return name
    raise RunError(f"--classifier {run}: no network with the role 'classifier' in it")


def _features(net, x: torch.Tensor, batch: int = 500) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([net.features(x[i : i + batch]).double() for i in range(0, len(x), batch)])


def evaluate(run, *, metrics: list[str] | None = None, samples: int | None = None, seed: int = 0, classifier: str | None = None) -> dict:
    """Score the generator of ``run``; returns a dict of metrics (non-finite values as floats: ``strict`` makes them JSON)
    and keeps each metric's latest score, with its settings, in RUN/evaluation.json."""
    run = Path(run)
    if not (run / "config.yaml").is_file():
        raise RunError(f"{run}: not a run folder (no config.yaml)")
    cfg = C.load(run / "config.yaml")
    if "generator" not in cfg.roles:
        raise RunError(f"{run}: loop {cfg.loop!r} has no generator to evaluate")
    net = load(run, cfg.roles["generator"])
    result = {"run": str(run), "step": _step(run), "generator": cfg.roles["generator"]}
    result.update(score(net, cfg, metrics=metrics, samples=samples, seed=seed, classifier=classifier))
    _record(run, result, metrics or default_metrics(cfg), seed=seed, classifier=classifier)
    return result


def score(net, cfg: C.Config, *, metrics: list[str] | None = None, samples: int | None = None, seed: int = 0, classifier: str | None = None) -> dict:
    """Metrics of a generator ``net`` trained on ``cfg.data`` (used by ``evaluate`` and by the loop)."""
    from . import metrics as M

    unknown = sorted(set(metrics or ()) - set(METRICS))
    if unknown:
        raise RunError(f"metric {unknown[0]!r} is unknown; accepted: {', '.join(METRICS)}")
    toy = cfg.data.name in C.TOY_DATA
    wanted = list(metrics or default_metrics(cfg))
    result: dict = {}
    fitting = TOY if toy else IMAGE
    misfit = [m for m in wanted if m not in fitting]
    if misfit:
        raise RunError(f"--metric {misfit[0]}: it does not score {cfg.data.name} ({'a toy mixture' if toy else 'images'}); its metrics are {', '.join(fitting)}")
    per_sample = 4 * math.prod(net.target.shape)  # float32

    if toy:
        n = samples or 2500  # the PacGAN protocol draws 2,500 samples
        means = len(M.MIXTURES[cfg.data.name].means)
        check_fits(n * (3 * per_sample + 8 * means), f"--samples {n}", "score with fewer samples")  # points, in float64, their distance to each mean
        scores = M.mode_metrics(_finite(draw(net, n, seed=seed).cpu()), M.MIXTURES[cfg.data.name])
        result.update({k: scores[k] for k in wanted})
        result["total_modes"] = scores["total_modes"]
        result["samples"] = n
        return result

    real = datasets.open_examples(cfg.data, net.target)
    if not isinstance(real, datasets.Examples):
        raise RunError(f"evaluate reads the real data into memory; {cfg.data.name} is streamed, which is not supported yet")
    n = samples or len(real)
    check_fits(3 * n * per_sample, f"--samples {n}", "score with fewer samples")  # the samples, their features, Inception's copy
    fake = _finite(torch.cat([draw(net, min(500, n - i), seed=seed + i).cpu() for i in range(0, n, 500)]))
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


def default_metrics(cfg: C.Config) -> tuple[str, ...]:
    return TOY if cfg.data.name in C.TOY_DATA else IMAGE[:3]


def _finite(samples: torch.Tensor) -> torch.Tensor:
    bad = int((~torch.isfinite(samples.flatten(1))).any(dim=1).sum())
    if bad:
        raise RunError(f"{bad} of {len(samples)} samples of the generator are NaN or inf (its weights diverged?); there is nothing to score")
    return samples


def _step(run: Path) -> int | None:
    """The step of the newest checkpoint, or None where it cannot be read (a score is still worth printing)."""
    try:
        latest = RunDir(run).latest_checkpoint()
        step = json.loads((latest / "trainer.json").read_text())["step"] if latest else None
    except (RunError, OSError, ValueError, KeyError, TypeError):
        return None
    return step if isinstance(step, int) else None


# Values a metric reports besides its own: the floor of a distance, a standard error, the size of the mixture.
COMPANIONS = {"modes": ("total_modes",), "fid_classifier": ("fid_classifier_floor",), "kid_classifier": ("kid_classifier_std",),
              "kid_inception": ("kid_inception_std",)}
WHY_NOT_FINITE = {"reverse_kl": "infinite: no sample is high-quality, so the histogram over modes is empty"}


def strict(values: dict) -> dict:
    """JSON that every reader accepts: a non-finite number becomes null, and ``KEY_note`` says why."""
    out = {}
    for key, value in values.items():
        if isinstance(value, float) and not math.isfinite(value):
            out[key] = None
            out[f"{key}_note"] = WHY_NOT_FINITE.get(key, f"not finite ({value})")
        else:
            out[key] = value
    return out


def _record(run: Path, result: dict, metrics, *, seed: int, classifier: str | None) -> None:
    """Merge this call's scores into RUN/evaluation.json, one entry a metric with the settings that produced it:
    scoring one metric again replaces that metric only."""
    path = run / "evaluation.json"
    try:
        kept = json.loads(path.read_text()).get("metrics", {}) if path.is_file() else {}
    except (OSError, ValueError, AttributeError):
        kept = {}  # unreadable or from before metrics were kept apart: replaced
    settings = {"step": result["step"], "samples": result["samples"], "seed": seed, "classifier": classifier}
    for name in metrics:
        if name == "label_coverage":
            values = {k: v for k, v in result.items() if k.startswith("label_")}
        else:
            values = {k: result[k] for k in (name, *COMPANIONS.get(name, ())) if k in result}
        kept[name] = strict(values) | settings
    merged = {"run": str(run), "generator": result["generator"], "metrics": dict(sorted(kept.items()))}
    from .runs import atomic_write_text

    atomic_write_text(path, json.dumps(merged, indent=1, allow_nan=False))
