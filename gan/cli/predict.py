"""``gan predict``: a network trained on a table, on new rows of a CSV file, answered in the targets' own units."""

from __future__ import annotations

import sys
from pathlib import Path


def add_parser(verbs) -> None:
    p = verbs.add_parser(
        "predict",
        help="predict each row of a CSV file with a network trained on a table (diabetes, table): mean, scale and "
        "90%% interval of each target, in its own units",
    )
    p.add_argument("run", help="run folder, e.g. runs/diabetes")
    p.add_argument(
        "rows",
        help="CSV file of raw rows: a header naming the features (matched by name, in any order), or the "
        "features alone, by position",
    )
    p.add_argument(
        "-o",
        "--output",
        help="CSV file to write, a row of <target>_mean, _scale, _low90, _high90 per input row (default: printed)",
    )
    p.add_argument("--network", help="network name in the run (default: the run's classifier)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..runs.folder import RunError
    from ..verbs.predict import prediction_table, read_csv

    network = args.network or _default_network(args.run)
    predictor = _predictor(args.run, network)
    out = _output(args)
    rows = read_csv(args.rows, predictor)
    names, values = prediction_table(predictor, rows)
    text = ",".join(names) + "\n" + "".join(",".join(repr(float(v)) for v in row) + "\n" for row in values)
    if out is None:
        sys.stdout.write(text)
        return 0
    from ..runs.folder import atomic_write_text

    try:
        atomic_write_text(out, text)
    except OSError as error:
        raise RunError(f"-o {out}: cannot write there ({error.strerror or error})") from None
    print(f"wrote {out}: {len(values)} rows, columns {', '.join(names)}", file=sys.stderr)
    return 0


def _default_network(run: str) -> str:
    """The run's classifier: the one network a likelihood run trains, and the only kind trained on a table."""
    from ..runs.folder import RunDir
    from ..verbs.sampling import network_in_role

    RunDir(run).network_names()  # refuses a run folder that does not exist, naming it
    return network_in_role(run, ("classifier",))


def _predictor(run: str, network: str):
    from ..runs.folder import RunError, load
    from ..verbs.predict import Predictor

    predictor = load(run, network)
    if not isinstance(predictor, Predictor):
        raise RunError(
            f"--network {network}: network {network!r} of {run} maps {predictor.source} -> {predictor.target} and was "
            "not trained on a table; gan predict reads rows for a network trained on data.name diabetes or table"
        )
    return predictor


def _output(args) -> Path | None:
    import os

    from ..runs.folder import RunError

    if args.output is None:
        return None
    if not args.output.strip():
        raise RunError("-o: expected a CSV file name, got only white space" if args.output else "-o: got nothing")
    out = Path(args.output)
    if os.path.lexists(out) and out.resolve() == Path(args.rows).resolve():
        raise RunError(f"-o {out}: is the file of rows being read; write the predictions elsewhere")
    if os.path.lexists(out) and not args.overwrite:
        raise RunError(f"-o {out}: already exists; pass --overwrite to replace it")
    if out.is_dir():
        raise RunError(f"-o {out}: is a folder; name a CSV file")
    return out
