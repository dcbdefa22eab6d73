"""Seconds a training step of a config takes on this machine, alone: the pace that turns a curve's step grid into time.

    python scripts/step_time.py digits                                      # the shipped default
    python scripts/step_time.py digits --set networks.painter.width=48 --set networks.critic.width=48
Candidates scored on a shared machine (`gan benchmark curve --every-steps`) are compared at equal steps; this
times what a step of each costs, with nothing else running (2 cores: OMP_NUM_THREADS=2). It times the loop's
own `step` (periodic sample grids and checkpoints left out), the fastest of --repeats blocks of --steps.
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gan import config as C  # noqa: E402
from gan.loops.setup import adversarial_loop  # noqa: E402
from gan.session.progress import Clock  # noqa: E402
from gan.session.session import Session  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("config", nargs="?", default="digits")
parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
parser.add_argument("--steps", type=int, default=300)
parser.add_argument("--warmup", type=int, default=30)
parser.add_argument("--repeats", type=int, default=2)
args = parser.parse_args()
times = []
with tempfile.TemporaryDirectory() as out:
    for repeat in range(args.repeats):
        cfg = C.load(
            C.locate(args.config),
            [
                *args.set,
                f"run.output={out}",
                f"run.name=pace{repeat}",
                "run.progress=false",
                "run.steps=1000000000",
                "run.sample_every=1000000000",
                "run.checkpoint_every=1000000000",
            ],
        )
        with Session(cfg) as session:
            loop, clock = adversarial_loop(session), Clock()
            for _ in range(args.warmup):
                loop.step(clock)
            start = time.perf_counter()
            for _ in range(args.steps):
                loop.step(clock)
            times.append((time.perf_counter() - start) / args.steps)
        print(f"block {repeat}: {1000 * times[-1]:.1f} ms a step", flush=True)
print(f"{1000 * min(times):.1f} ms a step (fastest of {args.repeats} blocks of {args.steps} steps)")
