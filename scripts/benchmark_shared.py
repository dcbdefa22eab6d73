"""Two runs sharing one machine: steps/s of a ring run alone, then of two at once, and the ratio.

    python scripts/benchmark_shared.py                       # run.threads: auto (the default)
    python scripts/benchmark_shared.py --threads auto 2      # compare settings: 2 = one thread per core here
    python scripts/benchmark_shared.py --steps 4000 --config configs/ring.yaml

Each run is ``python -m gan train CONFIG`` as a user starts it (OMP_NUM_THREADS removed from the
environment, so PyTorch picks its own thread count unless run.threads says otherwise). Speed is
read from the wall times of the run's own TensorBoard scalars; for two runs at once, only over the
time both were training. Run it on an otherwise idle machine: other load changes the answer.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def start(config: str, out: Path, name: str, steps: int, threads: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    sets = [
        f"run.output={out}",
        f"run.name={name}",
        f"run.steps={steps}",
        f"run.threads={threads}",
        "run.progress=false",
        "run.log_every=50",
        f"run.sample_every={steps}",
        f"run.checkpoint_every={steps}",
    ]
    args = [sys.executable, "-m", "gan", "train", config, *[a for s in sets for a in ("--set", s)]]
    return subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def logged(run: Path) -> list[tuple[float, int]]:
    """(wall time, step) of each logged step."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run / "logs"))
    events.Reload()
    return [(e.wall_time, e.step) for e in events.Scalars("generator/loss")]


def rate(points: list[tuple[float, int]], start: float, end: float) -> float:
    """Steps per second between the first and last logged step inside [start, end]."""
    inside = [(t, s) for t, s in points if start <= t <= end]
    if len(inside) < 2:
        raise SystemExit("too few logged steps while both runs trained; pass a larger --steps")
    (t0, s0), (t1, s1) = inside[0], inside[-1]
    return (s1 - s0) / (t1 - t0)


def finish(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        _, err = proc.communicate()
        if proc.returncode != 0:
            raise SystemExit(f"a run failed:\n{err[-2000:]}")


def measure(config: str, steps: int, threads: str, out: Path) -> tuple[float, list[float]]:
    finish([start(config, out, f"alone_{threads}", steps, threads)])
    alone = logged(out / f"alone_{threads}")
    alone_rate = rate(alone[1:], 0.0, float("inf"))  # the first log includes start-up
    pair = [start(config, out, f"pair{i}_{threads}", steps, threads) for i in (0, 1)]
    finish(pair)
    both = [logged(out / f"pair{i}_{threads}")[1:] for i in (0, 1)]
    begin, end = max(p[0][0] for p in both), min(p[-1][0] for p in both)
    return alone_rate, [rate(p, begin, end) for p in both]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default=str(ROOT / "configs" / "ring.yaml"))
    parser.add_argument("--steps", type=int, default=3000, help="steps of each run (long enough for both to overlap)")
    parser.add_argument("--threads", nargs="+", default=["auto"], help="run.threads settings to compare")
    args = parser.parse_args()
    print(
        f"{'run.threads':>11}  {'alone steps/s':>13}  {'two at once steps/s':>21}  {'ratio to alone':>15}  (cores: "
        f"{os.cpu_count()})"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for threads in args.threads:
            alone, pair = measure(args.config, args.steps, threads, Path(tmp))
            print(
                f"{threads:>11}  {alone:13.1f}  {pair[0]:10.1f} {pair[1]:10.1f}  {pair[0] / alone:7.2f} "
                f"{pair[1] / alone:7.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
