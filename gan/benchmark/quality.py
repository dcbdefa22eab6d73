"""Quality benchmark: train the shipped configs over several seeds, score them, tabulate.

The table sits beside the published numbers for the same protocol (PacGAN, Lin et al.
2018, arXiv 1712.04086, section 5.1; VEEGAN, Srivastava et al. 2017, arXiv 1705.07761,
Table 1), so a reader can compare.
"""

from __future__ import annotations

import json
import math
import statistics
import sys
import time
from pathlib import Path

import torch

from .. import config as C
from ..device import precision
from ..loops import get
from ..measure.evaluation import evaluate
from ..words import counted
from .markdown import read_section, write_section
from .speed.machine import describe

# (method, modes, high-quality %, reverse KL, source): only the rows we could check against
# the papers' tables (PacGAN Tables 2-3 reproduce ALI and VEEGAN from VEEGAN's Table 1).
PUBLISHED = {
    "ring": [
        ("GAN", 6.3, 98.2, None, "PacGAN, 2D-ring table"),
        ("PacGAN3", 7.8, 97.7, None, "PacGAN, 2D-ring table"),
    ],
    "grid": [
        ("GAN", 17.3, 94.8, None, "PacGAN, 2D-grid table"),
        ("PacGAN4", 24.8, 93.6, None, "PacGAN, 2D-grid table"),
        ("ALI", 24.1, 95.7, None, "PacGAN, 2D-grid table"),
        ("VEEGAN", 24.6, 40.0, None, "VEEGAN Table 1"),
    ],
}


def train_and_score(
    config: Path, seed: int, output: Path, overrides: list[str] = (), classifier: str | None = None
) -> dict:
    cfg = C.load(
        config,
        [
            *overrides,
            f"run.seed={seed}",
            f"run.output={output}",
            f"run.name={config.stem}_seed{seed}",
            "run.progress=false",
        ],
    )
    print(
        f"gan benchmark quality: training {cfg.run.name} ({config.name}, {counted(cfg.run.steps, 'step')})",
        file=sys.stderr,
        flush=True,
    )
    settled = precision(cfg.run)  # auto: bf16 or fp32 on this machine
    mixed = "" if settled == "no" else f", {settled}"
    start = time.perf_counter()
    run = get(cfg.loop)(cfg)  # never overwrite: ``run`` checked that no folder is in the way
    seconds = time.perf_counter() - start
    print(f"gan benchmark quality: {cfg.run.name} trained in {seconds:.0f} s; scoring it", file=sys.stderr, flush=True)
    metrics = ["fid_classifier", "kid_classifier", "label_coverage", "precision_recall", "density_coverage"]
    row = dict(
        evaluate(run, metrics=metrics if classifier else None, classifier=classifier),
        seconds=seconds,
        seed=seed,
        # seconds from two CPUs, or two precisions, do not compare: the table names this one (and bf16 where it ran)
        machine=f"{describe(torch.device('cpu'))}, {torch.get_num_threads()} threads" + mixed,
    )
    if row.get("fid_classifier_half") is not None and row.get("fid_classifier_floor") is not None:
        # the floor is mostly the estimator's own bias at this sample size: subtracted as well as divided, from
        # the distance measured at the floor's own size (the whole sets' reads less bias than the floor does)
        row["fid_classifier_above_floor"] = row["fid_classifier_half"] - row["fid_classifier_floor"]
        row["fid_classifier_over_floor"] = row["fid_classifier_half"] / row["fid_classifier_floor"]
    return row


def summarise(rows: list[dict], key: str, decimals: int = 2) -> str:
    values = [r[key] for r in rows if r.get(key) is not None]
    if not values:
        return "-"
    if not all(map(math.isfinite, values)):  # e.g. reverse KL with no high-quality sample at all
        return f"inf on {sum(not math.isfinite(v) for v in values)} of {counted(len(values), 'seed')}"
    mean = statistics.fmean(values)
    spread = statistics.pstdev(values) if len(values) > 1 else 0.0
    scale = 100.0 if key == "high_quality" else 1.0
    d = decimals
    return f"{mean * scale:.{d}f} ± {spread * scale:.{d}f} (min {min(values) * scale:.{d}f})"


def toy_table(name: str, rows: list[dict]) -> str:
    lines = [
        f"### {name.capitalize()} ({'8 Gaussians, std 0.01' if name == 'ring' else '25 Gaussians, std 0.05'}; 2,500 "
        f"samples; {counted(len(rows), 'seed')})",
        "",
        "| method | modes | high-quality % | reverse KL | wall time per run (s) |",
        "| --- | --- | --- | --- | --- |",
        f"| **this toolkit** (`configs/{name}.yaml`) | {summarise(rows, 'modes')} | {summarise(rows, 'high_quality')} "
        f"| {summarise(rows, 'reverse_kl')} | {summarise(rows, 'seconds')} |",
    ]
    for method, modes, hq, kl, source in PUBLISHED[name]:
        lines.append(f"| {method} ({source}) | {modes} | {hq} | {kl if kl is not None else '-'} | - |")
    per_seed = ", ".join(
        f"seed {r['seed']}: {counted(r['modes'], 'mode')} / {100 * r['high_quality']:.1f}%" for r in rows
    )
    return "\n".join(lines + ["", f"Per seed: {per_seed}.", ""])


def digits_table(rows: list[dict]) -> str:
    lines = [
        f"### Bundled MNIST digits (`configs/digits.yaml`, {counted(len(rows), 'seed')}; features: our classifier "
        "`configs/digits_classifier.yaml`)",
        "",
        "| metric | this toolkit | real data (floor: two halves of the 5,000 digits) |",
        "| --- | --- | --- |",
        f"| classes found among {counted(rows[0]['samples'], 'sample')} | {summarise(rows, 'label_classes_found')} | "
        "10 |",
        f"| classes found among the first 1,000 | {summarise(rows, 'label_classes_found_in_1000')} | 10 |",
        f"| KL(sample labels ‖ data labels) | {summarise(rows, 'label_kl')} | 0 |",
        "| classifier-feature Frechet distance, every sample against every digit | "
        f"{summarise(rows, 'fid_classifier')} | - |",
        "| the same at the floor's size: half the samples against the half of the digits the floor reads | "
        f"{summarise(rows, 'fid_classifier_half')} | {summarise(rows, 'fid_classifier_floor')} |",
        f"| that less the floor | {summarise(rows, 'fid_classifier_above_floor')} | 0 |",
        f"| that over the floor | {summarise(rows, 'fid_classifier_over_floor')} | 1 |",
        "| classifier-feature kernel distance (KID, unbiased) | "
        f"{summarise(rows, 'kid_classifier', decimals=4)} | about 0 |",
    ]
    for key, k in (("precision", 3), ("recall", 3), ("density", 5), ("coverage", 5)):  # k as their authors
        lines.append(f"| {key} (k-NN, k = {k}) | {summarise(rows, key)} | {summarise(rows, key + '_real')} |")
    lines.append(f"| wall time per run (s) | {summarise(rows, 'seconds')} | |")
    per_seed = ", ".join(
        f"seed {r['seed']}: {r['fid_classifier']:.1f}"
        + (f" ({r['fid_classifier_half']:.1f} at the floor's size)" if r.get("fid_classifier_half") is not None else "")
        for r in rows
        if r.get("fid_classifier") is not None
    )
    return "\n".join(lines + ["", f"Frechet distance per seed: {per_seed}.", ""])


def run_names(which, toy_seeds: int, digits_seeds: int) -> list[str]:
    """The run folders a call creates under ``--output``, in the order it trains them."""
    names = [f"{name}_seed{s}" for name in ("ring", "grid") if name in which for s in range(toy_seeds)]
    return names + (
        ["digits_classifier", *(f"digits_seed{s}" for s in range(digits_seeds))] if "digits" in which else []
    )


def run(
    *,
    toy_seeds: int = 5,
    digits_seeds: int = 3,
    output: Path = Path("runs/benchmark"),
    which=("ring", "grid", "digits"),
    overrides: list[str] = (),
) -> dict:
    """Train and score; ``overrides`` (``run.steps=20``) apply to every GAN run, e.g. for a smoke test.

    Every run folder this call would create is checked first: one already under ``output`` (a
    user's run, or an earlier benchmark's) stops the call before anything trains, never replaced.
    ``output/quality.json`` is updated after each benchmark, so an interrupted run keeps what it
    measured; results of benchmarks not run this time stay in it.
    """
    taken = [output / n for n in run_names(which, toy_seeds, digits_seeds) if (output / n).exists()]
    if taken:
        raise C.ConfigError(
            f"--output {output}: run folder {str(taken[0])!r} is already there and a benchmark never replaces a run; "
            "choose another --output or move it away"
        )
    results: dict = {}
    try:
        previous = json.loads((output / "quality.json").read_text())
    except (OSError, ValueError):
        previous = {}
    previous = previous if isinstance(previous, dict) else {}

    def keep(name: str, rows: list[dict], table: str) -> None:
        results[name] = rows
        output.mkdir(parents=True, exist_ok=True)
        (output / "quality.json").write_text(json.dumps({**previous, **results}, indent=1, default=str))
        print(table, flush=True)

    for name in ("ring", "grid"):
        if name in which:
            rows = [
                train_and_score(C.shipped_folder() / f"{name}.yaml", s, output, list(overrides))
                for s in range(toy_seeds)
            ]
            keep(name, rows, toy_table(name, rows))
    if "digits" in which:
        cfg = C.load(
            C.shipped_folder() / "digits_classifier.yaml",
            [f"run.output={output}", "run.name=digits_classifier", "run.progress=false"],
        )
        classifier = get("likelihood")(cfg)
        rows = [
            train_and_score(C.shipped_folder() / "digits.yaml", s, output, list(overrides), classifier=str(classifier))
            for s in range(digits_seeds)
        ]
        keep("digits", rows, digits_table(rows))
    return results


def run_and_record(command: str, markdown_file: Path | None, **run_args) -> None:
    """``run``, then update ``markdown_file``'s Quality section with the rows measured (the others stay).

    The file is checked before the first run, so an hour of training never ends on a bad path.
    """
    if markdown_file is not None and (markdown_file.is_dir() or not markdown_file.parent.is_dir()):
        raise C.ConfigError(f"--markdown {markdown_file}: expected a markdown file in an existing folder")
    results = run(**run_args)
    if markdown_file is not None:
        write_section(markdown_file, "Quality", markdown(results, command, read_section(markdown_file, "Quality")))
        print(f"wrote the Quality section of {markdown_file}")


# The targets this toolkit holds itself to: every seed must find every mode, and
# high-quality share and wall time must clear these, on 2 CPU cores.
TARGETS = {
    "ring": {"modes": 8, "high_quality_every_seed": 0.98},  # no time target for the ring: the table shows it
    "grid": {"modes": 25, "high_quality_mean": 0.96, "seconds": 120},
}
# The default run, means of the seeds: the Frechet distance at the floor's size over the floor, precision, recall
DIGITS_TARGETS = {"fid_over_floor": 1.15, "precision": 0.70, "recall": 0.75, "classes_in_1000": 10, "seconds": 300}


def met(held: bool) -> str:
    return "met" if held else "**missed**"


def digits_verdict(rows: list[dict]) -> str:
    """The default run's targets, judged from the rows: the mean Frechet distance (at the floor's sample size) at
    most 1.15x the real-vs-real floor, precision at least 0.70 and recall 0.75 on average, every class among 1,000
    samples on every seed, at most 5 minutes a run."""
    t = DIGITS_TARGETS
    fid, floor = (statistics.fmean(r[k] for r in rows) for k in ("fid_classifier_half", "fid_classifier_floor"))
    ratio = fid / floor
    precision, recall = (statistics.fmean(r[k] for r in rows) for k in ("precision", "recall"))
    classes = min(r.get("label_classes_found_in_1000", r["label_classes_found"]) for r in rows)
    slowest = max(r["seconds"] for r in rows)
    parts = [
        f"Frechet distance at the floor's size at most {t['fid_over_floor']:g}x the floor on average: {fid:.1f} / "
        f"{floor:.1f} = {ratio:.2f}x, {met(ratio <= t['fid_over_floor'])}",
        f"precision at least {t['precision']:.2f}: {precision:.2f}, {met(precision >= t['precision'])}",
        f"recall at least {t['recall']:.2f}: {recall:.2f}, {met(recall >= t['recall'])}",
        f"all {t['classes_in_1000']} classes among 1,000 samples on every seed: "
        f"{'met' if classes >= t['classes_in_1000'] else f'**missed** (min {classes})'}",
        f"at most {t['seconds']} s a run: slowest {slowest:.0f} s, {met(slowest <= t['seconds'])}",
    ]
    return f"Targets for the digits ({counted(len(rows), 'seed')}): " + "; ".join(parts) + "."


def verdict(name: str, rows: list[dict]) -> str:
    """One sentence: each target of ``name``, the measured value, met or not."""
    t, parts = TARGETS[name], []
    modes = [r["modes"] for r in rows]
    parts.append(
        f"all {t['modes']} modes on every seed: "
        f"{'met' if min(modes) >= t['modes'] else f'**missed** (min {min(modes)})'}"
    )
    hq = [r["high_quality"] for r in rows]
    if "high_quality_mean" in t:
        mean = statistics.fmean(hq)
        parts.append(
            f"high-quality >= {100 * t['high_quality_mean']:.0f}% on average: {100 * mean:.2f}%, "
            f"{'met' if mean >= t['high_quality_mean'] else '**missed**'}"
        )
    if "high_quality_every_seed" in t:
        low = min(hq)
        parts.append(
            f"high-quality >= {100 * t['high_quality_every_seed']:.0f}% on every seed: lowest {100 * low:.2f}%, "
            f"{'met' if low >= t['high_quality_every_seed'] else '**missed**'}"
        )
    if "seconds" in t:
        slowest = max(r["seconds"] for r in rows)
        parts.append(
            f"under {t['seconds']} s a run: slowest {slowest:.0f} s, "
            f"{'met' if slowest < t['seconds'] else '**missed**'}"
        )
    return f"Targets for the {name} ({counted(len(rows), 'seed')}): " + "; ".join(parts) + "."


# how each generated block's heading starts: specific enough that a hand-written "### Ring (...)" is not taken for one
HEADINGS = {
    "ring": "### Ring (8 Gaussians",
    "grid": "### Grid (25 Gaussians",
    "digits": "### Bundled MNIST digits (`configs/digits.yaml`",
}
INTRO = (
    "Measured on 2 CPU cores, one process. Published rows are copied from the papers' tables "
    "(PacGAN: Lin et al. 2018, arXiv 1712.04086; VEEGAN: Srivastava et al. 2017, arXiv 1705.07761), "
    "same protocol: a sample is high-quality within 3 standard deviations of its nearest mode; a mode is "
    "captured with at least one high-quality sample; reverse KL of the mode histogram to uniform. "
    "The ceiling for samples of the true mixture is 1 - exp(-4.5) = 98.9% high-quality."
)


def block(name: str, rows: list[dict], command: str) -> str:
    """One benchmark's subsection: table, the command that made it and, for the toys, the targets' verdict."""
    table = toy_table(name, rows) if name in TARGETS else digits_table(rows)
    heading, rest = table.split("\n", 1)  # rest starts with the blank line before the table
    notes = [f"Reproduce: `{command}`", verdict(name, rows) if name in TARGETS else digits_verdict(rows)]
    machines = sorted({r["machine"] for r in rows if r.get("machine")})
    if machines:
        notes.insert(1, f"Measured on {' and '.join(machines)}.")
    return "\n\n".join([heading, *notes]) + "\n" + rest


def markdown(results: dict, command: str, previous: str = "") -> str:
    """The Quality section's body. Benchmarks not in ``results`` keep their block from ``previous``
    (the section as it stood), so ``--only ring`` updates the ring and leaves the grid's rows alone; subsections
    written by hand stay where they stood, and a benchmark new to the section goes in the order of ``HEADINGS``."""
    parts: list[tuple[str | None, str]] = []  # (benchmark name or None for a hand-written one, text)
    for chunk in previous.split("\n### ")[1:]:
        text = ("### " + chunk).strip() + "\n"
        name = next((n for n, heading in HEADINGS.items() if text.startswith(heading)), None)
        parts.append((name, block(name, results[name], command) if name in results else text))
    for i, name in enumerate(HEADINGS):
        if name in results and all(n != name for n, _ in parts):
            later = [j for j, (n, _) in enumerate(parts) if n in list(HEADINGS)[i + 1 :]]
            parts.insert(later[0] if later else len(parts), (name, block(name, results[name], command)))
    return "\n\n".join(text.strip() for text in [INTRO, *(text for _, text in parts)]) + "\n"
