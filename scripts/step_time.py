"""Seconds a training step of a config takes on this machine, alone: the pace that turns a curve's step grid into time.

    python scripts/step_time.py digits                                      # the shipped default
    python scripts/step_time.py digits --set networks.painter.width=48 --set networks.critic.width=48
    python scripts/step_time.py digits --repeats 8 --steps 200 --against networks.painter.depth=2   # a ratio
Candidates scored on a shared machine (`gan benchmark curve --every-steps`) are compared at equal steps; this
times what a step of each costs, with nothing else running (2 cores: OMP_NUM_THREADS=2). It times the loop's
own `step` (periodic sample grids and checkpoints left out), the fastest of --repeats blocks of --steps. With
--against, a second loop (the config with those values too) is built in the same process and the two take blocks in
turn (A B, then B A): a virtual machine's speed drifts by tens of percent within minutes, and only blocks taken side
by side compare; it prints each pair's ratio and their median.
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gan import config as C  # noqa: E402
from gan.loops.setup import adversarial_loop  # noqa: E402
from gan.runs.folder import RunError  # noqa: E402
from gan.session.progress import Clock  # noqa: E402
from gan.session.session import Session  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("config", nargs="?", default="digits")
parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
parser.add_argument("--steps", type=int, default=300)
parser.add_argument("--warmup", type=int, default=30)
parser.add_argument("--repeats", type=int, default=2)
parser.add_argument("--against", action="append", default=[], metavar="KEY=VALUE", help="time a second loop in turn")
args = parser.parse_args()


def build(out: str, name: str, extra: list[str]) -> Session:
    cfg = C.load(
        C.locate(args.config),
        [
            *args.set,
            *extra,
            f"run.output={out}",
            f"run.name={name}",
            "run.progress=false",
            "run.steps=1000000000",
            "run.sample_every=1000000000",
            "run.checkpoint_every=1000000000",
        ],
    )
    return Session(cfg)


def block(loop, clock) -> float:
    """Seconds a step over one block of --steps steps."""
    start = time.perf_counter()
    for _ in range(args.steps):
        loop.step(clock)
    return (time.perf_counter() - start) / args.steps


def compare() -> None:
    """--against: the two loops in turn, each pair's ratio and their median."""
    with tempfile.TemporaryDirectory() as out, build(out, "a", []) as sa, build(out, "b", args.against) as sb:
        loops, clock, ratios = (adversarial_loop(sa), adversarial_loop(sb)), Clock(), []
        for loop in loops:
            for _ in range(args.warmup):
                loop.step(clock)
        for repeat in range(args.repeats):
            order = (0, 1) if repeat % 2 == 0 else (1, 0)  # neither loop always goes first
            seconds = dict(zip(order, (block(loops[i], clock) for i in order)))
            ratios.append(seconds[1] / seconds[0])
            print(
                f"block {repeat}: {1000 * seconds[0]:.1f} against {1000 * seconds[1]:.1f} ms a step: {ratios[-1]:.3f}x"
            )
    print(
        f"the second costs {statistics.median(ratios):.3f}x the first (median of {args.repeats} blocks; "
        f"{min(ratios):.3f}-{max(ratios):.3f}x)"
    )


def pace() -> None:
    """The config alone: the fastest of --repeats blocks."""
    times = []
    with tempfile.TemporaryDirectory() as out:
        for repeat in range(args.repeats):
            with build(out, f"pace{repeat}", []) as session:
                loop, clock = adversarial_loop(session), Clock()
                for _ in range(args.warmup):
                    loop.step(clock)
                times.append(block(loop, clock))
            print(f"block {repeat}: {1000 * times[-1]:.1f} ms a step", flush=True)
    print(f"{1000 * min(times):.1f} ms a step (fastest of {args.repeats} blocks of {args.steps} steps)")


try:
    compare() if args.against else pace()
except (C.ConfigError, RunError) as error:  # a bad config, --set or --against: one line, no traceback
    sys.exit(f"step_time: {error}")
