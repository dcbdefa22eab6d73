"""What the kernels of a step cost: its FLOPs, each matrix-product layer alone, and each op where it ran and alone.

These are the ceilings no loop code can lift: if the convolutions alone run at 80% of the peak,
no training loop around them reaches more.
"""

from __future__ import annotations

import statistics
import time

import torch
from torch.utils import _pytree as pytree
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import conv_flop_count, flop_registry

from ...eval_mode import evaluating
from .machine import sync, timed

LAYERS = (torch.nn.Conv2d, torch.nn.ConvTranspose2d, torch.nn.Linear)


def count_flops(fn) -> int:
    """Floating-point operations of ``fn()`` (forward and backward), by FlopCounterMode's formulas.

    Matrix products and convolutions only; a multiply-add is 2.

    >>> layer = torch.nn.Linear(3, 5)
    >>> count_flops(lambda: layer(torch.zeros(7, 3)))
    210

    FlopCounterMode itself also tracks modules, through backward hooks that ``torch.autograd.grad``
    refuses (R1 and R2 take gradients inside a step); the total needs only its formulas, so they are
    applied here by a dispatch mode of our own, with no hooks.
    """
    with _Flops() as counter:
        fn()
    return counter.total


class _Flops(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if func._overloadpacket is torch.ops.aten.convolution_backward:
            self.total += _conv_backward_flops(*args)
            return out
        formula = flop_registry.get(func._overloadpacket)
        if formula is not None:
            self.total += int(formula(*args, **kwargs, out_val=out))
        return out


def _conv_backward_flops(grad_out, x, weight, _bias, _stride, _padding, _dilation, transposed, _pad, _groups, mask):
    """A convolution's backward: its input's gradient and its weight's are each one convolution with the forward's
    multiply-adds. torch's own formula (2.14) counts the weight's as if the groups were one, so a grouped 3x3 of 96
    groups (ResNeXt's) read 96 times its cost."""
    forward = conv_flop_count(list(x.shape), list(weight.shape), list(grad_out.shape), transposed)
    return forward * (int(mask[0]) + int(mask[1]))


class _HostSyncs(TorchDispatchMode):
    def __init__(self, device: torch.device):
        super().__init__()
        self.device, self.count = device, 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is torch.ops.aten._local_scalar_dense.default:
            self.count += args[0].device.type == self.device.type
        elif func is torch.ops.aten._to_copy.default and not kwargs.get("non_blocking"):
            self.count += self._crosses(args[0].device, kwargs.get("device") or args[0].device)
        elif func is torch.ops.aten.copy_.default and not (args[2] if len(args) > 2 else kwargs.get("non_blocking")):
            self.count += self._crosses(args[1].device, args[0].device)
        return func(*args, **kwargs)

    def _crosses(self, source: torch.device, target: torch.device) -> bool:
        """A copy between host memory and the device (none when the device is the host)."""
        return self.device.type != "cpu" and {source.type, target.type} == {"cpu", self.device.type}


def host_syncs(fn, device="cpu") -> int:
    """How many times ``fn()`` makes the host wait for ``device``: values of tensors on it read back to
    Python (``.item()``, ``bool(t)``, ``float(t)``) and blocking copies between it and host memory.

    On a GPU each one makes the CPU wait until the GPU has caught up, and the GPU then idles while the
    next kernels are queued: a training step should make none between logging steps. On a CPU a read
    costs nothing, but reads are counted all the same: they say what the step would do on a GPU.

    >>> host_syncs(lambda: torch.ones(3).sum().item())
    1
    >>> host_syncs(lambda: torch.ones(3).to("meta"), "meta")
    1
    >>> host_syncs(lambda: torch.ones(3).to("meta", non_blocking=True), "meta")
    0
    """
    with _HostSyncs(torch.device(device)) as seen:
        fn()
    return seen.count


def layer_costs(loop, peak: float, device, *, repeats: int = 7) -> dict:
    """Every convolution and linear layer alone, forward and backward, at the shape the loop gives it.

    Says how far the matrix-product layers themselves are from the matmul peak, apart from
    everything else in a step (norms, activations, the optimizer, the loop): the ceiling that
    no loop overhead can lift.
    """
    layers = {
        f"{role}.{name}": module
        for role, net in (("generator", loop.G_net), ("discriminator", loop.D_net))
        for name, module in net.named_modules()
        if isinstance(module, LAYERS)
    }
    inputs: dict[str, torch.Tensor] = {}  # filled in the order the forward pass reaches the layers

    def keeper(key):
        def keep(module, args, out):  # returns None: the output is left alone
            inputs.setdefault(key, args[0].detach().clone())

        return keep

    hooks = [module.register_forward_hook(keeper(key)) for key, module in layers.items()]
    try:  # eval: norm statistics stay as they were
        with torch.no_grad(), loop.acc.autocast(), evaluating(loop.G_net, loop.D_net):
            z, y = loop.prior(loop.cfg.data.batch_size)
            loop.D_net(loop.G_net(z, y), y)
    finally:
        for h in hooks:
            h.remove()
    rows, seen = [], set()
    for key, x in inputs.items():
        module, role = layers[key], key.split(".")[0]
        first = role not in seen  # a network's first layer reads the data: no input gradient
        seen.add(role)
        x = x.requires_grad_(not first and x.is_floating_point())

        def fwd_bwd():
            with loop.acc.autocast():
                out = module(x)  # noqa: B023
            out.backward(torch.ones_like(out))

        flops = count_flops(fwd_bwd)
        fwd_bwd()
        seconds = statistics.median(timed(fwd_bwd, 1, device) for _ in range(repeats))
        rows.append(
            {
                "layer": key,
                "kind": type(module).__name__,
                "input": list(x.shape),
                "flops": flops,
                "seconds": seconds,
                "peak_fraction": flops / seconds / peak,
            }
        )
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
    def of(t: torch.Tensor) -> _TensorSpec:
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


def _alone(func, args_spec, kwargs_spec, matrix: bool, device, repeats: int) -> tuple[int, float]:
    """One op's FLOPs and its median seconds alone, on fresh operands of the recorded shapes."""
    args, kwargs = pytree.tree_map_only(_TensorSpec, _TensorSpec.make, (args_spec, kwargs_spec))

    def call():
        return func(*args, **kwargs)

    with torch.no_grad():
        flops = count_flops(call) if matrix else 0
        call()  # warm: first calls pick kernels and allocate
        return flops, statistics.median(timed(call, 1, device) for _ in range(repeats))


def kernel_costs(fn, peak: float, device, *, repeats: int = 5, steps: int = 3) -> dict:
    """Run ``fn`` (one training step) ``steps`` times, timing every op where it ran; then each op alone.

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
        matrix = func.overloadpacket in flop_registry
        calls = count / steps
        try:
            flops, seconds = _alone(func, args_spec, kwargs_spec, matrix, device, repeats)
        except Exception as error:  # noqa: BLE001 - e.g. a loss that refuses random operands: reported, not timed
            failed.append(f"{name}: {type(error).__name__}")
            continue
        op = ops.setdefault(
            name.removeprefix("aten.").removesuffix(".default"),
            {"calls": 0, "seconds": 0.0, "seconds_in_step": 0.0, "flops": 0, "matrix": matrix},
        )
        op["calls"] += calls
        op["seconds"] += seconds * calls
        op["seconds_in_step"] += in_step / steps
        op["flops"] += flops * calls
    matrix_flops = sum(o["flops"] for o in ops.values())
    total = {
        where: {kind: sum(o[where] for o in ops.values() if o["matrix"] == kind) for kind in (True, False)}
        for where in ("seconds", "seconds_in_step")
    }
    return {
        "ops": dict(sorted(ops.items(), key=lambda kv: -kv[1]["seconds_in_step"])),
        "not_timed": failed,
        "steps": steps,
        "step_seconds": recorded / steps,  # the recorded steps' time, less the recorder's own
        "matrix_flops": matrix_flops,
        "matrix_seconds": total["seconds"][True],
        "other_seconds": total["seconds"][False],
        "matrix_seconds_in_step": total["seconds_in_step"][True],
        "other_seconds_in_step": total["seconds_in_step"][False],
        "floor_peak_fraction": matrix_flops / total["seconds"][True] / peak if total["seconds"][True] else 0.0,
        "in_step_floor_peak_fraction": matrix_flops / total["seconds_in_step"][True] / peak
        if total["seconds_in_step"][True]
        else 0.0,
    }
