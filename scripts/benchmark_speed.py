"""Time the toolkit's adversarial loop against plain PyTorch on the speed configs; write BENCHMARKS.md
"## Speed, all configs".

The hand-written sections (the method, one table per config and machine) are left alone: this script replaces only
its own section, which holds the full tables and the command that made them, to be folded into those by hand.

    python scripts/benchmark_speed.py  # DCGAN 32x32, toy MLP, ResNet 32x32 (about 25 minutes on 2 cores)
    python scripts/benchmark_speed.py --only dcgan32 --rounds 4
"""

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gan.benchmark import speed  # noqa: E402
from gan.benchmark.markdown import write_section  # noqa: E402

SECTION = "Speed, all configs"  # a section of its own: the hand-written ones must survive a re-run
CONFIGS = {  # name -> (config, overrides, variants); the reference loop has no R1, so the ring's is off on both sides
    "dcgan32": (
        "configs/dcgan32.yaml",
        [],
        [
            "default",
            "quiet",
            "channels_first",
            "bf16",
            "foreach",
            "for_loop",
            "data_on_host",
            "compile",
            "best",
            "best_fp32",
        ],
    ),
    "toy_mlp": (
        "configs/ring.yaml",
        ["objective.r1=0"],
        ["default", "quiet", "foreach", "for_loop", "compile", "best"],
    ),
    "resnet32": ("configs/resnet32.yaml", [], ["default", "channels_first", "bf16", "best"]),
}

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--only", action="append", choices=list(CONFIGS), help="measure only these (repeatable)")
parser.add_argument("--rounds", type=int, default=8)
parser.add_argument(
    "--steps", type=int, default=20, help="steps per round (the toy MLP takes 10x as many: its steps are short)"
)
parser.add_argument("--warmup", type=int, default=5)
parser.add_argument("--layers", action="store_true", help="also time each convolution and linear layer alone")
parser.add_argument("--output", default="runs/benchmark/speed.json")
parser.add_argument(
    "--markdown", default=str(ROOT / "BENCHMARKS.md"), help=f"file whose '## {SECTION}' section is replaced"
)
args = parser.parse_args()
if args.markdown and not Path(args.markdown).parent.is_dir():  # say so now, not after half an hour of measuring
    parser.error(f"--markdown {args.markdown}: folder {Path(args.markdown).parent} does not exist")

results, tables = {}, []
for name in args.only or CONFIGS:
    config, overrides, variants = CONFIGS[name]
    steps = args.steps * (10 if name == "toy_mlp" else 1)
    try:
        results[name] = speed.measure(
            ROOT / config,
            overrides,
            layers=args.layers,
            rounds=args.rounds,
            warmup=args.warmup * (10 if name == "toy_mlp" else 1),
            steps_per_round=steps,
            variants=variants,
        )
        tables.append(f"### {name}\n\n" + speed.table(results[name]).replace(str(ROOT) + "/", ""))
    except Exception as error:  # noqa: BLE001 - e.g. a family not written yet: say so in the table
        results[name] = {"skipped": f"{type(error).__name__}: {error}"}
        tables.append(f"### {name}\n\nskipped: {type(error).__name__}: {' '.join(str(error).split())[:300]}")
    print(tables[-1], "\n", flush=True)

command = "python " + " ".join(["scripts/benchmark_speed.py", *sys.argv[1:]])
Path(args.output).parent.mkdir(parents=True, exist_ok=True)
Path(args.output).write_text(json.dumps(results, indent=1))
if args.markdown:
    write_section(Path(args.markdown), SECTION, f"Reproduce: `{command}`\n\n" + "\n\n".join(tables))
print(f"wrote {args.output}" + (f" and the '{SECTION}' section of {args.markdown}" if args.markdown else ""))
