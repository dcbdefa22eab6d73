"""Which bodies make good distance functions? Retrieval scores of the digits under every embedding the toolkit has.

    python -m gan train --set run.output=/tmp/emb/runs            # the default GAN, once (about 90 s)
    python scripts/benchmark_embeddings.py --gan /tmp/emb/runs/digits   # trains the rest per seed; a markdown table

Rows, for each seed scored on the contrastive loop's own split under that seed (data.holdout 0.2: 1,000 held-out
queries against the 4,000 training references, cosine similarity, ``retrieval_scores``):

- raw pixels, and PCA of the pixels (fit on the references);
- the bodies' own features, read as they are (flattened, unit rows): an untrained conv body, the GAN critic's body,
  the body of configs/digits_classifier.yaml trained under that seed;
- each of those three bodies frozen under a new ``sphere[64]`` head that the contrastive loop trains for
  ``--head-steps`` steps (the role swap of configs/digits_embedder_critic.yaml);
- configs/digits_embedder.yaml trained end to end under that seed.

The critic saw all 5,000 digits while it judged them (the default run holds none out); the classifier and the
embedders only that seed's 4,000 references: said beside its row.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gan import data as datasets  # noqa: E402
from gan.cli import main as gan  # noqa: E402
from gan.config import Data  # noqa: E402
from gan.eval_mode import evaluating  # noqa: E402
from gan.measure.retrieval import embed, retrieval_scores  # noqa: E402
from gan.runs.folder import load  # noqa: E402
from networks import build, parse  # noqa: E402

SPACE = "image[1,28,28]"
BODY = {"family": "conv", "source": SPACE, "width": 32}


def split(seed: int):
    """The contrastive loop's own split of the bundled digits under ``seed``: (references, held-out queries)."""
    examples = datasets.open_examples(Data(name="digits"), parse(SPACE))
    return examples.split(0.2, seed)


@torch.no_grad()
def body_features(net, x: torch.Tensor) -> torch.Tensor:
    with evaluating(net):
        return F.normalize(torch.cat([net.features(x[i : i + 500]) for i in range(0, len(x), 500)]).float(), dim=1)


def pixel_rows(refs, held) -> dict:
    flat_r, flat_q = refs.x.flatten(1), held.x.flatten(1)
    rows = {"raw pixels (784)": (F.normalize(flat_r, dim=1), F.normalize(flat_q, dim=1))}
    mean = flat_r.mean(0)
    torch.manual_seed(0)  # pca_lowrank is randomised
    _, _, v = torch.pca_lowrank(flat_r - mean, q=64, center=False)
    rows["PCA of pixels (64)"] = tuple(F.normalize((f - mean) @ v, dim=1) for f in (flat_r, flat_q))
    return rows


def bodies(gan_run: Path, classifier_run: Path, seed: int) -> dict:
    torch.manual_seed(seed)
    untrained = build({**BODY, "target": "bernoulli"})
    return {
        "untrained conv body": (untrained, None),
        "GAN critic's body (trained on all 5,000 digits)": (
            load(gan_run, "critic"),
            {"run": str(gan_run), "network": "critic"},
        ),
        "digits classifier's body": (load(classifier_run, "reader"), {"run": str(classifier_run), "network": "reader"}),
    }


def trained(folder: Path, name: str, config: str, seed: int, *, steps: int | None = None, network=None) -> Path:
    """A run of ``configs/<config>.yaml`` under ``seed`` (and ``network`` in place of its only network)."""
    cfg = yaml.safe_load((ROOT / "configs" / f"{config}.yaml").read_text())
    if network is not None:
        cfg["networks"] = {next(iter(cfg["networks"])): network}
    steps = steps or cfg["run"]["steps"]
    cfg["run"].update(steps=steps, seed=seed, output=str(folder), checkpoint_every=steps, sample_every=steps)
    cfg["run"]["progress"] = False
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert gan(["train", str(path)]) == 0, f"training {name} failed"
    return folder / name


def train_head(folder: Path, name: str, init, steps: int, seed: int) -> torch.nn.Module:
    """A new sphere[64] head on a frozen body (``init``: the body's run; None: an untrained body), trained by the
    contrastive loop with configs/digits_embedder.yaml's settings."""
    spec = {**BODY, "target": "sphere[64]", "freeze_body": True}
    if init is not None:
        spec["init"] = init
    return load(trained(folder, name, "digits_embedder", seed, steps=steps, network=spec), "embedder")


def seed_rows(folder: Path, gan_run: Path, seed: int, head_steps: int) -> dict[str, dict]:
    """Every row's scores under ``seed``: its split, and the classifier, heads and embedder trained under it."""
    refs, held = split(seed)
    pairs = pixel_rows(refs, held)
    classifier_run = trained(folder, "classifier", "digits_classifier", seed)
    for i, (label, (net, init)) in enumerate(bodies(gan_run, classifier_run, seed).items()):
        pairs[f"{label}: features as they are"] = (body_features(net, refs.x), body_features(net, held.x))
        head = train_head(folder, f"head{i}", init, head_steps, seed)
        pairs[f"{label}: frozen, new sphere[64] head"] = (embed(head, refs.x), embed(head, held.x))
    net = load(trained(folder, "embedder", "digits_embedder", seed), "embedder")
    pairs["trained end to end (configs/digits_embedder.yaml)"] = (embed(net, refs.x), embed(net, held.x))
    return {label: retrieval_scores(q, held.y, r, refs.y) for label, (r, q) in pairs.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--gan", type=Path, required=True, help="a finished default run (configs/digits.yaml)")
    p.add_argument("--head-steps", type=int, default=600, help="steps of each frozen body's new head (default 600)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds: split, heads, bodies")
    args = p.parse_args()
    scores: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            for label, row in seed_rows(Path(tmp) / str(seed), args.gan, seed, args.head_steps).items():
                scores.setdefault(label, []).append(row)
    print(f"Seeds {args.seeds}, each with its own split, classifier, embedder and heads ({args.head_steps} steps).\n")
    print("| embedding | precision@1 | R-precision | MAP@R | seeds |")
    print("|---|---|---|---|---|")
    for label, runs in scores.items():
        cells = [spread([s[k] for s in runs]) for k in ("precision_at_1", "r_precision", "map_at_r")]
        print(f"| {label} | {' | '.join(cells)} | {len(runs)} |")


def spread(values: list[float]) -> str:
    t = torch.tensor(values, dtype=torch.float64)
    return f"{t.mean():.3f}" if len(t) == 1 else f"{t.mean():.3f} ± {t.std():.3f}"


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    print(f"({time.perf_counter() - started:.0f} s)", file=sys.stderr)
