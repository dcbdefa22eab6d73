"""Scores of a generator: its samples measured against the real data, and nothing else.

What the adversarial loop calls during training (``metrics:``) and what ``gan evaluate`` prints
(``evaluation.py``, which adds run folders, the record of scores, and a digits classifier it
trains when none is given). Kept apart so that measuring during training never reaches the code
that trains.

Toy mixtures get the PacGAN protocol (modes, high-quality share, reverse KL). Images get
Frechet and kernel distances in the feature space of a classifier this toolkit trained
on the same data (works offline: the classifier role serving the evaluation of the
generator role), that classifier's label coverage, and Inception-v3 FID/KID where a
maintained library and its weights are available.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import torch

from . import config as C
from . import data as datasets
from .memory import check_fits
from .runs import RunDir, RunError, load
from .sampling import draw

TOY = C.TOY_METRICS
IMAGE = C.IMAGE_METRICS[:5]  # Frechet/kernel distances and label coverage, in the classifier's or Inception's features
MANIFOLD = ("precision_recall", "density_coverage")  # k-NN manifolds in the classifier's features
STACKED = ("stacked_modes",)  # stacked_digits: modes found among 26,000 samples (PacGAN)
METRICS = TOY + IMAGE + MANIFOLD + STACKED  # the names gan/config.py checks at load (tests/test_evaluate.py holds them equal)


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


def score(net, cfg: C.Config, *, metrics: list[str] | None = None, samples: int | None = None, seed: int = 0, classifier: str | None = None,
          progress: bool = False) -> dict:
    """Metrics of a generator ``net`` trained on ``cfg.data`` (used by ``evaluate`` and by the loop).

    ``progress``: say each phase on stderr (the terminal), with a bar while samples are drawn.
    """
    from . import metrics as M

    unknown = sorted(set(metrics or ()) - set(METRICS))
    if unknown:
        raise RunError(f"metric {unknown[0]!r} is unknown; accepted: {', '.join(METRICS)}")
    toy = datasets.is_mixture(cfg.data.name)
    stacked = cfg.data.name == "stacked_digits"
    wanted = list(metrics or default_metrics(cfg))
    say = _say if progress else (lambda message: None)
    result: dict = {}
    fitting = TOY if toy else IMAGE + MANIFOLD + (STACKED if stacked else ())
    misfit = [m for m in wanted if m not in fitting]
    if misfit:
        raise RunError(f"--metric {misfit[0]}: it does not score {cfg.data.name} ({'a toy mixture' if toy else 'images'}); its metrics are {', '.join(fitting)}")
    per_sample = 4 * math.prod(net.target.shape)  # float32

    if toy:
        n = samples or 2500  # the PacGAN protocol draws 2,500 samples
        means = len(datasets.MIXTURES[cfg.data.name].means)
        check_fits(n * (3 * per_sample + 8 * means), f"--samples {n}", "score with fewer samples")  # points, in float64, their distance to each mean
        scores = M.mode_metrics(_finite(draw(net, n, seed=seed).cpu()), datasets.MIXTURES[cfg.data.name])
        result.update({k: scores[k] for k in wanted})
        result["total_modes"] = scores["total_modes"]
        result["samples"] = n
        return result

    real = datasets.open_examples(cfg.data, net.target)
    if not isinstance(real, datasets.Examples):
        raise RunError(f"evaluate reads the real data into memory; {cfg.data.name} is streamed, which is not supported yet")
    n = samples or (26_000 if stacked else len(real))
    check_fits(3 * n * per_sample, f"--samples {n}", "score with fewer samples")  # the samples, their features, Inception's copy
    # A given --classifier is found and read before minutes of drawing: a wrong one stops at once.
    given = load(classifier, _classifier_in(Path(classifier))) if classifier else None
    fake = _finite(torch.cat([draw(net, min(500, n - i), seed=seed + i).cpu() for i in _steps(range(0, n, 500), f"drawing {n} samples", progress)]))
    result["samples"] = n
    if "stacked_modes" in wanted:
        say("counting modes: the digits classifier on each channel")
        result.update(stacked_modes(given if given is not None else _reader(classifier), fake, real))
    if any(m.endswith("_classifier") or m == "label_coverage" or m in MANIFOLD for m in wanted):
        if not classifier:
            raise RunError(
                "--classifier RUN: the classifier-feature metrics need a classifier trained on the same data; "
                "train one with: gan train configs/digits_classifier.yaml, then pass --classifier runs/digits_classifier"
            )
        reader = given
        if reader.source != net.target:
            raise RunError(f"--classifier {classifier}: it reads {reader.source}, but the generator writes {net.target}")
        say("classifier features of the real and generated images")
        f_real, f_fake = _features(reader, real.x), _features(reader, fake)
        half = len(f_real) // 2
        for name in (m for m in MANIFOLD if m in wanted):
            say(f"{name.replace('_', ' and ')} (k-nearest neighbours)")
            result.update(manifold_scores(name, f_real, f_fake, seed))
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
            if len(labels) > 1000:  # what a reader of one sample grid of 1,000 would find
                result["label_classes_found_in_1000"] = int(labels[:1000].unique().numel())
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


def _say(message: str) -> None:
    print(f"gan evaluate: {message}", file=sys.stderr, flush=True)


def _steps(items, what: str, progress: bool):
    """``items``, with a bar on stderr when ``progress``."""
    if not progress:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=what, file=sys.stderr, leave=False, dynamic_ncols=True)


def _reader(classifier: str | None):
    if not classifier:
        raise RunError("--classifier RUN: stacked_modes needs the digits classifier; train one with: gan train configs/digits_classifier.yaml")
    return load(classifier, _classifier_in(Path(classifier)))


def stacked_modes(reader, fake: torch.Tensor, real=None) -> dict:
    """Modes of stacked digits found among ``fake`` [N, 3, H, W]: each channel read by the digits classifier.

    Mode = 100a + 10b + c for the classes a, b, c of the three channels; ``stacked_modes`` counts the
    modes seen, ``stacked_kl`` is KL(mode histogram || uniform over 1,000) in nats (PacGAN, Table 3).
    The same count on the real pictures (``stacked_modes_real``) shows what the classifier's errors allow.
    """
    from . import metrics as M

    channel = reader.source
    if fake.shape[1] != 3 or (channel.channels, channel.height, channel.width) != (1, *fake.shape[2:]):
        raise RunError(f"stacked_modes: the classifier reads {channel}, but the generator writes {list(fake.shape[1:])}; "
                       "it needs a classifier of one channel of the same size")

    def modes(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            digits = [torch.cat([reader(x[i : i + 500, c : c + 1]).argmax(-1) for i in range(0, len(x), 500)]) for c in range(3)]
        return digits[0] * 100 + digits[1] * 10 + digits[2]

    found = M.label_coverage(modes(fake), 1000)
    out = {"stacked_modes": found["classes_found"], "stacked_kl": found["label_kl"], "total_modes": 1000}
    if real is not None:
        seen = M.label_coverage(modes(real.x), 1000)
        out.update({"stacked_modes_real": seen["classes_found"], "stacked_kl_real": seen["label_kl"], "real_samples": len(real)})
    return out


def manifold_scores(name: str, f_real: torch.Tensor, f_fake: torch.Tensor, seed: int) -> dict:
    """Precision/recall or density/coverage, generated and real-vs-real, at equal set sizes.

    k-NN radii shrink as a set grows, so both comparisons use the same sizes: one random half of the
    real features is the reference; the other half (real-vs-real, suffix ``_real``) and as many
    generated samples are compared with it.
    """
    from . import metrics as M

    fn = M.precision_recall if name == "precision_recall" else M.density_coverage
    perm = torch.randperm(len(f_real), generator=torch.Generator().manual_seed(seed))
    half = len(f_real) // 2
    reference, other = f_real[perm[:half]], f_real[perm[half : 2 * half]]
    out = fn(reference, f_fake[: len(other)])
    out.update({f"{k}_real": v for k, v in fn(reference, other).items()})
    return out


def default_metrics(cfg: C.Config) -> tuple[str, ...]:
    if datasets.is_mixture(cfg.data.name):
        return TOY
    return STACKED if cfg.data.name == "stacked_digits" else IMAGE[:3] + MANIFOLD


def _finite(samples: torch.Tensor) -> torch.Tensor:
    bad = int((~torch.isfinite(samples.flatten(1))).any(dim=1).sum())
    if bad:
        raise RunError(f"{bad} of {len(samples)} samples of the generator are NaN or inf (its weights diverged?); there is nothing to score")
    return samples
