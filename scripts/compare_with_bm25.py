"""A text embedder's recall@1 against BM25's on the same held-out cloze queries, with a paired bootstrap.

Each run's metrics.json gives both recall@1s with their own Wilson intervals; whether one is above the other is a
question about their difference on the same queries, which this answers: 10,000 resamples of the queries, each
counting the queries the network finds first minus those BM25 finds first.

    python scripts/compare_with_bm25.py runs/text_embedder_ngrams [RUN ...] [--network reader]
"""

from __future__ import annotations

import argparse

import torch

import gan
from gan import config as C
from gan.data.cloze import open_cloze
from gan.measure.bm25 import cloze_bm25_scores
from gan.measure.retrieval import embed


def first(scores, owner: torch.Tensor) -> torch.Tensor:
    """1 for each query whose own passage scores above every other (a tie is not a win), else 0."""
    s = torch.as_tensor(scores).double()
    return ((s >= s.gather(1, owner[:, None])).sum(1) <= 1).double()


def compare(run: str, network: str, resamples: int = 10_000) -> str:
    cfg = C.load(f"{run}/config.yaml")
    net = gan.load(run, network)
    _, held = open_cloze(cfg.data, net.source)
    q, p, own = (embed(net, t, batch=128) for t in (held.query_tokens, held.x, held.own_tokens))
    owner = torch.as_tensor(held.owner)
    s = q @ p.T
    s[torch.arange(len(s)), owner] = (q * own).sum(1)  # its own passage with the query taken out, as training scores
    a = first(s, owner)
    b = first(cloze_bm25_scores(held.queries, held.texts, held.owner, held.own_texts), owner)
    idx = torch.randint(len(a), (resamples, len(a)), generator=torch.Generator().manual_seed(0))
    d = (a[idx] - b[idx]).mean(1).sort().values
    lo, hi = d[int(0.025 * resamples)], d[int(0.975 * resamples) - 1]
    return (
        f"{run}: network {a.mean():.3f}, BM25 {b.mean():.3f}, difference {a.mean() - b.mean():+.3f} "
        f"[{lo:+.3f}, {hi:+.3f}] (paired 95%); found by both {int((a * b).sum())}, network only "
        f"{int((a * (1 - b)).sum())}, BM25 only {int(((1 - a) * b).sum())} of {len(a)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="run folders of the contrastive loop on cloze pairs")
    parser.add_argument("--network", default="reader", help="the embedder's network name (default: reader)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    for run in args.runs:
        print(compare(run, args.network))


if __name__ == "__main__":
    main()
