"""Characters per second of ``gan sample``'s sentence sampler, with and without the key/value cache.

    PYTHONPATH=. gan train configs/text_model.yaml --set run.steps=50 --set run.output=/tmp/h10runs
    python scripts/benchmark_text_sampling.py /tmp/h10runs/text_model              # 20 sentences, 3 rounds
    python scripts/benchmark_text_sampling.py RUN -n 20 --rounds 5 --prompt "The " --temperature 0.8 --threads 1

"uncached" is the sampler as it was before the cache (every step re-reads the whole prefix: the distribution
built without a stepper); "cached" is ``gan.sampling.sentences``, the path ``gan sample`` takes. The two run
alternately, so a neighbour's load on a shared machine falls on both; medians are quoted. Both write the same
sentences for the same seed, which is checked on every round.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gan.runs.folder import load  # noqa: E402
from gan.verbs.sampling import sentences  # noqa: E402
from networks import iterated  # noqa: E402


def uncached(net, n: int, *, seed: int, prompt: str, temperature: float) -> list[str]:
    """``sentences`` as it ran before the cache: the same draws, the whole prefix re-read at each character."""
    every = iterated(net).every_prefix
    tokens = net.source.distribution(every, net).sample(
        n,
        prompt=net.source.tokens([prompt])[0],
        temperature=temperature,
        rng=torch.Generator().manual_seed(seed),
        device=next(net.parameters()).device,
    )
    return net.source.strings(tokens)


def timed(sampler, net, args) -> tuple[float, list[str]]:
    """Characters written per second (the prompt excluded: it is read, not written)."""
    began = time.perf_counter()
    out = sampler(net, args.n, seed=args.seed, prompt=args.prompt, temperature=args.temperature)
    seconds = time.perf_counter() - began
    return sum(len(s) - len(args.prompt) for s in out) / seconds, out


def cpu() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--network", default="reader")
    parser.add_argument("-n", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--prompt", default="The ")
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's own choice)")
    args = parser.parse_args()
    if args.threads:  # on a loaded machine, threads that wait for each other can cost more than the model
        torch.set_num_threads(args.threads)
    net = load(args.run, args.network).eval()
    rates: dict[str, list[float]] = {"uncached": [], "cached": []}
    for _ in range(args.rounds):
        before, slow = timed(uncached, net, args)
        after, fast = timed(sentences, net, args)
        if slow != fast:
            raise SystemExit("the cached sampler wrote different sentences from the uncached one")
        rates["uncached"].append(before)
        rates["cached"].append(after)
        print(f"uncached {before:8.1f} chars/s   cached {after:8.1f} chars/s", flush=True)
    mid = {k: statistics.median(v) for k, v in rates.items()}
    print(f"\nCPU: {cpu()}, torch threads: {torch.get_num_threads()}, {args.n} sentences, {args.rounds} rounds")
    print(f"median chars/s: uncached {mid['uncached']:.1f}, cached {mid['cached']:.1f} ")
    print(f"speed-up: {mid['cached'] / mid['uncached']:.1f}x; e.g. {fast[0]!r}")


if __name__ == "__main__":
    main()
