"""Search with a network that writes ``sphere[D]``: embeddings, an index file, exact nearest neighbours, and the
retrieval scores of Musgrave, Belongie and Lim (2020, "A Metric Learning Reality Check").

On the unit sphere the dot product is the cosine similarity, so an exact search is one matrix product;
faiss (``IndexFlatIP``, the same exact search) is used when it imports, for indexes past memory's comfort.
An index remembers which network and which D wrote it: a query embedded by another network lands in
another space, where its neighbours would mean nothing.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from ..eval_mode import evaluating
from ..runs.folder import RunError


@torch.no_grad()
def embed(net, x: torch.Tensor, *, batch: int = 512) -> torch.Tensor:
    """Embeddings of ``x`` as float32 unit rows on the CPU, the network in evaluation mode (batch statistics fixed)."""
    device = next(net.parameters()).device
    with evaluating(net):
        parts = [net(x[i : i + batch].to(device)).float().cpu() for i in range(0, len(x), batch)]
    return torch.cat(parts) if parts else torch.zeros(0, net.target.dim)


def retrieval_scores(
    queries: torch.Tensor, query_labels, references: torch.Tensor, reference_labels, *, exclude_self: bool = False
) -> dict[str, float]:
    """precision@1, R-precision and MAP@R of ``queries`` against ``references`` (Musgrave et al. 2020, section 3.2).

    R is the number of references with the query's label. R-precision is the share of those among the R nearest;
    MAP@R = 1/R sum_{i<=R} P(i) [the i-th nearest is relevant], P(i) the precision of the first i. Queries with no
    relevant reference are left out (their R is 0). ``exclude_self``: the queries are the references, and a query is
    not its own neighbour.
    """
    q_labels = torch.as_tensor(query_labels).cpu()
    r_labels = torch.as_tensor(reference_labels).cpu()
    queries, references = queries.float().cpu(), references.float().cpu()
    counts = (q_labels[:, None] == r_labels[None, :]).sum(1) - (1 if exclude_self else 0)
    depth = int(counts.max()) if len(counts) else 0
    sums = {"precision_at_1": 0.0, "r_precision": 0.0, "map_at_r": 0.0}
    kept = 0
    for start in range(0, len(queries), 1024):  # a block of queries at a time: the similarity matrix stays small
        sim = queries[start : start + 1024] @ references.T
        if exclude_self:
            rows = torch.arange(len(sim))
            sim[rows, rows + start] = float("-inf")
        order = sim.topk(max(depth, 1), dim=1).indices
        relevant = (r_labels[order] == q_labels[start : start + 1024, None]).float()
        r = counts[start : start + 1024]
        within = (torch.arange(relevant.shape[1])[None, :] < r[:, None]).float()
        hits = relevant * within
        precision_at_i = hits.cumsum(1) / torch.arange(1, relevant.shape[1] + 1)[None, :]
        ok = r > 0
        kept += int(ok.sum())
        sums["precision_at_1"] += float(relevant[ok, 0].sum())
        sums["r_precision"] += float((hits.sum(1)[ok] / r[ok]).sum())
        sums["map_at_r"] += float(((precision_at_i * hits).sum(1)[ok] / r[ok]).sum())
    return {k: v / kept if kept else float("nan") for k, v in sums.items()}


def nearest(index: torch.Tensor, queries: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` most similar rows of ``index`` for each query: (similarities [Q, k], row numbers [Q, k]).

    faiss's exact inner-product index when faiss imports, else one matrix product; both exact, so both agree.
    """
    try:
        import faiss
    except ImportError:
        faiss = None
    if faiss is not None:
        flat = faiss.IndexFlatIP(index.shape[1])
        flat.add(np.ascontiguousarray(index.numpy(), dtype=np.float32))
        sims, rows = flat.search(np.ascontiguousarray(queries.numpy(), dtype=np.float32), k)
        return torch.from_numpy(sims), torch.from_numpy(rows)
    return exact_nearest(index, queries, k)


def exact_nearest(index: torch.Tensor, queries: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    sims, rows = (queries.float() @ index.float().T).topk(k, dim=1)
    return sims, rows


# -- the index file ---------------------------------------------------------------------------------
def write_index(path: Path, embeddings: torch.Tensor, *, run: str, network: str, space: str, extra: dict) -> None:
    """``embeddings`` (N x D float32 unit rows) and what wrote them; ``extra``: labels, paths or texts."""
    from ..runs.folder import replacing

    arrays = {k: np.asarray(v) for k, v in extra.items() if v is not None}
    with replacing(path) as file:
        np.savez(
            file,
            embeddings=embeddings.float().numpy(),
            network=np.array(network),
            run=np.array(run),
            space=np.array(space),
            dim=np.array(embeddings.shape[1]),
            **arrays,
        )


def read_index(path: str, *, run: str, network: str, space: str) -> dict:
    """An index written by ``network`` of ``run`` into ``space``; any other is refused, naming what wrote it."""
    file = Path(path)
    if not file.is_file():
        raise RunError(f"--index {path}: no such file; write one with gan embed RUN -o {path}")
    try:
        with np.load(file, allow_pickle=False) as data:
            index = {k: data[k] for k in data.files}
    except (OSError, ValueError) as error:
        raise RunError(f"--index {path}: not an index written by gan embed ({error})") from None
    if "embeddings" not in index or "network" not in index or "space" not in index:
        raise RunError(f"--index {path}: not an index written by gan embed (no embeddings, network and space)")
    wrote, there = str(index["network"]), str(index["space"])
    if there != space:
        raise RunError(f"--index {path}: written in {there}, but network {network!r} writes {space}; embed again")
    if wrote != network:
        raise RunError(
            f"--index {path}: written by network {wrote!r}, not {network!r}; its similarities would compare "
            "two different embeddings (pass --network " + wrote + " or embed again)"
        )
    if str(index.get("run", run)) != run:
        raise RunError(f"--index {path}: written by network {wrote!r} of run {str(index['run'])!r}, not of {run!r}")
    return index


# -- what the verbs do: gan embed, gan search ------------------------------------------------------
def embedder_of(run, network: str | None):
    """The network of ``run`` that writes sphere[D] (``network``, or the run's embedder), its name and its run path."""
    from .. import config as C
    from ..runs.folder import load

    folder = Path(run)
    if not (folder / "config.yaml").is_file():
        raise RunError(f"{run}: not a run folder (no config.yaml)")
    cfg = C.load(folder / "config.yaml")
    name = network or cfg.roles.get("embedder")
    if name is None:
        raise RunError(f"{run}: no role embedder in this run; pass --network NAME (a network that writes sphere[D])")
    net = load(folder, name, ema=False, units=False)
    if getattr(net.target, "kind", None) != "sphere":
        raise RunError(f"--network {name}: writes {net.target}, not sphere[D]; only embeddings can be searched")
    return cfg, net, name, str(folder.resolve())


def embed_run(run, *, network: str | None, data: str | None, output: str, overwrite: bool) -> dict:
    """Embed the run's data (or data set ``data``) into ``output``: N x D unit rows, labels where the data has them;
    for a network that reads text, the corpus's passages (all of them, whole) and their ``texts``."""
    import dataclasses

    from .. import data as datasets

    out = Path(output)
    if out.exists() and not overwrite:
        raise RunError(f"-o {output}: exists; pass --overwrite to replace it")
    cfg, net, name, where = embedder_of(run, network)
    data_cfg = dataclasses.replace(cfg.data, name=data) if data else cfg.data
    if net.source.kind == "text":
        z, extra = _embed_passages(net, data_cfg)
    else:
        source = datasets.open_examples(data_cfg, net.source)
        if not isinstance(source, datasets.Examples):
            raise RunError(f"--data {data_cfg.name}: not examples held in memory; gan embed reads those")
        z = embed(net, source.x)
        extra = {
            "labels": None if source.y is None else source.y.cpu().numpy(),
            "paths": getattr(source, "paths", None),
            "data": data_cfg.name,  # where gan search reads the neighbours' pictures back from
        }
    write_index(out, z, run=where, network=name, space=str(net.target), extra=extra)
    return {"index": str(out), "network": name, "items": len(z), "dim": int(z.shape[1])}


def _embed_passages(net, data_cfg) -> tuple[torch.Tensor, dict]:
    """The passages a text embedder was trained to find (``data/cloze.py``), every one of them and whole."""
    from ..data.cloze import corpus_passages, joined

    if data_cfg.name != "text":
        raise RunError(f"--data {data_cfg.name}: network reads {net.source}; embed text (data.name: text)")
    texts = [joined(p) for p in corpus_passages(data_cfg, net.source)]
    return embed(net, net.source.tokens(texts, what="passages"), batch=128), {"texts": np.array(texts)}


def query_images(files: list[str], space, *, resize: bool = False) -> torch.Tensor:
    """Query image files in ``space``: a file of other channels is refused (a colour photo is not a grey digit)."""
    from PIL import Image as PILImage

    from ..image_files import read_images

    for name in files:
        if not Path(name).is_file():
            raise RunError(f"{name}: no such file")
        try:
            with PILImage.open(name) as im:
                bands = len([b for b in im.convert("RGBA" if im.mode == "P" else im.mode).getbands() if b != "A"])
        except OSError as error:
            raise RunError(f"{name}: not a readable image ({error})") from None
        if bands != space.channels:
            raise RunError(f"{name}: has {bands} channel(s), but the network reads {space} ({space.channels})")
    return read_images(files, space, resize=resize)


def search(
    run, *, index: str, queries: list[str], k: int, network: str | None = None, resize: bool = False
) -> tuple[list, torch.Tensor]:
    """The ``k`` nearest items of ``index`` for each query (image files, or strings for a network that reads text):
    rows of {query, neighbours: [{item, similarity, label?, path?}]}, and the query inputs (for a grid)."""
    cfg, net, name, where = embedder_of(run, network)
    found = read_index(index, run=where, network=name, space=str(net.target))
    n = len(found["embeddings"])
    if not 1 <= k <= n:
        raise RunError(f"-k: expected a number of neighbours in 1..{n} (the items in {index}), got {k}")
    if net.source.kind == "text":
        from ..data.cloze import as_query

        x = net.source.tokens([as_query(q, net.source) for q in queries], what="QUERY")
    else:
        x = query_images(list(queries), net.source, resize=resize)
    sims, rows = nearest(torch.from_numpy(found["embeddings"]), embed(net, x), k)
    results = []
    for query, sim_row, row in zip(queries, sims.tolist(), rows.tolist()):
        neighbours = []
        for s, i in zip(sim_row, row):
            item = {"item": i, "similarity": s}
            for key in ("labels", "paths", "texts"):
                if key in found:
                    item[key.rstrip("s")] = found[key][i].item() if found[key].ndim == 1 else found[key][i]
            neighbours.append(item)
        results.append({"query": query, "neighbours": neighbours})
    return results, x


def evaluate_retrieval(run, cfg) -> dict:
    """``gan evaluate`` of an embedding run: precision@1, R-precision and MAP@R of its held-out queries against its
    training references, on the split the run itself scored (``data.holdout`` and ``run.seed``); for text, its
    held-out cloze queries against the held-out passages, BM25 beside it."""
    from .. import data as datasets
    from ..runs.folder import load

    name = next(iter(cfg.roles.values()))
    net = load(run, name, ema=False)
    if net.source.kind == "text":
        from ..data.cloze import open_cloze

        _, held = open_cloze(cfg.data, net.source)
        return {"embedder": name, **cloze_scores(net, held), **bm25_cloze_scores(held), "passages": len(held.texts)}
    source = datasets.open_examples(cfg.data, net.source)
    if not isinstance(source, datasets.Examples) or source.y is None:
        raise RunError(f"{run}: data.name {cfg.data.name!r} has no labels; retrieval scores need labelled queries")
    train_set, held_out = source.split(cfg.data.holdout, cfg.run.seed)
    scores = retrieval_scores(embed(net, held_out.x), held_out.y, embed(net, train_set.x), train_set.y)
    found = {"embedder": name, **scores, "queries": len(held_out), "references": len(train_set)}
    for baseline, (refs, queries) in untrained_embeddings(net, train_set.x, held_out.x).items():
        found.update(
            {f"{baseline}/{k}": v for k, v in retrieval_scores(queries, held_out.y, refs, train_set.y).items()}
        )
    return found


def untrained_embeddings(
    net, refs: torch.Tensor, queries: torch.Tensor
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Embeddings that learned nothing, scored beside a trained one so its numbers mean something: the raw pixels,
    PCA of the pixels (fit on the references, as many dimensions as the network writes), and a network of the same
    family and spaces at its initialisation (seed 0). Unit rows, (references, queries) each; the global random state
    is left as it was."""
    from networks import build

    flat_r, flat_q = refs.flatten(1).float().cpu(), queries.flatten(1).float().cpu()
    mean = flat_r.mean(0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        _, _, axes = torch.pca_lowrank(flat_r - mean, q=min(net.target.dim, *flat_r.shape), center=False)
        fresh = build(dict(net.spec)).to(next(net.parameters()).device)
    unit = lambda x: torch.nn.functional.normalize(x, dim=1)  # noqa: E731
    return {
        "raw_pixels": (unit(flat_r), unit(flat_q)),
        "pca_pixels": (unit((flat_r - mean) @ axes), unit((flat_q - mean) @ axes)),
        "untrained_network": (embed(fresh, refs), embed(fresh, queries)),
    }


# -- text: cloze queries against their passages --------------------------------------------------
def wilson(hits: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval (95% at z = 1.96) of a share ``hits / n``: unlike the normal approximation it stays
    inside [0, 1] and is not of zero width at 0 hits, which is where a recall@1 of a few queries lands.

    >>> [round(v, 3) for v in wilson(5, 100)]
    [0.022, 0.112]
    """
    if n == 0:
        return float("nan"), float("nan")
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def matched_scores(scores, prefix: str = "", match=None) -> dict[str, float]:
    """recall@1 (with its 95% Wilson interval, ``recall_at_1_low`` to ``_high``), recall@5 and mean reciprocal rank of
    [Q, P] ``scores`` where query i's one match is passage ``match[i]`` (default: passage i).

    A tie is not a win: the match's rank is 1 + the passages scoring at least as high as it (a query that shares
    no word with any passage ties everywhere under BM25, and is counted as found last, not first).
    """
    s = torch.as_tensor(scores).double()
    keys = ("recall_at_1", "recall_at_1_low", "recall_at_1_high", "recall_at_5", "mrr")
    if len(s) == 0:
        return {f"{prefix}{k}": float("nan") for k in keys}
    match = torch.arange(len(s)) if match is None else torch.as_tensor(match)
    own = s.gather(1, match[:, None])
    rank = (s >= own).sum(1).double()  # 1 + the others scoring at least as high
    hits = int((rank <= 1).sum())
    low, high = wilson(hits, len(s))
    values = (hits / len(s), low, high, float((rank <= 5).double().mean()), float((1 / rank).mean()))
    return {f"{prefix}{k}": v for k, v in zip(keys, values)}


def cloze_scores(net, held) -> dict[str, float]:
    """The embedder's held-out cloze queries against the held-out passages (``data/cloze.py``), by cosine: each query
    against every passage whole, but its own passage with the query taken out."""
    if len(held) == 0:
        return {**matched_scores(torch.zeros(0, 0)), "queries": 0}
    queries, passages = embed(net, held.query_tokens, batch=128), embed(net, held.x, batch=128)
    own = embed(net, held.own_tokens, batch=128)
    s = queries @ passages.T
    owner = torch.as_tensor(held.owner)
    s[torch.arange(len(s)), owner] = (queries * own).sum(1)
    return {**matched_scores(s, match=owner), "queries": len(held)}


def bm25_cloze_scores(held, *, required: bool = True) -> dict[str, float]:
    """BM25 on the same queries and passages: the baseline beside ``cloze_scores``. Without rank_bm25 installed,
    ``gan evaluate`` refuses in one line; training (``required=False``) goes on and scores the network alone."""
    from .bm25 import MissingPackage, cloze_bm25_scores

    try:
        return matched_scores(
            cloze_bm25_scores(held.queries, held.texts, held.owner, held.own_texts), "bm25_", held.owner
        )
    except MissingPackage:
        if required:
            raise
        return {}
