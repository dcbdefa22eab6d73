"""Speed benchmark: the toolkit's adversarial loop against a hand-written loop, and against the machine.

The reference (``reference.Reference``) is the loop of PyTorch's DCGAN example on fresh copies of the
same networks. The two loops alternate in one process after a warm-up, round after round, so that a
background process slows both alike; each round gives one paired ratio. Each variant is a set of
config overrides (``VARIANTS``): the switches a user can turn, measured against the same reference.

>>> result = measure("configs/dcgan32.yaml", rounds=5, variants=("default", "bf16"))  # doctest: +SKIP
>>> print(report.table(result))                                                       # doctest: +SKIP
"""

from __future__ import annotations

import os
import resource
import statistics
import tempfile
from pathlib import Path

import torch

from ... import config as C
from ...data import Examples
from ..variants import COMBINABLE, COMBINED, COMBINED_FIXED, NEVER, VARIANTS
from . import machine
from .kernels import count_flops, host_syncs, kernel_costs, layer_costs
from .reference import Reference


def measure(
    config_path,
    overrides=(),
    *,
    rounds: int = 8,
    warmup: int = 5,
    steps_per_round: int = 20,
    variants=("default", "quiet"),
    overheads: bool = True,
    layers: bool = False,
) -> dict:
    """Time the toolkit's loop against the reference for each variant; a JSON-able dict.

    ``variants`` names entries of ``VARIANTS``, plus ``"best"``: the combination of the
    switches measured faster than ``default`` (measured last, so list it after them), and
    ``"best_fp32"``: the same without mixed precision.
    ``layers`` adds, for every variant, each matrix-product layer timed alone (``layer_costs``)
    and every op of one step timed alone (``kernel_costs``).
    """
    unknown = [v for v in variants if v not in VARIANTS and v not in COMBINED]
    if unknown:
        raise ValueError(f"unknown variant {unknown[0]!r}; accepted: {', '.join([*VARIANTS, *COMBINED])}")
    probe = C.load(config_path, list(overrides))
    if probe.loop != "adversarial":
        raise C.ConfigError(
            f"loop: the speed benchmark times the adversarial loop against PyTorch's DCGAN example; {config_path} "
            f"has loop {probe.loop!r}"
        )
    Reference.check(probe)  # before anything is built: one line naming the key
    result = _header(probe, config_path, overrides, rounds=rounds, warmup=warmup, steps_per_round=steps_per_round)
    with tempfile.TemporaryDirectory(prefix="gan-speed-") as folder:
        for variant in variants:
            if variant in COMBINED:
                result[variant] = picked = _best(result["rows"], COMBINED[variant], variant)
                switches = [o for name in picked for o in VARIANTS[name]] + COMBINED_FIXED.get(variant, [])
            else:
                switches = VARIANTS[variant]
            row = _variant(
                config_path,
                list(overrides),
                variant,
                switches,
                rounds=rounds,
                warmup=warmup,
                steps=steps_per_round,
                folder=Path(folder),
                account=overheads and variant == "default",
                layers=layers,
            )
            result["rows"].append(row)
    result["load_average_after"] = os.getloadavg()
    return result


def _header(probe: C.Config, config_path, overrides, **settings) -> dict:
    """The result's first keys: what ran, where, and the matmul peaks at the start (each row measures its own)."""
    from ...device import on_cpu

    device = torch.device("cpu" if on_cpu(probe.run) else "cuda")
    by_library = {"fp32": machine.matmul_peaks(device), "bf16": machine.matmul_peaks(device, torch.bfloat16)}
    return {
        "config": str(config_path),
        "overrides": list(overrides),
        "device": machine.describe(device),
        "device_type": device.type,
        "threads": torch.get_num_threads(),
        "load_average": os.getloadavg(),
        "torch": torch.__version__,
        **settings,
        "matmul_peak_flops": {k: max(v.values()) for k, v in by_library.items()},
        "matmul_peak_by_library": by_library,
        "matmul_peak_shapes": machine.PEAK_SHAPES["cuda" if device.type == "cuda" else "cpu"],
        "rows": [],
    }


def _alternate(toolkit, reference, dtype, device, *, rounds: int, steps: int, per_step: int):
    """Time ``toolkit`` and ``reference`` in alternating blocks of ``steps``; returns each one's examples/s a round,
    peak memory, page faults and the matmul peak each block ran beside.

    Each loop's block is rated against the peak measured just before and just after it (their mean), in its own
    precision (the reference loop always runs in fp32): on a shared virtual machine the speed of the same product
    can move a lot from one round to the next (BENCHMARKS.md), so a peak taken once a round could be a different
    machine from the one that ran the block.
    """
    ours, theirs, mem, faults = [], [], {"toolkit": 0.0, "reference": 0.0}, {"toolkit": 0, "reference": 0}
    precision = {"toolkit": dtype, "reference": torch.float32}
    peaks: dict[str, list[float]] = {"toolkit": [], "reference": []}
    for r in range(rounds):  # alternate which goes first: a slow drift favours neither
        pair = [("toolkit", toolkit), ("reference", reference)]
        last = None  # (dtype, peak) measured after the previous block: the next block's "before" in the same type
        for name, fn in pair if r % 2 == 0 else pair[::-1]:
            want = precision[name]
            before_peak = (
                last[1] if last is not None and last[0] == want else machine.matmul_peak(device, want, repeats=3)
            )
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            seconds = machine.timed(fn, steps, device)
            faults[name] += resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
            (ours if name == "toolkit" else theirs).append(per_step * steps / seconds)
            mem[name] = max(mem[name], machine.peak_memory_mb(device))
            last = (want, machine.matmul_peak(device, want, repeats=3))
            peaks[name].append((before_peak + last[1]) / 2)
    return ours, theirs, mem, faults, peaks


def _variant(
    config_path, overrides, variant, switches, *, rounds, warmup, steps, folder, account, layers=False
) -> dict:
    """Build one toolkit variant and a fresh reference; alternate them; return the row."""
    from ...device import emulated_bf16
    from ...loops.setup import adversarial_loop
    from ...session.progress import Clock
    from ...session.session import Session

    cfg = _load(config_path, overrides, variant, folder, switches)
    slow = emulated_bf16(cfg.run)
    if slow:  # minutes of rounds to learn what the CPU's flags already say
        return {"variant": variant, "overrides": switches, "skipped": slow}
    with Session(cfg, overwrite=True) as session:
        loop = adversarial_loop(session)
        device = session.device
        ref = Reference(cfg, _reference_data(loop), device)
        clock = Clock()
        per_step = cfg.data.batch_size * cfg.objective.d_steps * cfg.run.grad_accum  # real examples per generator step
        row = {"variant": variant, "overrides": switches, "effective": effective(loop)}
        try:
            machine.timed(lambda: loop.step(clock), warmup, device)  # compile happens here, if asked
        except Exception as error:  # noqa: BLE001 - a switch this machine cannot do is reported, not fatal
            return dict(row, skipped=f"{type(error).__name__}: {' '.join(str(error).split())[:300]}")
        machine.timed(ref.step, warmup, device)
        dtype = torch.bfloat16 if str(loop.acc.mixed_precision) == "bf16" else torch.float32  # auto settled
        ours, theirs, mem, faults, peaks = _alternate(
            lambda: loop.step(clock), ref.step, dtype, device, rounds=rounds, steps=steps, per_step=per_step
        )
        ratios = [a / b for a, b in zip(ours, theirs)]
        row.update(
            toolkit=_spread(ours),
            reference=_spread(theirs),
            ratio=_spread(ratios),
            examples_per_step=per_step,
            peak_memory_mb=mem,
            page_faults_per_step={k: v / (rounds * steps) for k, v in faults.items()},
        )
        peak = _work(row, loop, ref, device, dtype, peaks, ours, theirs, per_step)
        if account:
            row["overheads"] = _overheads(loop, per_step / row["toolkit"]["median"], device)
        if layers:
            row["layers"] = layer_costs(loop, peak, device)
            try:
                row["kernels"] = kernel_costs(lambda: loop.iteration(False), peak, device)
            except Exception as error:  # noqa: BLE001 - e.g. compiled graphs under a dispatch mode
                row["kernels"] = {"skipped": f"{type(error).__name__}: {' '.join(str(error).split())[:200]}"}
        return row


def _work(row: dict, loop, ref, device, dtype, peaks, ours, theirs, per_step) -> float:
    """Into ``row``: FLOPs and host syncs a step, FLOP/s, and the share of the matmul peak; returns the peak."""
    row["flops_per_step"] = {
        "toolkit": count_flops(lambda: loop.iteration(False)),
        "reference": count_flops(ref.step),
    }
    row["host_syncs_per_step"] = {
        "toolkit": host_syncs(lambda: loop.iteration(False), device),
        "reference": host_syncs(ref.step, device),
    }
    row["peak_used"] = "bf16" if dtype == torch.bfloat16 else "fp32"
    row["matmul_peak_rounds"] = _spread(peaks["toolkit"])
    row["matmul_peak_flops"] = peak = statistics.median(peaks["toolkit"])
    row["flops_per_second"] = {
        k: row["flops_per_step"][k] * row[k]["median"] / per_step for k in ("toolkit", "reference")
    }
    # Block by block: each block's speed over the peak measured around it, median over rounds.
    row["peak_fraction"] = {
        k: statistics.median(row["flops_per_step"][k] * speed / per_step / p for speed, p in zip(speeds, peaks[k]))
        for k, speeds in (("toolkit", ours), ("reference", theirs))
    }
    return peak


def _load(config_path, overrides, variant: str, folder: Path, switches: list[str] | None = None) -> C.Config:
    """The config of one variant: ``switches`` (default: the variant's entry in ``VARIANTS``) over the user's
    overrides."""
    switches = VARIANTS.get(variant, []) if switches is None else switches
    return C.load(
        config_path,
        [
            *overrides,
            *switches,
            f"run.steps={NEVER}",
            f"run.output={folder}",
            f"run.name={variant}",
            "run.progress=false",
        ],
    )


def effective(loop) -> dict:
    """What the switches actually changed in the built loop (memory format, wrapper, precision, kernels, data)."""
    first = next((p for p in loop.G_net.parameters() if p.dim() == 4), None)
    examples = getattr(loop.batches, "examples", None)
    return {
        "channels_last": bool(
            first is not None and first.is_contiguous(memory_format=torch.channels_last) and not first.is_contiguous()
        ),
        "compiled": type(loop.G).__name__ == "OptimizedModule",
        "mixed_precision": str(loop.acc.mixed_precision),
        "optimizer": {k: loop.opt_g.optimizer.defaults.get(k) for k in ("foreach", "fused")},
        "data_device": str(examples.x.device) if isinstance(examples, Examples) else "drawn per step",
    }


def _reference_data(loop) -> torch.Tensor:
    source = getattr(loop.batches, "examples", None)
    if isinstance(source, Examples):
        return source.x
    mixture = getattr(loop.batches, "mixture", None)
    if mixture is not None:  # toy mixtures: draw once, then index like any in-memory dataset
        return mixture.sample(65536, generator=torch.Generator().manual_seed(0))
    raise ValueError(
        "the reference loop needs data that fits in memory (a bundled dataset, a toy mixture or a small torchvision "
        "set)"
    )


def _spread(values: list[float]) -> dict:
    q = statistics.quantiles(values, n=4, method="inclusive") if len(values) > 1 else [values[0]] * 3
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "q1": q[0], "q3": q[2]}


def _overheads(loop, step_seconds: float, device) -> dict:
    """Seconds per call of what falls due at intervals, and its share of step time at the config's intervals."""
    cfg, s = loop.cfg, loop.session
    out = {}

    def cost(fn, n):
        return statistics.median(machine.timed(fn, 1, device) for _ in range(n))

    plain, logged = cost(lambda: loop.iteration(False), 5), cost(lambda: s.log(loop.iteration(True)), 5)
    every = loop.metrics_every
    items = {
        "log": (max(logged - plain, 0.0), cfg.run.log_every),
        "samples": (cost(loop.samples, 3), cfg.run.sample_every),
        "checkpoint": (cost(loop.checkpoint, 2), cfg.run.checkpoint_every),
    }
    if every:
        items["metrics"] = (cost(loop.measure, 1), every)
    if loop.ema is not None:
        items["ema"] = (cost(lambda: loop.ema.update(loop.G_net), 10), 1)
    for name, (seconds, interval) in items.items():
        out[name] = {"seconds": seconds, "every": interval, "share_of_step": seconds / interval / step_seconds}
    out["total_share"] = sum(v["share_of_step"] for v in out.values())
    return out


def _best(rows: list[dict], groups=COMBINABLE, name: str = "best") -> list[str]:
    """The switches whose toolkit median beat default's by more than 1%, one per group."""
    speed = {r["variant"]: r["ratio"]["median"] for r in rows if "ratio" in r}
    base = speed.get("default")
    if base is None:
        raise ValueError(f"variant {name!r} needs 'default' (and the switches to choose from) measured before it")
    picked = []
    for group in groups:
        faster = [(speed[v], v) for v in group if v in speed and speed[v] > 1.01 * base]
        if faster:
            picked.append(max(faster)[1])
    return picked
