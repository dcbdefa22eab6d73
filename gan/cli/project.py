"""``gan project``: the noise (and label) whose image is nearest to each given image."""

from __future__ import annotations

from .args import seed


def add_parser(verbs) -> None:
    p = verbs.add_parser("project", help="find the noise a trained generator draws each given image from")
    p.add_argument("run", help="run folder with a generator, e.g. runs/digits")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files of the generator's size and channels")
    p.add_argument("-o", "--output", required=True, help="folder for STEM.png (target | reconstruction) and STEM.npz")
    p.add_argument(
        "--encoder", metavar="ENCODER_RUN", help="a run of configs/digits_encoder.yaml: start from its guess"
    )
    p.add_argument("--steps", type=int, default=100, help="Adam steps on the noise (default 100; 0: the starts alone)")
    p.add_argument("--starts", type=int, help="candidates an image, the best kept (default 1 with --encoder, else 4)")
    p.add_argument("--seed", type=seed, default=0, help="seed of the random starts")
    p.add_argument("--resize", action="store_true", help="resize images to the generator's size instead of refusing")
    p.add_argument("--overwrite", action="store_true", help="replace STEM.png and STEM.npz already in the folder")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..verbs.project import project_files

    rows = project_files(
        args.run,
        args.images,
        args.output,
        encoder=args.encoder,
        steps=args.steps,
        starts=args.starts,
        seed=args.seed,
        resize=args.resize,
        overwrite=args.overwrite,
    )
    for row in rows:
        label = f", label {row['label']}" if "label" in row else ""
        print(
            f"{row['file']}: distance {row['distance']:.4f} (pixels {row['pixel']:.4f}, features {row['feature']:.4f}"
            f"{label}) -> {row['png']}, {row['npz']}"
        )
    return 0
