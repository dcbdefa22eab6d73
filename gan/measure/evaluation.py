"""Scoring a trained generator: ``gan evaluate RUN``.

The scores themselves are ``scoring.py``'s (the training loop uses them too); this adds what a
run folder needs: its generator loaded, a digits classifier trained once when none is given,
and each metric's latest score kept, with its settings, in RUN/evaluation.json.
"""

from __future__ import annotations

import json
import math
import time
from contextlib import contextmanager
from pathlib import Path

import torch

from .. import config as C
from .. import loop_registry
from ..runs.folder import EVALUATION_LOCK, RunDir, RunError, RunLock, load

# The scores live in scoring.py (training logs them too); import them from there.
from .metric_registry import METRICS
from .scoring import _classifier_in, _say, default_metrics, flattened, score_each

CLASSIFIER_DATA = ("digits", "stacked_digits")  # data whose classifier gan evaluate trains by itself


def evaluate(
    run,
    *,
    metrics: list[str] | None = None,
    samples: int | None = None,
    seed: int = 0,
    classifier: str | None = None,
    progress: bool = False,
) -> dict:
    """Score the generator of ``run`` (or a likelihood run on its held-out data); returns a dict of metrics
    (non-finite values as floats: ``strict`` makes them JSON) and keeps each metric's latest score, with its
    settings, in RUN/evaluation.json.

    On the bundled digits, without ``classifier``, the digits classifier is trained once beside the run
    (``digits_classifier`` in the same runs folder) and reused after that.
    """
    run = Path(run)
    if not (run / "config.yaml").is_file():
        raise RunError(f"{run}: not a run folder (no config.yaml)")
    cfg = C.load(run / "config.yaml")
    scored_by = loop_registry.loop(cfg.loop).scored_by
    if cfg.data.name == "text" and scored_by != "retrieval":  # a text embedder is scored by retrieval, below
        if metrics or classifier:
            raise RunError(
                f"{run}: a text run is scored by held-out bits per character beside compressors; drop --metric and "
                "--classifier"
            )
        return _write(run, evaluate_text(run, cfg))
    if scored_by == "held_out":  # a classifier or a regressor: scored on the data it held out
        if metrics or classifier:
            raise RunError(
                f"{run}: a {cfg.loop} run is scored on its held-out data; --metric and --classifier are for generators"
            )
        from .evaluation_likelihood import evaluate_likelihood

        return _write(run, {"run": str(run), "step": _step(run), **evaluate_likelihood(run, cfg)})
    if scored_by == "retrieval":  # an embedder: its held-out queries against its training references
        if metrics or classifier:
            raise RunError(
                f"{run}: a {cfg.loop} run is scored by retrieval; --metric and --classifier are for generators"
            )
        from .retrieval import evaluate_retrieval

        return _write(run, {"run": str(run), "step": _step(run), **evaluate_retrieval(run, cfg)})
    if scored_by != "samples" or "generator" not in cfg.roles:
        raise RunError(f"{run}: loop {cfg.loop!r} has no generator to evaluate")
    net = load(run, cfg.roles["generator"])
    result = {"run": str(run), "step": _step(run), "generator": cfg.roles["generator"]}
    if classifier is None and cfg.data.name in CLASSIFIER_DATA and _needs_classifier(metrics or default_metrics(cfg)):
        classifier = str(digits_classifier(run.parent))
    each, n = score_each(
        net, cfg, metrics=metrics, samples=samples, seed=seed, classifier=classifier, progress=progress
    )
    result.update(flattened(each, n))
    _record(run, result, each, seed=seed, classifier=classifier)
    return result


def _needs_classifier(metrics) -> bool:
    return any("classifier" in METRICS[m].needs for m in metrics if m in METRICS)


def digits_classifier(runs: Path) -> Path:
    """The digits classifier in ``runs/digits_classifier``: trained there once (configs/digits_classifier.yaml), then
    reused.

    Two evaluations (or a benchmark beside one) may start together: the one that finds another process
    training the classifier waits for it instead of stopping at a half-made folder.
    """
    folder = Path(runs) / "digits_classifier"
    if not folder.exists():
        config = C.shipped_folder() / "digits_classifier.yaml"
        if not config.is_file():
            raise RunError(
                f"--classifier RUN: the classifier-feature metrics need a classifier trained on the digits ({config} "
                "not found to train one)"
            )
        from ..loops.setup import train  # training reaches scoring.py, never this module: no cycle

        _say(
            f"no --classifier given: training the digits classifier once into {folder} ({config.name}); later "
            "evaluations reuse it"
        )
        try:
            train(C.load(config, [f"run.output={folder.parent}", f"run.name={folder.name}"]))
            return folder
        except RunError:
            if RunLock(folder).holder() is None:  # not another trainer's folder: this run's own failure
                raise
    _wait_for_trainer(folder)
    try:
        _classifier_in(folder)
        return folder
    except (RunError, OSError, ValueError):
        raise RunError(
            f"{folder} exists but holds no trained classifier; remove it to have it trained again, or pass "
            "--classifier RUN"
        ) from None


def _wait_for_trainer(folder: Path, poll: float = 1.0) -> None:
    """Wait while a live process holds the folder's run lock; a dead owner's lock is not waited on."""
    lock, said = RunLock(folder), False
    while (busy := lock.holder()) is not None:
        if not said:
            _say(f"waiting for the digits classifier in {folder}: {busy}")
            said = True
        time.sleep(poll)


def evaluate_text(run: Path, cfg: C.Config) -> dict:
    """A text run's next-character network on its held-out sentences, beside general-purpose compressors.

    The compressors get the same characters the network predicts; "given train" is what the
    held-out text costs once the compressor has read the training text, as the network has.
    """
    from ..data import text as text_data
    from . import text as text_scores

    name = next(iter(cfg.roles.values()))
    net = load(run, name)
    train, held_out = text_data.open_corpus(cfg.data, net.source).split(cfg.data.holdout)
    if len(held_out) == 0:
        raise RunError(f"{run}: data.holdout is 0, so no sentence was held out to score")
    result = {"run": str(run), "step": _step(run), "network": name, "view": cfg.data.view}
    result.update({f"held_out_{k}": v for k, v in text_scores.score(net, held_out).items()})
    result.update(text_scores.compressor_bits(train.text(), held_out.text()))
    return result


def _step(run: Path) -> int | None:
    """The step of the newest checkpoint, or None where it cannot be read (a score is still worth printing)."""
    try:
        latest = RunDir(run).latest_checkpoint()
        step = json.loads((latest / "trainer.json").read_text())["step"] if latest else None
    except (RunError, OSError, ValueError, KeyError, TypeError):
        return None
    return step if isinstance(step, int) else None


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


def _record(run: Path, result: dict, each: dict[str, dict], *, seed: int, classifier: str | None) -> None:
    """Merge this call's scores into RUN/evaluation.json, one entry a metric with the settings that produced it
    (``each``: a metric's values as its registered function returned them, with ``samples`` beside):
    scoring one metric again replaces that metric only. Read, merge and write happen under the run's
    evaluation lock, so evaluations running at once keep each other's scores."""
    from ..runs.folder import atomic_write_text, exclusively

    path = run / "evaluation.json"
    settings = {"step": result["step"], "samples": result["samples"], "seed": seed, "classifier": classifier}
    with _kept_or_said(path, result), exclusively(run / EVALUATION_LOCK):
        try:
            kept = json.loads(path.read_text()).get("metrics", {}) if path.is_file() else {}
        except (OSError, ValueError, AttributeError):
            kept = {}  # unreadable or from before metrics were kept apart: replaced
        for name, values in each.items():
            kept[name] = strict(values) | settings
        merged = {"run": str(run), "generator": result["generator"], "metrics": dict(sorted(kept.items()))}
        atomic_write_text(path, json.dumps(merged, indent=1, allow_nan=False))


@contextmanager
def _kept_or_said(path: Path, result: dict):
    """Scores that the disk refuses to keep (full, read-only) still reach the user: NotWritten carries them to the
    CLI."""
    from ..runs.folder import NotWritten, on_write_failure

    with on_write_failure(
        lambda cause: NotWritten(
            f"cannot write {path} ({cause}); the scores are printed above but not kept there", result
        )
    ):
        yield


def _write(run: Path, result: dict) -> dict:
    """A likelihood or text run's scores, whole, as strict JSON in RUN/evaluation.json (one set of scores: nothing to
    merge)."""
    from ..runs.folder import atomic_write_text

    result = {k: (float(v) if isinstance(v, torch.Tensor) else v) for k, v in result.items()}
    with _kept_or_said(run / "evaluation.json", result):
        atomic_write_text(run / "evaluation.json", json.dumps(strict(result), indent=1, allow_nan=False))
    return result
