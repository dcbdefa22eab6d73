"""Text benchmark: held-out bits per character against compressors, the two views at equal examples,
and the likelihood loop's characters per second against a plain PyTorch loop over the same network.

Training never imports this module; ``scripts/benchmark_text.py`` runs it and prints a table for
BENCHMARKS.md.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from networks import build
from networks.spaces import PAD

from .. import config as C
from ..data import text as text_data
from ..loops import get
from ..measure.evaluation import evaluate
from ..session.optim import decay_factor


def _load(config: Path, output: Path, name: str, overrides: list[str] = ()) -> C.Config:
    return C.load(config, [*overrides, f"run.output={output}", f"run.name={name}", "run.progress=false"])


def quality(config: Path, output: Path, overrides: list[str] = ()) -> dict:
    """Train ``config`` as shipped (plus overrides), then ``gan evaluate`` it: bpc, accuracy, compressor anchors, wall
    time."""
    cfg = _load(config, output, config.stem, overrides)
    start = time.perf_counter()
    run = get(cfg.loop)(cfg, overwrite=True)
    seconds = (
        time.perf_counter() - start
    )  # training only (held-out scores at sample steps included), not the evaluation below
    return dict(evaluate(run), seconds=seconds, steps=cfg.run.steps)


def views(config: Path, output: Path, updates: int, prefix_batch: int = 256, overrides: list[str] = ()) -> list[dict]:
    """Both views for ``updates`` updates of the same number of characters each: equal examples seen.

    The prefixes view takes ``prefix_batch`` prefixes a micro-batch and as many micro-batches as it
    needs to match the characters of one batch of sentences (gradient accumulation), so both runs
    take the same number of updates of the same size.
    """
    cfg = _load(config, output, "views", overrides)
    train, _ = text_data.open_corpus(cfg.data, build(dict(next(iter(cfg.networks.values())))).source).split(
        cfg.data.holdout
    )
    per_update = cfg.data.batch_size * train.characters / len(train)  # characters in a batch of sentences, on average
    accum = max(1, round(per_update / prefix_batch))
    common = [f"run.steps={updates}", f"run.sample_every={updates}", f"run.checkpoint_every={updates}"]
    rows = []
    for view, extra in (
        ("sentences", []),
        ("prefixes", [f"data.batch_size={prefix_batch}", f"run.grad_accum={accum}"]),
    ):
        row = quality(config, output, [*overrides, *common, f"data.view={view}", *extra])
        row.update(view=view, examples=round(updates * (per_update if view == "sentences" else prefix_batch * accum)))
        row["characters_per_second"] = row["examples"] / row["seconds"]
        rows.append(row)
    return rows


class PlainLoop:
    """The loop a user would write for the same network and the same batches (``TextBatches``): one
    pass, cross-entropy over real characters, clip, AdamW, the config's learning-rate schedule."""

    def __init__(self, cfg: C.Config, corpus: text_data.Corpus, seed: int = 0):
        torch.manual_seed(seed)
        spec = dict(next(iter(cfg.networks.values())))
        spec.pop("init", None)
        self.net, self.cfg, self.corpus = build(spec), cfg, corpus
        opt = cfg.optimizers.get("classifier") or C.default_optimizer("likelihood", "classifier")
        self.opt = torch.optim.AdamW(
            self.net.parameters(), lr=opt.lr, betas=opt.betas, weight_decay=opt.weight_decay, fused=True
        )
        self.lr = opt.lr
        self.batches, self.step = text_data.TextBatches(corpus, "sentences", cfg.data.batch_size, seed=seed), 0

    def iteration(self) -> int:
        _, s = next(self.batches)
        for group in self.opt.param_groups:
            group["lr"] = self.lr * decay_factor(self.cfg.run, self.step)
        logits = self.net(s, every_prefix=True)[:, :-1]
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), s.reshape(-1), ignore_index=PAD)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.net.parameters(), self.cfg.objective.clip_grad_norm or float("inf"))
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        self.step += 1
        return self.batches.characters


def throughput(config: Path, output: Path, steps: int = 20, rounds: int = 8, overrides: list[str] = ()) -> dict:
    """Characters per second of the toolkit's likelihood loop and of ``PlainLoop``, timed in alternating blocks.

    As the speed benchmark times the adversarial loop: after a warm-up, the two loops alternate round
    after round, each taking the same batches in a round (each reads its own copy of the batch order),
    and which goes first alternates too, so that a background process or a slow drift favours neither;
    each round gives one paired ratio, and the ratio reported is their median. The TensorBoard event
    file, which the toolkit opens at its first logging step (once a run), is opened before the rounds.
    """
    from ..loops.setup import likelihood_loop
    from ..session.progress import Clock
    from ..session.session import Session

    cfg = _load(
        config, output, "throughput", [*overrides, "data.view=sentences", f"run.steps={4 * (rounds + 1) * steps}"]
    )
    ours, plain = [], []
    with Session(cfg, overwrite=True) as session:
        loop = likelihood_loop(session)
        reference = PlainLoop(cfg, loop.train_set)
        clock = Clock()

        def toolkit_block() -> int:
            chars = 0
            for _ in range(steps):
                stats = loop.iteration(session.log_due())
                session.end_step(stats, cfg.data.batch_size, clock)
                chars += loop.batches.characters
            return chars

        def plain_block() -> int:
            return sum(reference.iteration() for _ in range(steps))

        toolkit_block(), plain_block()  # warm-up: allocator, first-call kernels
        _ = session.writer  # opened at the first logging step, once a run: not a cost of the step
        for r in range(rounds):
            pair = [(toolkit_block, ours), (plain_block, plain)]
            for block, rates in pair if r % 2 == 0 else pair[::-1]:
                start = time.perf_counter()
                chars = block()
                rates.append(chars / (time.perf_counter() - start))
    ratios = [a / b for a, b in zip(ours, plain)]
    return {
        "toolkit_characters_per_second": statistics.median(ours),
        "plain_characters_per_second": statistics.median(plain),
        "ratio": statistics.median(ratios),
        "ratio_min": min(ratios),
        "ratio_max": max(ratios),
        "rounds": rounds,
        "steps_per_round": steps,
    }


def table(model: dict | None, views_rows: list[dict], speed: dict | None) -> str:
    lines = []
    if model:
        lines += [
            "| metric | bits per character |",
            "|---|---|",
            f"| held-out, configs/text_model.yaml ({model['steps']} steps, {model['seconds'] / 60:.1f} min) | "
            f"{model['held_out_bits_per_character']:.3f} |",
        ]
        for tool in ("lzma", "bz2", "zlib"):
            lines.append(
                f"| {tool}, held-out alone / given the training text | {model[f'{tool}_bits_per_character']:.3f} / "
                f"{model[f'{tool}_given_train_bits_per_character']:.3f} |"
            )
        lines += [f"| next-character accuracy (held-out) | {model['held_out_accuracy']:.3f} |", ""]
    if views_rows:
        s, p = views_rows
        lines += ["| view | examples (characters) | held-out bpc | characters/s | minutes |", "|---|---|---|---|---|"]
        for row in views_rows:
            lines.append(
                f"| {row['view']} | {row['examples']:,} | {row['held_out_bits_per_character']:.3f} | "
                f"{row['characters_per_second']:,.0f} | {row['seconds'] / 60:.1f} |"
            )
        lines += [
            "\nprefixes / sentences held-out bpc: "
            f"{p['held_out_bits_per_character'] / s['held_out_bits_per_character']:.3f}; "
            f"the prefix view is {s['characters_per_second'] / p['characters_per_second']:.0f}x slower per example",
            "",
        ]
    if speed:
        lines += [
            "| loop | characters/s |",
            "|---|---|",
            f"| gan likelihood loop | {speed['toolkit_characters_per_second']:,.0f} |",
            f"| plain PyTorch loop | {speed['plain_characters_per_second']:,.0f} |",
            f"| ratio | {speed['ratio']:.3f} |",
            f"| ratio per round ({speed['rounds']} rounds of {speed['steps_per_round']} steps), min / max | "
            f"{speed['ratio_min']:.3f} / {speed['ratio_max']:.3f} |",
        ]
    return "\n".join(lines)
