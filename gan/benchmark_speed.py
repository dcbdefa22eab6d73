"""Speed benchmark: the toolkit's adversarial loop against a hand-written loop, and against the machine.

The reference is the loop of PyTorch's DCGAN example (``pytorch/examples`` ``dcgan/main.py``),
written here in plain PyTorch on fresh copies of the same networks, with the same loss,
the same Adam settings, the same batch and the data already in memory as one tensor.
The two loops alternate in one process after a warm-up, round after round, so that a
background process slows both alike; each round gives one paired ratio.

>>> result = measure("configs/dcgan32.yaml", rounds=5, variants=("default", "bf16"))  # doctest: +SKIP
>>> print(table(result))                                                               # doctest: +SKIP
"""

from __future__ import annotations

import math
import os
import platform
import resource
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch.utils import _pytree as pytree
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode, flop_registry

from networks import build

from . import config as C
from .data import Examples
from .objectives import discriminator_loss, generator_loss

NEVER = 10**9  # an interval that never falls due within a benchmark

# The switches of issue 8, each a set of config overrides measured against the same reference.
VARIANTS: dict[str, list[str]] = {
    "default": [],
    "quiet": [f"run.log_every={NEVER}", f"run.sample_every={NEVER}", f"run.checkpoint_every={NEVER}", "objective.ema=0.0", "metrics.every=null"],
    "channels_last": ["run.channels_last=true"],
    "channels_first": ["run.channels_last=false"],  # the default on a GPU; on a CPU the layout "auto" turns off
    "compile": ["run.compile=true"],
    "bf16": ["run.mixed_precision=bf16"],
    "foreach": ["optimizers.generator.implementation=foreach", "optimizers.discriminator.implementation=foreach"],
    "fused": ["optimizers.generator.implementation=fused", "optimizers.discriminator.implementation=fused"],
    "for_loop": ["optimizers.generator.implementation=for_loop", "optimizers.discriminator.implementation=for_loop"],
    "data_on_host": ["data.on_device=false"],
}
# Switches that may be combined into "best"; one of each group at most.
COMBINABLE = (("channels_last",), ("compile",), ("bf16",), ("foreach", "fused", "for_loop"))
# The combined variants: "best_fp32" for runs that must keep full precision.
COMBINED = {"best": COMBINABLE, "best_fp32": tuple(g for g in COMBINABLE if g != ("bf16",))}
LAYERS = (torch.nn.Conv2d, torch.nn.ConvTranspose2d, torch.nn.Linear)


# -- what the machine can do ---------------------------------------------------------
def sync(device: torch.device) -> None:
    """Wait for queued kernels: a timer read before this measures launches, not work."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def count_flops(fn) -> int:
    """Floating-point operations of ``fn()`` (forward and backward), as FlopCounterMode counts them.

    Matrix products and convolutions only; a multiply-add is 2.

    >>> layer = torch.nn.Linear(3, 5)
    >>> count_flops(lambda: layer(torch.zeros(7, 3)))
    210
    """
    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


# The shapes the peak is measured at, m x k x n. On a CPU a square product alone understates the
# peak: on an AMD EPYC (Zen 5) oneDNN's 2048-square product ran at 390-460 GFLOP/s while a
# 4096 x 1024 x 1024 one, whose right-hand side stays in cache, ran at 500-510, as fast as the fastest
# convolution measured there (a 3x3 one without padding, 480-505). cuBLAS peaks at large squares.
PEAK_SHAPES = {"cpu": ((2048, 2048, 2048), (4096, 1024, 1024)), "cuda": ((8192, 8192, 8192),)}


def matrix_products(device: torch.device, dtype: torch.dtype, shape: tuple[int, int, int]) -> dict:
    """The same m x k by k x n product through each library PyTorch hands matrix products to on ``device``.

    ``torch.mm`` goes to BLAS (MKL on a CPU, cuBLAS on a GPU); convolutions and, on a CPU, the
    networks' conv layers go to oneDNN, reached here as a 1x1 convolution over channels-last data,
    which is exactly a matrix product. They differ: on an AMD EPYC (Zen 5) MKL's fp32 product runs
    at about half of oneDNN's, so a peak from ``torch.mm`` alone would rate convolutions above 100%.
    Returns name -> a function computing ``a @ b``.
    """
    m, k, n = shape
    a = torch.randn(m, k, device=device).to(dtype)
    b = torch.randn(k, n, device=device).to(dtype)
    paths = {"blas": lambda: torch.mm(a, b)}
    if device.type == "cpu" and m % 64 == 0:
        # a's rows as the pixels of a 64 x m/64 image with k channels, stored channels-last: the same memory
        pixels = a.view(1, 64, m // 64, k).permute(0, 3, 1, 2)
        weight = b.t().contiguous().view(n, k, 1, 1)
        paths["onednn"] = lambda: torch.nn.functional.conv2d(pixels, weight).permute(0, 2, 3, 1).reshape(m, n)
    return paths


# A small product timed first, to tell whether a library computes this type natively: on a CPU without
# bf16 instructions (an AMD EPYC with AVX2 only) bf16 products ran at 1-15 GFLOP/s, and one 2048-square
# product took 13 s; measuring a peak there at full size took minutes a round. On a GPU a small product
# measures the launch, not the arithmetic, so the probe is larger there.
PROBE_SHAPES = {"cpu": (256, 256, 256), "cuda": (2048, 2048, 2048)}


def matmul_peaks(device: torch.device, dtype: torch.dtype = torch.float32, *, shapes=None, repeats: int = 10, budget_s: float = 0.5) -> dict:
    """For each library in ``matrix_products``: FLOP/s of its best of ``repeats`` products, over ``shapes``
    (default ``PEAK_SHAPES`` for the device type).

    Each library first times a ``PROBE_SHAPES`` product; a shape that this speed predicts to take more
    than ``budget_s`` a product is not run, and where no shape is run the probe's speed is the library's
    (a slow path: emulated arithmetic, not a peak worth the minutes).
    """
    kind = "cuda" if device.type == "cuda" else "cpu"
    out, probe = {}, PROBE_SHAPES[kind]

    def best_of(product, flops, n):
        product()  # first call: kernel choice, page faults
        best = math.inf
        for _ in range(n):
            sync(device)
            start = time.perf_counter()
            product()
            sync(device)
            best = min(best, time.perf_counter() - start)
        return flops / best

    probes = {name: best_of(product, 2 * math.prod(probe), 2) for name, product in matrix_products(device, dtype, probe).items()}
    for m, k, n in shapes or PEAK_SHAPES[kind]:
        for name, product in matrix_products(device, dtype, (m, k, n)).items():
            if 2 * m * k * n / probes[name] <= budget_s:
                out[name] = max(out.get(name, 0.0), best_of(product, 2 * m * k * n, repeats))
    return {name: out.get(name, rate) for name, rate in probes.items()}


def matmul_peak(device: torch.device, dtype: torch.dtype = torch.float32, *, shapes=None, repeats: int = 10) -> float:
    """What this device reaches at its easiest: the fastest library's fastest product (``matmul_peaks``)."""
    return max(matmul_peaks(device, dtype, shapes=shapes, repeats=repeats).values())


def peak_memory_mb(device: torch.device) -> float:
    """Peak memory so far: allocated tensors on a GPU; the process's resident set on a CPU."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


# -- the reference: PyTorch's DCGAN example loop --------------------------------------
class Reference:
    """The twenty-line loop a user would write, on fresh copies of the config's networks."""

    @staticmethod
    def check(cfg: C.Config) -> None:
        """Refuse, naming the key, what the DCGAN example's loop does not do: the comparison would be unfair."""
        missing = {"run.grad_accum": (cfg.run.grad_accum != 1, "1"), "objective.r1": (cfg.objective.r1 > 0, "0"),
                   "objective.gradient_penalty": (cfg.objective.gradient_penalty > 0, "0")}
        for key, (present, off) in missing.items():
            if present:
                raise C.ConfigError(f"{key}: the reference loop (PyTorch's DCGAN example) has none; compare with --set {key}={off}")
        for role in ("generator", "discriminator"):
            name = cfg.optimizers.get(role, C.Optimizer()).name
            if name not in ("adam", "adamw"):
                raise C.ConfigError(f"optimizers.{role}.name: the reference loop uses Adam as the DCGAN example does, not {name!r}; compare with --set optimizers.{role}.name=adam")

    def __init__(self, cfg: C.Config, real: torch.Tensor, device: torch.device):
        self.check(cfg)
        self.cfg, self.device, self.real = cfg, device, real.to(device)  # [M, ...] the whole dataset in memory
        self.netG, self.netD = (self._fresh(cfg.networks[cfg.roles[r]]).to(device) for r in ("generator", "discriminator"))
        self.optG, self.optD = (self._adam(net, cfg.optimizers.get(r, C.Optimizer())) for net, r in ((self.netG, "generator"), (self.netD, "discriminator")))
        self.classes = self.netG.condition.k if self.netG.condition is not None else None
        self.order, self.at = torch.randperm(len(self.real), device=device), 0

    @staticmethod
    def _fresh(spec: dict):
        return build({k: v for k, v in spec.items() if k not in ("init", "freeze_body")})

    @staticmethod
    def _adam(net, opt: C.Optimizer):
        cls = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[opt.name]  # others: refused by check()
        return cls(net.parameters(), lr=opt.lr, betas=opt.betas, weight_decay=opt.weight_decay)

    def batch(self) -> torch.Tensor:
        n = self.cfg.data.batch_size
        if self.at + n > len(self.order):
            self.order, self.at = torch.randperm(len(self.real), device=self.device), 0
        idx = self.order[self.at : self.at + n]
        self.at += n
        return self.real[idx]

    def step(self) -> None:
        obj, n = self.cfg.objective, self.cfg.data.batch_size
        netG, netD = self.netG, self.netD
        y = torch.randint(self.classes, (n,), device=self.device) if self.classes else None
        for _ in range(obj.d_steps):
            # (1) Update D network: maximize log(D(x)) + log(1 - D(G(z)))
            real = self.batch()
            noise = torch.randn(n, self.netG.source.size, device=self.device)
            netD.zero_grad()
            fake = netG(noise, y)
            errD = discriminator_loss(obj.loss, netD(real, y), netD(fake.detach(), y), obj.label_smoothing)
            errD.backward()
            self.optD.step()
        # (2) Update G network: maximize log(D(G(z))); D's parameters still require grad, as in the example
        netG.zero_grad()
        errG = generator_loss(obj.loss, netD(fake, y))
        errG.backward()
        self.optG.step()


# -- the toolkit's loop, built as `gan train` builds it ---------------------------------
def _load(config_path, overrides, variant: str, folder: Path, switches: list[str] | None = None) -> C.Config:
    """The config of one variant: ``switches`` (default: the variant's entry in ``VARIANTS``) over the user's overrides."""
    switches = VARIANTS.get(variant, []) if switches is None else switches
    return C.load(config_path, [*overrides, *switches, f"run.steps={NEVER}", f"run.output={folder}", f"run.name={variant}", "run.progress=false"])


def effective(loop) -> dict:
    """What the switches actually changed in the built loop (memory format, wrapper, precision, kernels, data)."""
    first = next((p for p in loop.G_net.parameters() if p.dim() == 4), None)
    examples = getattr(loop.batches, "examples", None)
    return {
        "channels_last": bool(first is not None and first.is_contiguous(memory_format=torch.channels_last) and not first.is_contiguous()),
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
    raise ValueError("the reference loop needs data that fits in memory (a bundled dataset, a toy mixture or a small torchvision set)")


def _timed(fn, steps: int, device) -> float:
    sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        fn()
    sync(device)
    return time.perf_counter() - start


def _spread(values: list[float]) -> dict:
    q = statistics.quantiles(values, n=4, method="inclusive") if len(values) > 1 else [values[0]] * 3
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "q1": q[0], "q3": q[2]}


def _overheads(loop, step_seconds: float, device) -> dict:
    """Seconds per call of what falls due at intervals, and its share of step time at the config's intervals."""
    cfg, s = loop.cfg, loop.session
    out = {}

    def cost(fn, n):
        return statistics.median(_timed(fn, 1, device) for _ in range(n))

    plain, logged = cost(lambda: loop.iteration(False), 5), cost(lambda: s.log(loop.iteration(True)), 5)
    every = cfg.metrics.get("every") or (cfg.run.sample_every if cfg.data.name in ("ring", "grid") else None)
    items = {"log": (max(logged - plain, 0.0), cfg.run.log_every), "samples": (cost(loop.samples, 3), cfg.run.sample_every), "checkpoint": (cost(loop.checkpoint, 2), cfg.run.checkpoint_every)}
    if every:
        items["metrics"] = (cost(loop.measure, 1), every)
    if loop.ema is not None:
        items["ema"] = (cost(lambda: loop.ema.update(loop.G_net), 10), 1)
    for name, (seconds, interval) in items.items():
        out[name] = {"seconds": seconds, "every": interval, "share_of_step": seconds / interval / step_seconds}
    out["total_share"] = sum(v["share_of_step"] for v in out.values())
    return out


def layer_costs(loop, peak: float, device, *, repeats: int = 7) -> dict:
    """Every convolution and linear layer alone, forward and backward, at the shape the loop gives it.

    Says how far the matrix-product layers themselves are from the matmul peak, apart from
    everything else in a step (norms, activations, the optimizer, the loop): the ceiling that
    no loop overhead can lift.
    """
    layers = {f"{role}.{name}": module for role, net in (("generator", loop.G_net), ("discriminator", loop.D_net))
              for name, module in net.named_modules() if isinstance(module, LAYERS)}
    inputs: dict[str, torch.Tensor] = {}  # filled in the order the forward pass reaches the layers

    def keeper(key):
        def keep(module, args, out):  # returns None: the output is left alone
            inputs.setdefault(key, args[0].detach().clone())
        return keep

    hooks = [module.register_forward_hook(keeper(key)) for key, module in layers.items()]
    modes = [(net, net.training) for net in (loop.G_net, loop.D_net)]
    try:
        with torch.no_grad(), loop.acc.autocast():
            z, y = loop.prior(loop.cfg.data.batch_size)
            loop.D_net.eval()(loop.G_net.eval()(z, y), y)  # eval: norm statistics stay as they were
    finally:
        for h in hooks:
            h.remove()
        for net, training in modes:
            net.train(training)
    rows, seen = [], set()
    for key, x in inputs.items():
        module, role = layers[key], key.split(".")[0]
        first = role not in seen  # a network's first layer reads the data: no input gradient
        seen.add(role)
        x = x.requires_grad_(not first and x.is_floating_point())

        def fwd_bwd():
            with loop.acc.autocast():
                out = module(x)
            out.backward(torch.ones_like(out))

        flops = count_flops(fwd_bwd)
        fwd_bwd()
        seconds = statistics.median(_timed(fwd_bwd, 1, device) for _ in range(repeats))
        rows.append({"layer": key, "kind": type(module).__name__, "input": list(x.shape), "flops": flops, "seconds": seconds,
                     "peak_fraction": flops / seconds / peak})
    for net in (loop.G_net, loop.D_net):
        net.zero_grad(set_to_none=True)
    total_flops, total_seconds = sum(r["flops"] for r in rows), sum(r["seconds"] for r in rows)
    return {"rows": rows, "peak_fraction": total_flops / total_seconds / peak if total_seconds else 0.0}


class _Kernels(TorchDispatchMode):
    """Notes the signature (op, shapes, strides, dtypes, other arguments) of every op that runs under it,
    and how long each call took where it ran: inside the step, on the step's own operands.

    Signatures, not tensors: a ResNet step's operands would hold gigabytes of copies.
    """

    def __init__(self, device: torch.device):
        super().__init__()
        self.device = device
        self.calls: dict[tuple, list] = {}  # signature -> [func, args, kwargs, count, seconds], in first-run order
        self.own = 0.0  # seconds of this recorder's own bookkeeping: not the step's

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        entered = time.perf_counter()
        kwargs = kwargs or {}
        spec = pytree.tree_map_only(torch.Tensor, _TensorSpec.of, (args, kwargs))
        entry = self.calls.setdefault((str(func), repr(spec)), [func, *spec, 0, 0.0])
        sync(self.device)  # on a GPU each op is waited for: slower, but its own time
        start = time.perf_counter()
        out = func(*args, **kwargs)
        sync(self.device)
        end = time.perf_counter()
        entry[3] += 1
        entry[4] += end - start
        self.own += (start - entered) + (time.perf_counter() - end)
        return out


class _TensorSpec(tuple):
    @staticmethod
    def of(t: torch.Tensor) -> "_TensorSpec":
        return _TensorSpec((tuple(t.shape), tuple(t.stride()), t.dtype, t.device))

    def make(self) -> torch.Tensor:
        """Fresh operands of this shape, strides and type.

        Floats in [0.25, 0.75]: no denormals, no NaN from a square root or logarithm, valid
        probabilities for a loss (a slow path for odd values would be charged to the kernel).
        Integers 0: valid indices.
        """
        shape, stride, dtype, device = self
        size = 0 if 0 in shape else 1 + sum((n - 1) * st for n, st in zip(shape, stride))  # strides may be 0: expanded
        storage = torch.empty(size, dtype=dtype, device=device)
        storage = storage.uniform_(0.25, 0.75) if dtype.is_floating_point else storage.zero_()
        return storage.as_strided(shape, stride)


def kernel_costs(fn, peak: float, device, *, repeats: int = 5, steps: int = 3) -> dict:
    """Run ``fn`` (one training step) ``steps`` times, timing every op where it ran; then time each op alone, on fresh operands.

    Splits a step's time into what its kernels cost inside the step, what the same kernels cost
    with nothing else running, and what lies between kernels (Python, autograd, and the
    recording's own dispatch; ``torch.compile`` does not run under it: a compiled step is
    recorded as its uncompiled ops). Kernels run
    slower inside a step than alone; the difference is part of the loop's distance to the peak
    that no loop code can remove. The matrix products' own sum is the floor:
    ``flops / matrix_seconds / peak`` is the highest share of the peak any loop could reach
    with these kernels, even if norms, activations and the optimizer cost nothing
    (``in_step_floor_peak_fraction``: the same with the products as fast as they ran in the step).
    Identical calls (a network on the real and on the generated batch) are timed alone once and
    counted as often as they ran. Per step: counts and seconds are means over the ``steps`` runs.
    """
    recorder = _Kernels(device)
    with recorder:
        started = time.perf_counter()
        for _ in range(steps):
            fn()
        recorded = time.perf_counter() - started - recorder.own
    ops, failed = {}, []
    for (name, _), (func, args_spec, kwargs_spec, count, in_step) in recorder.calls.items():
        if name.startswith("profiler."):  # record_function markers: bookkeeping, not kernels
            continue
        args, kwargs = pytree.tree_map_only(_TensorSpec, _TensorSpec.make, (args_spec, kwargs_spec))
        matrix = func.overloadpacket in flop_registry
        calls = count / steps
        try:
            with torch.no_grad():
                flops = count_flops(lambda: func(*args, **kwargs)) if matrix else 0
                func(*args, **kwargs)  # warm: first calls pick kernels and allocate
                seconds = statistics.median(_timed(lambda: func(*args, **kwargs), 1, device) for _ in range(repeats))
        except Exception as error:  # noqa: BLE001 - e.g. a loss that refuses random operands: reported, not timed
            failed.append(f"{name}: {type(error).__name__}")
            continue
        op = ops.setdefault(name.removeprefix("aten.").removesuffix(".default"),
                            {"calls": 0, "seconds": 0.0, "seconds_in_step": 0.0, "flops": 0, "matrix": matrix})
        op["calls"] += calls
        op["seconds"] += seconds * calls
        op["seconds_in_step"] += in_step / steps
        op["flops"] += flops * calls
    matrix_flops = sum(o["flops"] for o in ops.values())
    total = {where: {kind: sum(o[where] for o in ops.values() if o["matrix"] == kind) for kind in (True, False)}
             for where in ("seconds", "seconds_in_step")}
    return {
        "ops": dict(sorted(ops.items(), key=lambda kv: -kv[1]["seconds_in_step"])), "not_timed": failed,
        "steps": steps, "step_seconds": recorded / steps,  # the recorded steps' time, less the recorder's own
        "matrix_flops": matrix_flops,
        "matrix_seconds": total["seconds"][True], "other_seconds": total["seconds"][False],
        "matrix_seconds_in_step": total["seconds_in_step"][True], "other_seconds_in_step": total["seconds_in_step"][False],
        "floor_peak_fraction": matrix_flops / total["seconds"][True] / peak if total["seconds"][True] else 0.0,
        "in_step_floor_peak_fraction": matrix_flops / total["seconds_in_step"][True] / peak if total["seconds_in_step"][True] else 0.0,
    }


def _variant(config_path, overrides, variant, switches, *, rounds, warmup, steps, folder, account, layers=False) -> dict:
    """Build one toolkit variant and a fresh reference; alternate them; return the row."""
    from .loops.adversarial import Adversarial
    from .loops.session import Clock, Session, emulated_bf16

    cfg = _load(config_path, overrides, variant, folder, switches)
    slow = emulated_bf16(cfg.run)
    if slow:  # minutes of rounds to learn what the CPU's flags already say
        return {"variant": variant, "overrides": switches, "skipped": slow}
    with Session(cfg, overwrite=True) as session:
        loop = Adversarial(cfg, session, resume=False)
        device = session.device
        ref = Reference(cfg, _reference_data(loop), device)
        clock = Clock()
        per_step = cfg.data.batch_size * cfg.objective.d_steps * cfg.run.grad_accum  # real examples per generator step
        row = {"variant": variant, "overrides": switches, "effective": effective(loop)}
        try:
            _timed(lambda: loop.step(clock), warmup, device)  # compile happens here, if asked
        except Exception as error:  # noqa: BLE001 - a switch this machine cannot do is reported, not fatal
            return dict(row, skipped=f"{type(error).__name__}: {' '.join(str(error).split())[:300]}")
        _timed(ref.step, warmup, device)
        ours, theirs, mem, faults = [], [], {"toolkit": 0.0, "reference": 0.0}, {"toolkit": 0, "reference": 0}
        dtype = torch.bfloat16 if cfg.run.mixed_precision == "bf16" else torch.float32
        precision = {"toolkit": dtype, "reference": torch.float32}  # the reference loop always runs in fp32
        # Each loop's block is rated against the peak measured just before and just after it (their mean), in its
        # own precision: on a shared virtual machine the speed of the same product moved by up to 50% from one
        # round to the next, so a peak taken once a round could be a different machine from the one that ran the block.
        peaks: dict[str, list[float]] = {"toolkit": [], "reference": []}
        for r in range(rounds):  # alternate which goes first: a slow drift favours neither
            pair = [("toolkit", lambda: loop.step(clock)), ("reference", ref.step)]
            last = None  # (dtype, peak) measured after the previous block: the next block's "before" in the same type
            for name, fn in pair if r % 2 == 0 else pair[::-1]:
                want = precision[name]
                before_peak = last[1] if last is not None and last[0] == want else matmul_peak(device, want, repeats=3)
                if device.type == "cuda":
                    torch.cuda.reset_peak_memory_stats(device)
                before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
                seconds = _timed(fn, steps, device)
                faults[name] += resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
                (ours if name == "toolkit" else theirs).append(per_step * steps / seconds)
                mem[name] = max(mem[name], peak_memory_mb(device))
                last = (want, matmul_peak(device, want, repeats=3))
                peaks[name].append((before_peak + last[1]) / 2)
        ratios = [a / b for a, b in zip(ours, theirs)]
        row.update(toolkit=_spread(ours), reference=_spread(theirs), ratio=_spread(ratios), examples_per_step=per_step, peak_memory_mb=mem,
                   page_faults_per_step={k: v / (rounds * steps) for k, v in faults.items()})
        row["flops_per_step"] = {"toolkit": count_flops(lambda: loop.iteration(False)), "reference": count_flops(ref.step)}
        row["peak_used"], row["matmul_peak_rounds"] = "bf16" if dtype == torch.bfloat16 else "fp32", _spread(peaks["toolkit"])
        row["matmul_peak_flops"] = peak = statistics.median(peaks["toolkit"])
        row["flops_per_second"] = {k: row["flops_per_step"][k] * row[k]["median"] / per_step for k in ("toolkit", "reference")}
        row["peak_fraction"] = {  # block by block: each block's speed over the peak measured around it, median over rounds
            k: statistics.median(row["flops_per_step"][k] * speed / per_step / p for speed, p in zip(speeds, peaks[k]))
            for k, speeds in (("toolkit", ours), ("reference", theirs))}
        if account:
            row["overheads"] = _overheads(loop, per_step / row["toolkit"]["median"], device)
        if layers:
            row["layers"] = layer_costs(loop, peak, device)
            try:
                row["kernels"] = kernel_costs(lambda: loop.iteration(False), peak, device)
            except Exception as error:  # noqa: BLE001 - e.g. compiled graphs under a dispatch mode
                row["kernels"] = {"skipped": f"{type(error).__name__}: {' '.join(str(error).split())[:200]}"}
        return row


def measure(config_path, overrides=(), *, rounds: int = 8, warmup: int = 5, steps_per_round: int = 20, variants=("default", "quiet"), overheads: bool = True, layers: bool = False) -> dict:
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
    Reference.check(probe)  # before anything is built: one line naming the key
    from .loops.session import on_cpu

    device = torch.device("cpu" if on_cpu(probe.run) else "cuda")
    by_library = {"fp32": matmul_peaks(device), "bf16": matmul_peaks(device, torch.bfloat16)}  # at the start; each row measures its own
    peaks = {k: max(v.values()) for k, v in by_library.items()}
    result = {
        "config": str(config_path), "overrides": list(overrides), "device": _describe(device), "threads": torch.get_num_threads(),
        "load_average": os.getloadavg(), "torch": torch.__version__, "rounds": rounds, "warmup": warmup, "steps_per_round": steps_per_round,
        "matmul_peak_flops": peaks, "matmul_peak_by_library": by_library,
        "matmul_peak_shapes": PEAK_SHAPES["cuda" if device.type == "cuda" else "cpu"], "rows": [],
    }
    with tempfile.TemporaryDirectory(prefix="gan-speed-") as folder:
        for variant in variants:
            if variant in COMBINED:
                result[variant] = picked = _best(result["rows"], COMBINED[variant], variant)
                switches = [o for name in picked for o in VARIANTS[name]]
            else:
                switches = VARIANTS[variant]
            row = _variant(config_path, list(overrides), variant, switches, rounds=rounds, warmup=warmup, steps=steps_per_round,
                           folder=Path(folder), account=overheads and variant == "default", layers=layers)
            result["rows"].append(row)
    result["load_average_after"] = os.getloadavg()
    return result


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


def _describe(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{_cpu_model() or platform.machine()} CPU, {os.cpu_count()} cores"


def _cpu_model() -> str | None:
    """The CPU's name from /proc/cpuinfo (Linux): the same 2-core machine kind may be an Intel or an AMD one."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return None
    names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    return names[0] if names else None


# -- output ------------------------------------------------------------------------
def table(result: dict) -> str:
    """A markdown table of one ``measure`` result."""
    lines = [
        f"`{result['config']}`{' ' + ' '.join(result['overrides']) if result['overrides'] else ''} on {result['device']} "
        f"({result['threads']} threads, load average before {result['load_average'][0]:.2f}); matmul peak at the start (the fastest "
        "library's fastest product of " + ", ".join("x".join(map(str, shape)) for shape in result.get("matmul_peak_shapes", ())) + "): " + ", ".join(_peak_text(result, k) for k in result["matmul_peak_flops"])
        + f"; {result['rounds']} rounds x {result['steps_per_round']} steps after {result['warmup']} warm-up steps; "
        "% of peak: each loop's speed in a round over the peak measured just before and after it, median over rounds",
        "",
        "| variant | toolkit ex/s median [min, max] | reference ex/s median [min, max] | ratio median [min, max] | GFLOP/step toolkit / ref | toolkit GFLOP/s (% of peak) | reference GFLOP/s (% of peak) | peak GFLOP/s median [min, max] | peak MB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in result["rows"]:
        name = row["variant"] + (f" ({'+'.join(result[row['variant']]) or 'no switch beat default: default again'})" if row["variant"] in COMBINED else "")
        if "skipped" in row:
            lines.append(f"| {name} | skipped: {row['skipped']} | | | | | | | |")
            continue
        t, r, q = row["toolkit"], row["reference"], row["ratio"]
        f, fs, pf, pk = row["flops_per_step"], row["flops_per_second"], row["peak_fraction"], row["matmul_peak_rounds"]
        lines.append(
            f"| {name} | {t['median']:.0f} [{t['min']:.0f}, {t['max']:.0f}] | {r['median']:.0f} [{r['min']:.0f}, {r['max']:.0f}] "
            f"| {q['median']:.3f} [{q['min']:.3f}, {q['max']:.3f}] | {f['toolkit'] / 1e9:.3f} / {f['reference'] / 1e9:.3f} "
            f"| {fs['toolkit'] / 1e9:.1f} ({100 * pf['toolkit']:.0f}%{'' if row['peak_used'] == 'fp32' else ' bf16'}) "
            f"| {fs['reference'] / 1e9:.1f} ({100 * pf['reference']:.0f}%{'' if row['peak_used'] == 'fp32' else ' fp32'}) "
            f"| {pk['median'] / 1e9:.0f} [{pk['min'] / 1e9:.0f}, {pk['max'] / 1e9:.0f}]{'' if row['peak_used'] == 'fp32' else ' bf16'} "
            f"| {max(row['peak_memory_mb'].values()):.0f} |"
        )
    for row in result["rows"]:
        if "overheads" in row:
            o = row["overheads"]
            parts = [f"{k} {v['seconds'] * 1e3:.1f} ms every {v['every']} = {100 * v['share_of_step']:.2f}%" for k, v in o.items() if k != "total_share"]
            lines += ["", f"Periodic work at the config's intervals ({row['variant']}): " + "; ".join(parts) + f"; total {100 * o['total_share']:.2f}% of step time."]
    for row in result["rows"]:
        if "layers" in row:
            step = row["peak_fraction"]["toolkit"]
            lines += ["", f"Matrix-product layers alone, forward + backward ({row['variant']}): {100 * row['layers']['peak_fraction']:.0f}% of peak "
                      f"together, against {100 * step:.0f}% for the whole step", "",
                      "| layer | kind | input | GFLOP | ms | % of peak |", "|---|---|---|---|---|---|"]
            lines += [f"| {r['layer']} | {r['kind']} | {'x'.join(map(str, r['input']))} | {r['flops'] / 1e9:.3f} | {r['seconds'] * 1e3:.2f} "
                      f"| {100 * r['peak_fraction']:.0f}% |" for r in row["layers"]["rows"]]
    for row in result["rows"]:
        if "kernels" in row:
            lines += ["", *_time_split(row)]
    verdict_lines = verdict(result)
    if verdict_lines:
        lines += ["", f"Against the targets of issue #8 for `{Path(result['config']).name}`:", "", *[f"- {v}" for v in verdict_lines]]
    return "\n".join(lines)


def _peak_text(result: dict, dtype: str) -> str:
    libraries = result.get("matmul_peak_by_library", {}).get(dtype, {})
    return (f"{dtype} {result['matmul_peak_flops'][dtype] / 1e9:.0f} GFLOP/s"
            + (f" ({', '.join(f'{name} {v / 1e9:.0f}' for name, v in libraries.items())})" if len(libraries) > 1 else ""))


def _time_split(row: dict, top: int = 12) -> list[str]:
    """Where one step's time goes: its kernels inside the step and alone, matrix products and the rest, and what lies between."""
    k = row["kernels"]
    if "skipped" in k:
        return [f"Kernels of one step alone ({row['variant']}): skipped: {k['skipped']}"]
    step, timed = k["step_seconds"], row["examples_per_step"] / row["toolkit"]["median"]
    between = step - k["matrix_seconds_in_step"] - k["other_seconds_in_step"]
    ms = lambda seconds: f"{seconds * 1e3:.1f} ms"  # noqa: E731
    compiled = row.get("effective", {}).get("compiled")
    lines = [
        f"Where one step's time goes ({row['variant']}): {ms(timed)} a step in the timed rounds; run op by op ({k['steps']} steps, "
        f"each op timed where it ran) {ms(step)} = {ms(k['matrix_seconds_in_step'])} of matrix products "
        f"+ {ms(k['other_seconds_in_step'])} of other kernels + {ms(between)} between kernels (Python, autograd, the recording itself)"
        + (". torch.compile does not run under the recorder: these are the uncompiled step's ops. " if compiled else ". ")
        + f"The same kernels timed alone, on fresh operands: {ms(k['matrix_seconds'])} and {ms(k['other_seconds'])}. "
        f"With nothing but the matrix products the step would reach {100 * k['in_step_floor_peak_fraction']:.0f}% of the peak "
        f"({100 * k['floor_peak_fraction']:.0f}% at their speed alone); with nothing but its kernels, "
        f"{100 * _kernel_bound(row, 'seconds_in_step'):.0f}% ({100 * _kernel_bound(row):.0f}% alone)."
        + (f" Not replayed: {', '.join(k['not_timed'])}." if k["not_timed"] else ""),
        "", "| op | calls | ms in the step | ms alone | GFLOP | % of peak in the step | alone |", "|---|---|---|---|---|---|---|",
    ]
    share = lambda op, where: f"{100 * op['flops'] / op[where] / row['matmul_peak_flops']:.0f}%" if op["matrix"] and op[where] else ""  # noqa: E731
    for name, op in list(k["ops"].items())[:top]:
        lines.append(f"| {name} | {op['calls']:g} | {op['seconds_in_step'] * 1e3:.2f} | {op['seconds'] * 1e3:.2f} | {op['flops'] / 1e9:.3f} "
                     f"| {share(op, 'seconds_in_step')} | {share(op, 'seconds')} |")
    return lines


def _kernel_bound(row: dict, where: str = "seconds") -> float:
    """The share of the peak the step would reach if it took exactly the sum of its kernels (alone, or ``"seconds_in_step"``)."""
    k = row["kernels"]
    return k["matrix_flops"] / (k[f"matrix_{where}"] + k[f"other_{where}"]) / row["matmul_peak_flops"]


# Issue #8's targets, for the configs they were set on (file name -> target).
SPEED_TARGETS = {"dcgan32.yaml": {"default_ratio": 0.97, "best_ratio": 1.05, "peak_fraction": 0.70, "periodic_share": 0.03}}


def verdict(result: dict) -> list[str]:
    """One line per target of ``SPEED_TARGETS`` for this result's config: what was measured, and met or **missed**.

    The FLOP/s target is judged on the best fp32 variant (bf16 rows are measured against the bf16
    peak, a different machine limit); where kernels were timed alone, the line says how far any
    loop could get with them.
    """
    target = SPEED_TARGETS.get(Path(result["config"]).name)
    rows = {r["variant"]: r for r in result["rows"] if "skipped" not in r}
    if not target or "default" not in rows:
        return []
    mark = lambda ok: "met" if ok else "**missed**"  # noqa: E731
    default = rows["default"]
    out = [f"default settings {default['ratio']['median']:.2f}x the hand-written loop (target >= {target['default_ratio']}x): "
           + mark(default["ratio"]["median"] >= target["default_ratio"])]
    if "best" in rows:
        best = rows["best"]["ratio"]["median"]
        out.append(f"best switches ({'+'.join(result.get('best', [])) or 'none faster than default'}) {best:.2f}x "
                   f"(target >= {target['best_ratio']}x): " + mark(best >= target["best_ratio"]))
    if "overheads" in default:
        share = default["overheads"]["total_share"]
        out.append(f"logging, EMA, samples and checkpoints at the config's intervals {100 * share:.2f}% of step time "
                   f"(target < {100 * target['periodic_share']:.0f}%): " + mark(share < target["periodic_share"]))
    fp32 = {name: r for name, r in rows.items() if r["peak_used"] == "fp32"}
    name, top = max(fp32.items(), key=lambda kv: kv[1]["peak_fraction"]["toolkit"])
    line = (f"step FLOP/s {100 * top['peak_fraction']['toolkit']:.0f}% of the fp32 matmul peak ({name}; default "
            f"{100 * default['peak_fraction']['toolkit']:.0f}%, the hand-written loop {100 * default['peak_fraction']['reference']:.0f}%) "
            f"(target >= {100 * target['peak_fraction']:.0f}%): " + mark(top["peak_fraction"]["toolkit"] >= target["peak_fraction"]))
    bounds = {n: r for n, r in fp32.items() if "kernels" in r and "skipped" not in r["kernels"]}
    if bounds:  # default's, and the highest
        highest = max(bounds, key=lambda n: bounds[n]["kernels"]["floor_peak_fraction"])
        line += ". With these kernels no loop gets further than " + "; ".join(
            f"{100 * bounds[n]['kernels']['floor_peak_fraction']:.0f}% ({n}: its matrix products alone), "
            f"{100 * _kernel_bound(bounds[n]):.0f}% with its other kernels, "
            f"{100 * bounds[n]['kernels']['in_step_floor_peak_fraction']:.0f}% with its matrix products as fast as they ran inside the step"
            for n in dict.fromkeys(["default", highest]) if n in bounds)
    return out + [line]
