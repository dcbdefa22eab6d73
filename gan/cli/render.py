"""``gan render``: draw the function an encoder into function space writes for each image, at any size."""

from __future__ import annotations


def add_parser(verbs) -> None:
    p = verbs.add_parser("render", help="draw each image's function (an encoder into function space) at any size")
    p.add_argument(
        "run",
        help="run folder with a network from images to function[2->C], e.g. a run of "
        "configs/digits_function_encoder.yaml",
    )
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files of the network's size and channels")
    p.add_argument("-o", "--output", required=True, help="the .png to write: a row an image")
    p.add_argument("--size", type=int, required=True, help="pixels a side to draw each function on, e.g. 112")
    p.add_argument("--network", help="the network to use (default: the run's classifier)")
    p.add_argument("--beside", action="store_true", help="show the image read and its reconstruction first")
    p.add_argument("--resize", action="store_true", help="resize images to the network's size instead of refusing")
    p.add_argument("--overwrite", action="store_true", help="replace the picture -o names if it exists")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..verbs.render import render_files

    rows = render_files(
        args.run,
        args.images,
        args.output,
        size=args.size,
        network=args.network,
        beside=args.beside,
        resize=args.resize,
        overwrite=args.overwrite,
    )
    for row in rows:
        print(f"{row['file']}: reconstruction RMSE {row['rmse']:.4f} -> {row['png']}")
    return 0
