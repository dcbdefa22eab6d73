"""``gan embed``: a network that writes sphere[D] turns a data set into an index for ``gan search``."""

from __future__ import annotations

import json


def add_parser(verbs) -> None:
    p = verbs.add_parser("embed", help="write the embeddings of a data set (an index for gan search)")
    p.add_argument("run", help="run folder of a network that writes sphere[D], e.g. runs/digits_embedder")
    p.add_argument("--network", help="network name in the run; default: the run's embedder")
    p.add_argument("--data", help="data set to embed (data.name); default: the run's own data")
    p.add_argument("-o", "--output", required=True, help="index file to write, e.g. index.npz")
    p.add_argument("--overwrite", action="store_true", help="replace an existing index file")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..measure.retrieval import embed_run

    print(
        json.dumps(
            embed_run(args.run, network=args.network, data=args.data, output=args.output, overwrite=args.overwrite)
        )
    )
    return 0
