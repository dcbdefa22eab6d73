"""Quality against wall-clock seconds: train a config, score its averaged generator at fixed intervals.

A default is chosen on what a user gets in the minutes they wait, so the curve's x axis is training
seconds (scoring time left out), and every point scores the moving average of the generator's weights,
as ``gan sample`` would draw it. Each point: the Frechet distance in the digits classifier's features
(against all real digits; the floor is two halves of them), precision and recall (k = 3) against one
half of the real digits with as many samples as the other half holds, beside that half's own values,
and the classes the classifier finds. ``limit`` trains on the first N digits of a seeded shuffle, the
limited-data setting of DiffAugment's tables, and still scores against all of them.

On a shared machine, wall-clock seconds measure the neighbours too. ``every_steps`` scores at fixed
steps instead, and ``pace`` (seconds a step takes on the machine the curve is meant for, measured alone
with ``gan benchmark speed``) turns steps into seconds: quality per step does not depend on the load,
and a step's cost does not depend on how far training has gone, so the runs themselves may share the CPU.

Results go to one JSON file that several calls fill (one label per candidate, one list per seed) and
to a PNG of the mean curve of each label, drawn with Pillow (no plotting library needed).
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

import torch

from .. import config as C
from .. import data as datasets
from ..eval_mode import evaluating
from ..measure import metrics as M
from ..measure.evaluation import digits_classifier
from ..measure.scoring import _classifier_in, _features
from ..measure.shipped_metrics import manifold_scores
from ..runs.folder import load
from ..verbs.sampling import draw


def train_curve(
    config: Path,
    *,
    seconds: float,
    every: float,
    seed: int,
    output: Path,
    overrides: list[str] = (),
    samples: int = 2000,
    limit: int | None = None,
    label: str | None = None,
    every_steps: int | None = None,
    pace: float | None = None,
) -> dict:
    """Train ``config`` for ``seconds`` of training time (or to ``run.steps``), scoring every ``every`` seconds
    or every ``every_steps`` steps; returns the series."""
    from ..loops.setup import adversarial_loop
    from ..session.session import Session

    # the label may hold any character; the run folder's name only those a folder name takes everywhere
    folder = re.sub(r"[^A-Za-z0-9_.+-]+", "_", label or Path(config).stem).strip("._") or "curve"
    name = f"{folder}_seed{seed}" + (f"_limit{limit}" if limit else "")
    cfg = C.load(
        config, [*overrides, f"run.seed={seed}", f"run.output={output}", f"run.name={name}", "run.progress=false"]
    )
    if cfg.data.name != "digits":
        raise C.ConfigError(
            f"data.name: the curve is scored with the digits classifier; expected digits, got {cfg.data.name!r}"
        )
    reader, f_real, floor = _reference(cfg, output)
    with Session(cfg, overwrite=True) as session:
        loop = adversarial_loop(session)
        if limit:
            loop.batches = _limited(cfg, loop, limit)
        points = _scored_run(
            session, loop, reader, f_real, floor, name, seconds, every, every_steps, pace, samples, seed
        )
    return {
        "label": label or Path(config).stem,
        "config": str(config),
        "overrides": list(overrides),
        "seed": seed,
        "limit": limit,
        "samples": samples,
        "pace": pace,
        "fid_floor": floor,
        "points": points,
        "stopped_by": session.stop_signal,
    }


def _scored_run(session, loop, reader, f_real, floor, name, seconds, every, every_steps, pace, samples, seed):
    """Train, scoring at the due times, until the seconds or the steps run out or a signal stops it."""
    from ..session.session import Clock

    cfg = session.cfg
    points: list[dict] = []
    clock, trained, due = Clock(), 0.0, 0.0
    while True:
        scheduled = session.step % every_steps == 0 if every_steps else trained >= due
        if scheduled or session.step >= cfg.run.steps:
            x = session.step * pace if pace else trained
            points.append(
                dict(
                    _score(loop, reader, f_real, samples, seed),
                    seconds=round(x, 2),
                    step=session.step,
                    measured_seconds=round(trained, 2),
                )
            )
            _say(
                f"{name}: {trained:.0f} s, step {session.step}: Frechet distance "
                f"{points[-1]['fid_classifier']:.1f} (floor {floor:.1f})"
            )
            due += every
        if (not every_steps and trained >= seconds) or session.step >= cfg.run.steps:
            break
        if session.stop_signal is not None:  # Ctrl-C or SIGTERM: keep the points scored so far, run no further
            _say(
                f"{name}: stopped by signal {session.stop_signal} at step {session.step}; the {len(points)} "
                "points scored are kept"
            )
            break
        start = time.perf_counter()
        loop.step(clock)
        trained += time.perf_counter() - start
    return points


def _reference(cfg: C.Config, output: Path):
    """The digits classifier (trained once into ``output``), its features of the real digits, and their floor:
    the Frechet distance between two halves of the real digits."""
    folder = digits_classifier(output)
    reader = load(folder, _classifier_in(folder))
    real = datasets.open_examples(cfg.data, reader.source)
    f_real = _features(reader, real.x)
    perm = torch.randperm(len(f_real), generator=torch.Generator().manual_seed(0))
    floor = M.frechet_distance(f_real[perm[: len(perm) // 2]], f_real[perm[len(perm) // 2 :]])
    return reader, f_real, floor


def _limited(cfg: C.Config, loop, limit: int):
    """Batches from the first ``limit`` examples of a fixed shuffle (the same subset for every seed)."""
    source = datasets.open_examples(cfg.data, loop.data_space)
    if not isinstance(source, datasets.Examples) or limit > len(source):
        raise C.ConfigError(
            f"--limit {limit}: expected at most the {len(getattr(source, 'x', []))} in-memory examples of "
            f"{cfg.data.name}"
        )
    keep = torch.randperm(len(source), generator=torch.Generator().manual_seed(0))[:limit]
    subset = datasets.Examples(source.x[keep], None if source.y is None else source.y[keep], source.classes)
    acc = loop.acc
    return datasets.batches(
        cfg.data, subset, seed=cfg.run.seed, rank=acc.process_index, world=acc.num_processes, device=acc.device
    )


@torch.no_grad()
def _score(loop, reader, f_real: torch.Tensor, samples: int, seed: int) -> dict:
    net = loop.ema.module if loop.ema else loop.G_net
    with evaluating(net):
        fake = torch.cat([draw(net, min(500, samples - i), seed=seed + i).cpu() for i in range(0, samples, 500)])
    f_fake = _features(reader, fake)
    labels = torch.cat([reader(fake[i : i + 500]).argmax(-1) for i in range(0, len(fake), 500)])
    out = {"fid_classifier": M.frechet_distance(f_real, f_fake), "classes_found": int(labels.unique().numel())}
    out["kid_classifier"], _ = M.kernel_distance(f_real, f_fake, generator=torch.Generator().manual_seed(seed))
    out.update(manifold_scores("precision_recall", f_real, f_fake, seed))
    return out


def record(result: dict, path: Path) -> dict:
    """Add one run's series to the JSON at ``path`` (label -> list of seeds' series); returns the whole file."""
    path = Path(path)
    table = json.loads(path.read_text()) if path.is_file() else {}
    runs = [
        r
        for r in table.get(result["label"], [])
        if (r["seed"], r.get("limit")) != (result["seed"], result.get("limit"))
    ]
    table[result["label"]] = sorted([*runs, result], key=lambda r: (r.get("limit") or 0, r["seed"]))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(table, indent=1))
    return table


def set_pace(table: dict, label: str, pace: float) -> dict:
    """Put a pace measured after the runs on every run of ``label``: seconds become step x pace.

    >>> set_pace({"a": [{"points": [{"step": 500, "seconds": 90.0}]}]}, "a", 0.03)["a"][0]["points"][0]["seconds"]
    15.0
    """
    for run in table[label]:
        run["pace"] = pace
        for point in run["points"]:
            point.setdefault("measured_seconds", point["seconds"])
            point["seconds"] = round(point["step"] * pace, 2)
    return table


def mean_curves(table: dict, key: str = "fid_classifier") -> dict[str, list[tuple[float, float]]]:
    """Per label (and limit), the mean over seeds of ``key`` at each scoring point, at the seeds' mean seconds.

    >>> t = {"a": [{"seed": 0, "points": [{"seconds": 0, "v": 4}, {"seconds": 10, "v": 2}]},
    ...            {"seed": 1, "points": [{"seconds": 0, "v": 6}, {"seconds": 12, "v": 4}]}]}
    >>> mean_curves(t, "v")
    {'a': [(0.0, 5.0), (11.0, 3.0)]}
    """
    curves = {}
    for label, runs in table.items():
        for limit in sorted({r.get("limit") for r in runs}, key=lambda v: v or 0):
            group = [r["points"] for r in runs if r.get("limit") == limit]
            n = min(len(p) for p in group)
            name = label if limit is None else f"{label}, {limit} images"
            curves[name] = [
                (sum(p[i]["seconds"] for p in group) / len(group), sum(p[i][key] for p in group) / len(group))
                for i in range(n)
            ]
    return curves


def picture(table: dict, path: Path) -> Path:
    """The picture of a curve JSON: every label's mean over seeds, with the real-vs-real floor."""
    floor = next((r["fid_floor"] for runs in table.values() for r in runs if r.get("fid_floor") is not None), None)
    return plot(
        mean_curves(table),
        path,
        title="Frechet distance in the digits classifier's features (mean over seeds)",
        ylabel="Frechet distance",
        floor=floor,
    )


# matplotlib's tab10, the colours readers of curves know.
_COLOURS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40)]
_COLOURS += [(148, 103, 189), (140, 86, 75), (227, 119, 194), (127, 127, 127)]


def plot(
    curves: dict[str, list[tuple[float, float]]],
    path: Path,
    *,
    title: str,
    ylabel: str,
    floor: float | None = None,
    log: bool = True,
) -> Path:
    """Line chart of each curve (x: seconds) as a PNG, drawn with Pillow; ``floor`` as a grey dashed line.

    ``log``: a logarithmic y axis, so the early thousands and the last tens near the floor both show.
    """
    import math

    from PIL import Image, ImageDraw

    if log:  # plot log10 of the values; the tick labels still say the values
        curves = {k: [(x, math.log10(max(y, 1e-9))) for x, y in c] for k, c in curves.items()}
        floor = None if floor is None else math.log10(max(floor, 1e-9))
    shown = (lambda v: f"{10**v:.4g}") if log else (lambda v: f"{v:.4g}")  # noqa: E731

    colours = _COLOURS
    w, h, left, right, top, bottom = 900, 560, 70, 230, 40, 50
    xs = [x for c in curves.values() for x, _ in c] or [0.0, 1.0]
    ys = [y for c in curves.values() for _, y in c] + ([floor] if floor is not None else []) or [0.0, 1.0]
    x0, x1 = 0.0, max(max(xs), 1e-9)
    y0, y1 = (min(ys), max(ys)) if log else (0.0, max(max(ys), 1e-9))
    pad = (y1 - y0) * 0.05 or 1.0
    y0, y1 = (y0 - pad if log else y0), y1 + pad  # room above the highest point (and below the lowest, on a log axis)
    px = lambda x: left + (x - x0) / (x1 - x0) * (w - left - right)  # noqa: E731
    py = lambda y: h - bottom - (y - y0) / (y1 - y0) * (h - top - bottom)  # noqa: E731
    img = Image.new("RGB", (w, h), "white")
    d = ImageDraw.Draw(img)
    d.text((left + 120, 12), title, fill="black")
    d.rectangle([left, top, w - right, h - bottom], outline="black")
    for i in range(6):  # ticks: five even steps on each axis
        xv, yv = x0 + (x1 - x0) * i / 5, y0 + (y1 - y0) * i / 5
        d.line([px(xv), h - bottom, px(xv), h - bottom + 5], fill="black")
        d.text((px(xv) - 12, h - bottom + 8), f"{xv:.3g}", fill="black")
        d.line([left - 5, py(yv), left, py(yv)], fill="black")
        d.text((8, py(yv) - 6), shown(yv), fill="black")
    d.text(((left + w - right) // 2 - 60, h - 20), "training seconds", fill="black")
    d.text((8, top - 20), ylabel + (" (log scale)" if log else ""), fill="black")
    if floor is not None:
        for xa in range(left, w - right, 12):
            d.line([xa, py(floor), min(xa + 6, w - right), py(floor)], fill=(150, 150, 150))
        d.text((w - right + 8, py(floor) - 6), "real vs real", fill=(120, 120, 120))
    for k, (name, points) in enumerate(curves.items()):
        colour = colours[k % len(colours)]
        line = [(px(x), py(y)) for x, y in points]
        if len(line) > 1:
            d.line(line, fill=colour, width=2)
        for x, y in line:
            d.ellipse([x - 3, y - 3, x + 3, y + 3], fill=colour)
        d.line([w - right + 8, top + 10 + 18 * k, w - right + 28, top + 10 + 18 * k], fill=colour, width=3)
        d.text((w - right + 32, top + 4 + 18 * k), name[:30], fill="black")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return Path(path)


def _say(message: str) -> None:
    print(f"curve: {message}", file=sys.stderr, flush=True)
