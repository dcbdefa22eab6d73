"""``gan search``: the nearest items of an index to each query, by cosine similarity."""

from __future__ import annotations

import json
from pathlib import Path


def add_parser(verbs) -> None:
    p = verbs.add_parser("search", help="print the nearest items of an index (gan embed) to each query")
    p.add_argument("run", help="run folder of the network that wrote the index")
    p.add_argument("queries", nargs="+", metavar="QUERY", help="image files, or strings for a network that reads text")
    p.add_argument("--index", required=True, help="index file written by gan embed")
    p.add_argument("--network", help="network name in the run; default: the run's embedder")
    p.add_argument("-k", type=int, default=5, help="neighbours per query (default 5)")
    p.add_argument("-o", "--output", help="PNG grid: each query, then its neighbours (image networks)")
    p.add_argument("--resize", action="store_true", help="resize query images to the network's input size")
    p.add_argument("--json", action="store_true", help="print one JSON object per query")
    p.add_argument("--overwrite", action="store_true", help="replace the grid -o names if it exists")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..measure.retrieval import search

    if args.output:
        grid_target(args)  # refused before the search, not after its results are printed
    results, x = search(
        args.run, index=args.index, queries=args.queries, k=args.k, network=args.network, resize=args.resize
    )
    for row in results:
        if args.json:
            print(json.dumps(row))
            continue
        print(row["query"])
        for n in row["neighbours"]:
            extra = "".join(f"  {key}={n[key]}" for key in ("label", "path", "text") if key in n)
            print(f"  {n['item']}  {n['similarity']:.4f}{extra}")
    if args.output:
        write_grid(args, results, x)
    return 0


def grid_target(args) -> Path:
    """``-o`` checked: a .png name, free unless --overwrite, for a network that reads images."""
    from ..measure.retrieval import embedder_of
    from ..runs.folder import RunError
    from ..verbs.sampling import free_output_names, output_path

    out = output_path(args.output)
    if out.suffix.lower() != ".png":
        raise RunError(f"-o {out}: the grid is written as FILE.png")
    free_output_names(out, 1, args.overwrite, checked=True)
    if not embedder_of(args.run, args.network)[1].source.is_image:
        raise RunError("-o: a grid shows images; this network reads text, so its neighbours are printed only")
    return out


def write_grid(args, results, x) -> None:
    """Each query on its own row, then its neighbours, read back by item number from the data the index was built on."""
    import dataclasses

    import numpy as np
    import torch
    import torchvision.utils as vutils

    from .. import data as datasets
    from ..measure.retrieval import embedder_of
    from ..runs.folder import replacing

    cfg, net, _, _ = embedder_of(args.run, args.network)
    with np.load(args.index) as found:
        name = str(found["data"]) if "data" in found.files else cfg.data.name
    source = datasets.open_examples(dataclasses.replace(cfg.data, name=name), net.source)
    tiles = []
    for query, row in zip(x, results):
        tiles.append(query.cpu())
        tiles.extend(source.x[n["item"]].cpu() for n in row["neighbours"])
    grid = vutils.make_grid(net.source.to_unit(torch.stack(tiles)), nrow=args.k + 1, padding=2, pad_value=1.0)
    with replacing(Path(args.output)) as f:
        vutils.save_image(grid, f, format="png")
