"""Scoring a trained generator: ``gan evaluate RUN``.

Toy mixtures get the PacGAN protocol (modes, high-quality share, reverse KL). Images get
Frechet and kernel distances in the feature space of a classifier this toolkit trained
on the same data (works offline: the classifier role serving the evaluation of the
generator role), that classifier's label coverage, and Inception-v3 FID/KID where a
maintained library and its weights are available.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from . import config as C
from . import data as datasets
from .runs import RunDir, RunError, load
from .sampling import draw

TOY = ("modes", "high_quality", "reverse_kl")
IMAGE = ("fid_classifier", "kid_classifier", "label_coverage", "fid_inception", "kid_inception")
MANIFOLD = ("precision_recall", "density_coverage")  # k-NN manifolds in the classifier's features
STACKED = ("stacked_modes",)  # stacked_digits: modes found among 26,000 samples (PacGAN)
METRICS = TOY + IMAGE + MANIFOLD + STACKED
CLASSIFIER_DATA = ("digits", "stacked_digits")  # data whose classifier gan evaluate trains by itself


def _classifier_in(run: Path) -> str:
    for name in RunDir(run).network_names():
        info = json.loads((RunDir(run).networks / f"{name}.json").read_text())
        if info.get("role") == "classifier":
            return name
    raise RunError(f"--classifier {run}: no network with the role 'classifier' in it")


def _features(net, x: torch.Tensor, batch: int = 500) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([net.features(x[i : i + batch]).double() for i in range(0, len(x), batch)])


def evaluate(run, *, metrics: list[str] | None = None, samples: int | None = None, seed: int = 0, classifier: str | None = None,
             progress: bool = False) -> dict:
    """Score the generator of ``run``; returns (and writes to RUN/evaluation.json) a dict of metrics.

    On the bundled digits, without ``classifier``, the digits classifier is trained once beside the run
    (``digits_classifier`` in the same runs folder) and reused after that.
    """
    run = Path(run)
    if not (run / "config.yaml").is_file():
        raise RunError(f"{run}: not a run folder (no config.yaml)")
    cfg = C.load(run / "config.yaml")
    if cfg.data.name == "text":
        if metrics or classifier:
            raise RunError(f"{run}: a text run is scored by held-out bits per character beside compressors; drop --metric and --classifier")
        return _write(run, evaluate_text(run, cfg))
    if cfg.loop == "likelihood":  # a classifier or a regressor: scored on the data it held out
        if metrics or classifier:
            raise RunError(f"{run}: a likelihood run is scored on its held-out data; --metric and --classifier are for generators")
        from .evaluation_likelihood import evaluate_likelihood

        return _write(run, {"run": str(run), "step": _step(run), **evaluate_likelihood(run, cfg)})
    if "generator" not in cfg.roles:
        raise RunError(f"{run}: loop {cfg.loop!r} has no generator to evaluate")
    net = load(run, cfg.roles["generator"])
    result = {"run": str(run), "step": _step(run), "generator": cfg.roles["generator"]}
    if classifier is None and cfg.data.name in CLASSIFIER_DATA and _needs_classifier(metrics):
        classifier = str(digits_classifier(run.parent))
    result.update(score(net, cfg, metrics=metrics, samples=samples, seed=seed, classifier=classifier, progress=progress))
    return _write(run, result)


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
    wanted = list(metrics or (TOY if toy else STACKED if stacked else IMAGE[:3] + MANIFOLD))
    say = _say if progress else (lambda message: None)
    result: dict = {}

    if toy:
        if set(wanted) - set(TOY):
            raise RunError(f"metric: {cfg.data.name} is a toy mixture; its metrics are {', '.join(TOY)}")
        n = samples or 2500  # the PacGAN protocol draws 2,500 samples
        scores = M.mode_metrics(draw(net, n, seed=seed).cpu(), datasets.MIXTURES[cfg.data.name])
        result.update({k: scores[k] for k in wanted})
        result["total_modes"] = scores["total_modes"]
        result["samples"] = n
        return result

    real = datasets.open_examples(cfg.data, net.target)
    if not isinstance(real, datasets.Examples):
        raise RunError(f"evaluate reads the real data into memory; {cfg.data.name} is streamed, which is not supported yet")
    n = samples or (26_000 if stacked else len(real))
    fake = torch.cat([draw(net, min(500, n - i), seed=seed + i).cpu() for i in _steps(range(0, n, 500), f"drawing {n} samples", progress)])
    result["samples"] = n
    if "stacked_modes" in wanted:
        say("counting modes: the digits classifier on each channel")
        result.update(stacked_modes(_reader(classifier), fake, real))
    if any(m.endswith("_classifier") or m == "label_coverage" or m in MANIFOLD for m in wanted):
        if not classifier:
            raise RunError(
                "--classifier RUN: the classifier-feature metrics need a classifier trained on the same data; "
                "train one with: gan train configs/digits_classifier.yaml, then pass --classifier runs/digits_classifier"
            )
        reader = load(classifier, _classifier_in(Path(classifier)))
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


def _needs_classifier(metrics: list[str] | None) -> bool:
    return not metrics or any(m.endswith("_classifier") or m in ("label_coverage", *MANIFOLD, *STACKED) for m in metrics)


def _say(message: str) -> None:
    print(f"gan evaluate: {message}", file=sys.stderr, flush=True)


def _steps(items, what: str, progress: bool):
    """``items``, with a bar on stderr when ``progress``."""
    if not progress:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=what, file=sys.stderr, leave=False, dynamic_ncols=True)


def digits_classifier(runs: Path) -> Path:
    """The digits classifier in ``runs/digits_classifier``: trained there once (configs/digits_classifier.yaml), then reused."""
    folder = Path(runs) / "digits_classifier"
    if folder.exists():
        try:
            _classifier_in(folder)
            return folder
        except (RunError, OSError, ValueError):
            raise RunError(f"{folder} exists but holds no trained classifier; remove it to have it trained again, or pass --classifier RUN") from None
    config = C.shipped_folder() / "digits_classifier.yaml"
    if not config.is_file():
        raise RunError(f"--classifier RUN: the classifier-feature metrics need a classifier trained on the digits ({config} not found to train one)")
    from .loops.likelihood import train  # the classifier's config trains by likelihood; evaluation is itself reached from a loop

    _say(f"no --classifier given: training the digits classifier once into {folder} ({config.name}); later evaluations reuse it")
    cfg = C.load(config, [f"run.output={folder.parent}", f"run.name={folder.name}"])
    train(cfg)
    return folder


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
def evaluate_text(run: Path, cfg: C.Config) -> dict:
    """A text run's next-character network on its held-out sentences, beside general-purpose compressors.

    The compressors get the same characters the network predicts; "given train" is what the
    held-out text costs once the compressor has read the training text, as the network has.
    """
    from .data import text as text_data

    name = next(iter(cfg.roles.values()))
    net = load(run, name)
    train, held_out = text_data.open_corpus(cfg.data, net.source).split(cfg.data.holdout)
    if len(held_out) == 0:
        raise RunError(f"{run}: data.holdout is 0, so no sentence was held out to score")
    result = {"run": str(run), "step": _step(run), "network": name, "view": cfg.data.view}
    result.update({f"held_out_{k}": v for k, v in text_data.score(net, held_out).items()})
    result.update(text_data.compressor_bits(train.text(), held_out.text()))
    return result


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
