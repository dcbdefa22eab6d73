"""Numbers, the one-hot head against the string head: train configs/numbers_onehot.yaml and
configs/numbers_string.yaml (same conv body, steps and batch), score each on test images written
with digit images held out of training, and print a Markdown table for BENCHMARKS.md.

    OMP_NUM_THREADS=2 python scripts/benchmark_numbers.py              # both configs as they are
    # both on the string config's schedule:
    OMP_NUM_THREADS=2 python scripts/benchmark_numbers.py --set run.lr_decay=cosine
    python scripts/benchmark_numbers.py --set run.steps=20             # a smoke test of the script

The one-hot head's figure on never-seen numbers is near 0% by construction: it was never trained
to output those classes. The string head reads every number digit by digit, greedily (its likeliest
digit at each step given the digits before it), so a never-seen number is read like a seen one.
Train minutes are wall-clock time of ``gan train`` (composing the data included), on the threads
torch uses here (printed with the table).
"""

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from gan import config as C  # noqa: E402
from gan.loops import get  # noqa: E402
from gan.measure.evaluation import evaluate  # noqa: E402

HEADS = {"one-hot, categorical[1000]": "numbers_onehot.yaml", "string, text[3]": "numbers_string.yaml"}

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--configs", default=str(ROOT / "configs"), help="folder holding the two configs")
parser.add_argument(
    "--set", action="append", default=[], metavar="KEY=VALUE", help="config override for both runs, as for gan train"
)
parser.add_argument("--output", default="runs/benchmark_numbers", help="where the runs go")
args = parser.parse_args()

rows = []
for head, name in HEADS.items():
    cfg = C.load(
        str(Path(args.configs) / name),
        [*args.set, f"run.output={args.output}", f"run.name={Path(name).stem}", "run.progress=false"],
    )
    start = time.perf_counter()
    run = get(cfg.loop)(cfg, overwrite=True)
    minutes = (time.perf_counter() - start) / 60
    result = evaluate(run)
    rows.append((head, cfg.run.steps, result["exact_seen"], result["exact_unseen"], result["per_character"], minutes))

print(
    f"command: python scripts/benchmark_numbers.py {' '.join(sys.argv[1:])}".rstrip()
    + f"  (torch threads: {torch.get_num_threads()})"
)
print("| head | steps | exact match, seen | exact match, never seen | per-character accuracy | train minutes |")
print("|---|---|---|---|---|---|")
for head, steps, seen, unseen, chars, minutes in rows:
    print(f"| {head} | {steps} | {seen:.1%} | {unseen:.1%} | {chars:.1%} | {minutes:.1f} |")
