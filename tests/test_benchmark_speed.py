"""The speed benchmark at a tiny size: fields present and sane, FLOPs counted right, every switch trains."""

from __future__ import annotations

import json
import math
import os
import time
import warnings

import pytest
import torch

from gan import config as C
from gan.benchmark.speed import benchmark as B
from gan.benchmark.speed import kernels as K
from gan.benchmark.speed import machine as M
from gan.benchmark.speed import report as R
from gan.cli import main
from gan.device import uses_channels_last
from gan.loops.setup import adversarial_loop
from gan.session.progress import Clock
from gan.session.session import Session

from .conftest import TINY_DIGITS, TINY_RING

FAST = {"rounds": 2, "warmup": 1, "steps_per_round": 2}


@pytest.fixture(autouse=True)
def small_peak_products(monkeypatch):
    """The peak at tiny sizes too: 2048-square products, three times a round, took most of this file's time."""
    monkeypatch.setitem(M.PEAK_SHAPES, "cpu", ((512, 512, 512), (1024, 256, 256)))


def _positive_finite(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x) and x > 0


def test_benchmark_emits_positive_finite_speeds_flops_and_memory(write_config):
    path = write_config(TINY_DIGITS)
    result = B.measure(path, **FAST, variants=("default",))
    json.dumps(result)  # JSON-able as returned
    assert _positive_finite(result["matmul_peak_flops"]["fp32"])
    (row,) = result["rows"]
    for loop in ("toolkit", "reference"):
        assert all(_positive_finite(row[loop][k]) for k in ("median", "min", "max", "q1", "q3"))
        assert _positive_finite(row["flops_per_step"][loop])
        assert _positive_finite(row["flops_per_second"][loop])
        assert _positive_finite(row["peak_fraction"][loop])
        assert _positive_finite(row["peak_memory_mb"][loop])
    assert _positive_finite(row["ratio"]["median"])
    # each round is compared with the peak measured in that round
    peaks = row["matmul_peak_rounds"]
    assert _positive_finite(peaks["min"]) and peaks["min"] <= row["matmul_peak_flops"] <= peaks["max"]
    fastest = row["flops_per_step"]["toolkit"] * row["toolkit"]["max"] / row["examples_per_step"] / peaks["min"]
    slowest = row["flops_per_step"]["toolkit"] * row["toolkit"]["min"] / row["examples_per_step"] / peaks["max"]
    assert slowest <= row["peak_fraction"]["toolkit"] <= fastest
    assert row["page_faults_per_step"]["toolkit"] >= 0
    # the toolkit's generator update computes no gradients for the discriminator's weights
    assert row["flops_per_step"]["toolkit"] < row["flops_per_step"]["reference"]
    assert set(row["overheads"]) >= {"log", "samples", "checkpoint", "ema", "total_share"}
    # values read back to Python between log steps: on a CPU the toolkit's NaN guard reads one verdict an update
    # (free there; on a GPU it skips on the device); the DCGAN example's Adam (PyTorch's per-tensor loop on a
    # CPU) reads each parameter's step count
    assert row["host_syncs_per_step"]["toolkit"] == 2 < row["host_syncs_per_step"]["reference"]
    assert "| default |" in R.table(result)
    assert "Host syncs a step" in R.table(result)
    # the peak is the faster library's, and the table names both
    by_library = result["matmul_peak_by_library"]["fp32"]
    assert result["matmul_peak_flops"]["fp32"] == max(by_library.values())
    assert f"onednn {by_library['onednn'] / 1e9:.0f}" in R.table(result)


def test_in_a_bf16_row_the_reference_is_rated_against_the_fp32_peak(write_config, monkeypatch):
    """The reference loop runs in fp32 whatever the variant: its share of a bf16 peak said nothing (131% on one CPU)."""
    from gan import device as S

    monkeypatch.setattr(S, "cpu_has_bf16", lambda: True)  # measured even where bf16 is emulated
    peak = {torch.float32: 1e9, torch.bfloat16: 1e12}
    monkeypatch.setattr(M, "matmul_peak", lambda device, dtype=torch.float32, **_: peak[dtype])
    result = B.measure(
        write_config(TINY_DIGITS), rounds=1, warmup=1, steps_per_round=2, variants=("bf16",), overheads=False
    )
    (row,) = result["rows"]
    assert row["peak_used"] == "bf16"
    assert row["peak_fraction"]["toolkit"] == pytest.approx(row["flops_per_second"]["toolkit"] / 1e12)
    assert row["peak_fraction"]["reference"] == pytest.approx(row["flops_per_second"]["reference"] / 1e9)
    assert "% fp32) |" in R.table(result)


def test_bf16_is_skipped_with_the_reason_on_a_cpu_without_bf16_kernels(write_config, monkeypatch):
    """Emulated bf16 runs many times slower than fp32: rounds of it would take minutes to say what the CPU flags already
    say."""
    from gan import device as S

    monkeypatch.setattr(S, "cpu_has_bf16", lambda: False)
    result = B.measure(write_config(TINY_DIGITS), **FAST, variants=("default", "bf16", "best"), overheads=False)
    rows = {r["variant"]: r for r in result["rows"]}
    assert "no native kernels" in rows["bf16"]["skipped"] and "toolkit" not in rows["bf16"]
    assert "bf16" not in result["best"]  # never picked from a row that was not measured
    assert "| bf16 | skipped: run.mixed_precision: bf16 on this CPU has no native kernels" in R.table(result)


def test_each_loop_is_rated_against_the_peaks_measured_just_around_its_own_block(write_config, monkeypatch):
    """On a shared VM the product's speed moved 50% between rounds: one peak a round rated a block on another
    machine."""
    calls = []

    def rising_peak(device, dtype=torch.float32, **_):  # the machine gets faster with every measurement
        calls.append(dtype)
        return 1e9 * len(calls)

    monkeypatch.setattr(M, "matmul_peak", rising_peak)
    result = B.measure(
        write_config(TINY_DIGITS), rounds=1, warmup=1, steps_per_round=2, variants=("default",), overheads=False
    )
    (row,) = result["rows"]
    # round 0: peak 1, toolkit, peak 2 (also the reference's "before"), reference, peak 3
    assert len(calls) == 3
    assert row["peak_fraction"]["toolkit"] == pytest.approx(row["flops_per_second"]["toolkit"] / 1.5e9)
    assert row["peak_fraction"]["reference"] == pytest.approx(row["flops_per_second"]["reference"] / 2.5e9)
    assert row["matmul_peak_flops"] == pytest.approx(1.5e9)


def test_linear_layer_flops_match_the_closed_form():
    n, a, b = 7, 13, 5
    layer = torch.nn.Linear(a, b)
    x = torch.randn(n, a, requires_grad=True)
    assert K.count_flops(lambda: layer(x)) == 2 * n * a * b
    # backward: one product for the input's gradient, one for the weight's
    assert K.count_flops(lambda: layer(x).sum().backward()) == 3 * 2 * n * a * b


def test_conv_layer_flops_match_the_closed_form():
    n, cin, cout, k, hw = 2, 3, 4, 3, 6
    conv = torch.nn.Conv2d(cin, cout, k, padding=1, bias=False)
    assert K.count_flops(lambda: conv(torch.zeros(n, cin, hw, hw))) == 2 * n * cout * hw * hw * cin * k * k


@pytest.mark.parametrize("groups, transposed", [(1, False), (4, False), (4, True)])
def test_a_grouped_convolutions_backward_costs_twice_its_forward(groups, transposed):
    """Its input's gradient and its weight's are one convolution each. torch's formula counted the weight's as if
    ungrouped (ResNeXt's 96 groups read 96x), which made a GPU preset's GPU-hours 2.4x too many."""
    n, cin, cout, k, hw = 2, 8, 12, 3, 6
    conv = (torch.nn.ConvTranspose2d if transposed else torch.nn.Conv2d)(cin, cout, k, padding=1, groups=groups)
    x = torch.randn(n, cin, hw, hw, requires_grad=True)
    forward = K.count_flops(lambda: conv(x))
    assert forward == 2 * n * hw * hw * cout * (cin // groups) * k * k
    assert K.count_flops(lambda: conv(x).sum().backward()) == 3 * forward
    assert K.count_flops(lambda: conv(x.detach()).sum().backward()) == 2 * forward  # no input gradient asked


def test_layer_costs_time_every_matrix_layer_at_the_shape_the_step_gives_it(write_config):
    path = write_config(TINY_DIGITS)
    cfg = B._load(path, [], "default", path.parent / "runs")
    with Session(cfg, overwrite=True) as session:
        loop = adversarial_loop(session)
        before = {k: v.clone() for k, v in loop.G_net.state_dict().items()}
        costs = K.layer_costs(loop, peak=1e11, device=session.device, repeats=2)
        layers = [
            f"{n}.{k}"
            for n, net in (("generator", loop.G_net), ("discriminator", loop.D_net))
            for k, m in net.named_modules()
            if isinstance(m, K.LAYERS)
        ]
        assert [r["layer"] for r in costs["rows"]] == layers  # all of them, in forward order
        for r in costs["rows"]:
            module = dict(
                loop.G_net.named_modules(prefix="generator")
                if r["layer"].startswith("generator")
                else loop.D_net.named_modules(prefix="discriminator")
            )[r["layer"]]
            forward = K.count_flops(lambda: module(torch.zeros(r["input"])))  # noqa: B023
            # backward costs one product for the weight, and one for the input except at a network's first layer
            first = r["layer"] in ("generator.body.0", "discriminator.body.0")
            assert r["flops"] == (2 if first else 3) * forward, r
            assert _positive_finite(r["seconds"]) and _positive_finite(r["peak_fraction"])
        assert costs["rows"][0]["input"][0] == cfg.data.batch_size
        # measuring leaves the weights and their gradients as they were
        assert all(torch.equal(before[k], v) for k, v in loop.G_net.state_dict().items())
        assert all(p.grad is None for p in [*loop.G_net.parameters(), *loop.D_net.parameters()])


def test_kernel_costs_replay_every_op_of_a_step_and_bound_what_any_loop_can_reach(write_config):
    path = write_config(TINY_DIGITS)
    cfg = B._load(path, [], "default", path.parent / "runs")
    with Session(cfg, overwrite=True) as session:
        loop = adversarial_loop(session)
        step_flops = K.count_flops(lambda: loop.iteration(False))
        # count the plain convolution layers' forward calls another way: module hooks
        calls = []
        plain = [
            m
            for net in (loop.G_net, loop.D_net)
            for m in net.modules()
            if type(m) in (torch.nn.Conv2d, torch.nn.ConvTranspose2d)
        ]
        hooks = [m.register_forward_hook(lambda *_: calls.append(1)) for m in plain]
        spent = []

        def step():  # the recorded steps' own wall time, without the replay that follows them
            started = time.perf_counter()
            loop.iteration(False)
            spent.append(time.perf_counter() - started)

        costs = K.kernel_costs(step, peak=1e11, device=session.device, repeats=2, steps=2)
        for h in hooks:
            h.remove()
    assert costs["not_timed"] == []
    # the time each op took where it ran, per step: a part of the recorded steps' time, each op counted once
    in_step = costs["matrix_seconds_in_step"] + costs["other_seconds_in_step"]
    assert len(spent) == costs["steps"] == 2
    assert 0 < in_step <= costs["step_seconds"] <= sum(spent) / 2
    assert all(o["seconds_in_step"] > 0 for o in costs["ops"].values())
    assert costs["in_step_floor_peak_fraction"] == pytest.approx(
        costs["matrix_flops"] / costs["matrix_seconds_in_step"] / 1e11
    )
    # every matrix product of the step, each as often as it ran: its FLOPs are the step's
    assert costs["matrix_flops"] == step_flops
    ops = costs["ops"]
    # identical calls (the discriminator on the real batch, the generated batch, and in the
    # generator's update) are timed once but counted each time they ran
    assert ops["convolution"]["calls"] == len(calls) / 2 >= 4  # per step, over the two recorded steps
    assert {"convolution", "convolution_backward", "_fused_adam_"} <= set(ops)
    assert all(_positive_finite(o["seconds"]) for o in ops.values())
    assert ops["_fused_adam_"]["flops"] == 0 and not ops["_fused_adam_"]["matrix"]
    assert _positive_finite(costs["matrix_seconds"]) and _positive_finite(costs["other_seconds"])
    floor = costs["matrix_flops"] / costs["matrix_seconds"] / 1e11
    assert costs["floor_peak_fraction"] == pytest.approx(floor)
    assert list(ops) == sorted(ops, key=lambda n: -ops[n]["seconds_in_step"])  # the costliest first


def test_kernel_replay_makes_operands_with_the_recorded_strides_even_when_expanded():
    spec = K._TensorSpec.of(torch.zeros(3, 1).expand(3, 4))
    made = spec.make()
    assert made.shape == (3, 4) and made.stride() == (1, 0)
    cl = torch.zeros(2, 3, 4, 5).contiguous(memory_format=torch.channels_last)
    assert K._TensorSpec.of(cl).make().stride() == cl.stride()
    assert torch.isfinite(K._TensorSpec.of(cl).make()).all()


def _speed_row(variant, ratio, fraction, *, peak_used="fp32", kernels=None, overheads=None):
    row = {
        "variant": variant,
        "ratio": {"median": ratio},
        "peak_used": peak_used,
        "examples_per_step": 64,
        "toolkit": {"median": 640.0},
        "matmul_peak_flops": 1e11,
        "peak_fraction": {"toolkit": fraction, "reference": fraction / ratio},
    }
    if kernels:
        row["kernels"] = kernels
    if overheads is not None:
        row["overheads"] = {"total_share": overheads}
    return row


def test_speed_verdict_marks_each_target_met_or_missed_and_says_how_far_any_loop_could_get():
    kernels = {
        "matrix_flops": 6e8,
        "matrix_seconds": 0.008,
        "other_seconds": 0.002,
        "floor_peak_fraction": 0.75,
        "in_step_floor_peak_fraction": 0.6,
    }
    result = {
        "config": "configs/dcgan32.yaml",
        "best": ["channels_last"],
        "rows": [
            _speed_row("default", 1.10, 0.52, overheads=0.004),
            _speed_row("channels_last", 1.16, 0.55, kernels=kernels),
            _speed_row("bf16", 2.0, 0.15, peak_used="bf16"),
            _speed_row("best", 1.16, 0.55),
        ],
    }
    lines = R.verdict(result)
    assert lines[0].startswith("default settings 1.10x") and lines[0].endswith(": met")
    assert "best switches (channels_last) 1.16x" in lines[1] and lines[1].endswith(": met")
    assert "0.40% of step time" in lines[2] and lines[2].endswith(": met")
    # judged on the best fp32 row, never on bf16 against another peak
    assert lines[3].startswith("step FLOP/s 55% of the fp32 matmul peak (channels_last") and "**missed**" in lines[3]
    assert (
        "75% (channels_last: its matrix products alone), 60% with its other kernels, "
        "60% with its matrix products as fast as they ran inside the step"
    ) in lines[3]
    slow = dict(result, rows=[_speed_row("default", 0.9, 0.72, overheads=0.05)])
    lines = R.verdict(slow)
    assert lines[0].endswith("**missed**") and lines[1].endswith("**missed**") and lines[2].endswith(": met")
    assert R.verdict(dict(result, config="configs/ring.yaml")) == []  # no targets set for it


def test_best_fp32_combines_the_faster_switches_but_never_mixed_precision():
    rows = [
        _speed_row("default", 1.00, 0.6),
        _speed_row("channels_last", 1.10, 0.65),
        _speed_row("compile", 1.05, 0.62),
        _speed_row("bf16", 1.80, 0.3, peak_used="bf16"),
        _speed_row("for_loop", 0.95, 0.55),
    ]
    assert B._best(rows, B.COMBINED["best"]) == ["channels_last", "compile", "bf16"]
    assert B._best(rows, B.COMBINED["best_fp32"]) == ["channels_last", "compile"]
    with pytest.raises(ValueError, match="'best_fp32' needs 'default'"):
        B._best(rows[1:], B.COMBINED["best_fp32"], "best_fp32")


def test_combined_variants_train_the_switches_picked_from_the_rows_before_them(write_config, monkeypatch):
    speeds, trained = {"default": 1.0, "channels_last": 1.2, "bf16": 1.9, "compile": 1.0}, {}

    def fake_variant(config_path, overrides, variant, switches, **_):  # no training: only which switches
        trained[variant] = switches
        return {"variant": variant, "ratio": {"median": speeds.get(variant, 1.0)}}

    monkeypatch.setattr(B, "_variant", fake_variant)
    monkeypatch.setattr(M, "matmul_peaks", lambda *a, **k: {"blas": 1e9})
    registry = {k: list(v) for k, v in B.VARIANTS.items()}
    result = B.measure(
        write_config(TINY_DIGITS), variants=("default", "channels_last", "bf16", "compile", "best", "best_fp32")
    )
    assert result["best"] == ["channels_last", "bf16"] and result["best_fp32"] == ["channels_last"]
    assert trained["best"] == B.VARIANTS["channels_last"] + B.VARIANTS["bf16"]
    assert trained["best_fp32"] == B.VARIANTS["channels_last"] + ["run.mixed_precision=no"]  # even under auto
    assert B.VARIANTS == registry  # a second measure starts from the same switches


def test_cli_speed_layers_prints_the_layer_table_the_time_split_and_the_verdict(write_config, capsys, monkeypatch):
    path = write_config(TINY_DIGITS)
    monkeypatch.setitem(R.SPEED_TARGETS, path.name, R.SPEED_TARGETS["dcgan32.yaml"])
    assert (
        main(
            [
                "benchmark",
                "speed",
                str(path),
                "--rounds",
                "1",
                "--steps",
                "1",
                "--warmup",
                "1",
                "--variants",
                "default",
                "--layers",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert (
        f"Against the speed targets for `{path.name}`" in out
        and "issue" not in out
        and "- step FLOP/s" in out
        and "its matrix products alone" in out
    )
    assert (
        "| generator.body.0 | PointToMapConvTranspose2d |" in out
        and "| discriminator.head.out | WholeMapConv2d |" in out
    )
    assert "Where one step's time goes (default):" in out and "| convolution_backward |" in out


SWITCHES = ["channels_last", "channels_first", "bf16", "foreach", "fused", "for_loop", "data_on_host", "quiet"]


@pytest.mark.parametrize("variant", SWITCHES)
def test_each_switch_takes_effect_and_trains_a_few_steps(write_config, variant):
    path = write_config(TINY_DIGITS)
    cfg = B._load(path, [], variant, path.parent / "runs")
    with Session(cfg, overwrite=True) as session:
        loop = adversarial_loop(session)
        seen = B.effective(loop)
        before = [p.detach().clone() for p in loop.G_net.parameters()]
        clock = Clock()
        for _ in range(3):
            loop.step(clock)
        assert any(not torch.equal(a, b) for a, b in zip(before, loop.G_net.parameters())), "the generator did not move"
        assert all(torch.isfinite(p).all() for p in loop.D_net.parameters())
        out = loop.G(*loop.prior(2)) if variant != "bf16" else None
    expect = {
        "channels_last": lambda: seen["channels_last"] and out.is_contiguous(memory_format=torch.channels_last),
        "channels_first": lambda: not seen["channels_last"] and out.is_contiguous(),
        "bf16": lambda: seen["mixed_precision"] == "bf16",
        "foreach": lambda: seen["optimizer"]["foreach"] is True,
        "fused": lambda: seen["optimizer"]["fused"] is True,
        "for_loop": lambda: not seen["optimizer"]["fused"] and seen["optimizer"]["foreach"] is False,
        "data_on_host": lambda: seen["data_device"] == "cpu",
        "quiet": lambda: loop.ema is None and not (session.run.path / "checkpoints" / "latest").exists(),
    }[variant]
    assert expect(), seen


def test_optimizers_use_fused_kernels_unless_the_config_says_otherwise():
    from gan.session.optim import make_optimizer

    params = [torch.nn.Parameter(torch.zeros(3))]
    for name in ("adam", "adamw", "sgd"):
        assert make_optimizer(params, C.Optimizer(name=name)).defaults["fused"] is True, name
    assert not make_optimizer(params, C.Optimizer(name="rmsprop")).defaults.get("fused")  # has no fused kernel
    chosen = make_optimizer(params, C.Optimizer(implementation="for_loop")).defaults
    assert not chosen["fused"] and chosen["foreach"] is False


def test_channels_last_reaches_the_discriminator_for_real_and_generated_batches(write_config):
    colour = {
        **TINY_DIGITS,
        "networks": {  # three channels: a one-channel batch is both layouts at once
            "painter": {**TINY_DIGITS["networks"]["painter"], "target": "image[3,8,8]"},
            "critic": {**TINY_DIGITS["networks"]["critic"], "source": "image[3,8,8]"},
        },
    }
    path = write_config(colour)
    cfg = B._load(path, [], "channels_last", path.parent / "runs")
    with Session(cfg, overwrite=True) as session:
        loop = adversarial_loop(session)
        formats = []
        loop.D_net.body[0].register_forward_pre_hook(
            lambda m, args: formats.append(args[0].is_contiguous(memory_format=torch.channels_last))
        )
        loop.step(Clock())
    assert formats and all(formats), formats  # a mixed-format convolution takes a slow path


@pytest.mark.parametrize("setting, expected", [("auto", True), (True, True), (False, False)])
def test_channels_last_is_the_default_layout_of_image_networks_on_a_cpu(write_config, setting, expected):
    """oneDNN runs DCGAN 1.10-1.14x and ResNet 1.17-1.20x faster in it; a user who says false keeps channels-first."""
    overrides = [] if setting == "auto" else [f"run.channels_last={str(setting).lower()}"]
    cfg = C.load(write_config(TINY_DIGITS), overrides)
    assert cfg.run.channels_last == setting
    with Session(cfg, overwrite=True) as session:
        loop = adversarial_loop(session)
        weight = next(
            p for p in loop.D_net.parameters() if p.dim() == 4 and p.shape[1] > 1
        )  # one channel is both layouts
        assert loop.channels_last is expected
        assert (
            weight.is_contiguous(memory_format=torch.channels_last) is expected
            and weight.is_contiguous() is not expected
        )
    assert uses_channels_last("auto", torch.device("cuda")) is False  # not measured on a GPU yet: off there
    assert uses_channels_last(True, torch.device("cuda")) is True


def test_points_keep_their_layout_whatever_channels_last_says(write_config):
    cfg = C.load(write_config(TINY_RING, run={"channels_last": True}))
    with Session(cfg, overwrite=True) as session:
        loop = adversarial_loop(session)
        assert loop.channels_last is False
        loop.step(Clock())


def test_bf16_autocast_runs_the_networks_in_bf16(write_config):
    path = write_config(TINY_DIGITS)
    cfg = B._load(path, [], "bf16", path.parent / "runs")
    with Session(cfg, overwrite=True) as session:
        loop = adversarial_loop(session)
        seen = []
        loop.G_net.body[0].register_forward_hook(lambda module, inputs, output: seen.append(output.dtype))
        with loop.acc.autocast():
            loop.G(*loop.prior(2))  # accelerate hands back float32 outputs; the layers inside ran in bf16
        assert seen == [torch.bfloat16]


@pytest.mark.skipif(
    bool(os.environ.get("GAN_TEST_NO_COMPILE")),
    reason="GAN_TEST_NO_COMPILE is set (torch.compile takes about a minute on 2 CPU cores)",
)
def test_compile_switch_trains_or_says_why_not(write_config, capsys):
    path = write_config(TINY_DIGITS)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        result = B.measure(path, **FAST, variants=("compile",), overheads=False)
    (row,) = result["rows"]
    if "skipped" in row:
        print(f"compile skipped: {row['skipped']}")
        assert row["skipped"].split(":")[0]
    else:
        assert row["effective"]["compiled"] and _positive_finite(row["toolkit"]["median"])
        assert _positive_finite(row["flops_per_step"]["toolkit"])
        # counting FLOPs runs the compiled networks under the counter's module hooks: torch's warning about
        # those hooks says nothing the user can act on, and must not reach the benchmark's output
        assert not [w for w in seen if "global hooks" in str(w.message)]


def test_cli_speed_writes_json_and_prints_the_table(write_config, tmp_path, capsys):
    path = write_config(TINY_DIGITS)
    out = tmp_path / "speed.json"
    code = main(
        [
            "benchmark",
            "speed",
            str(path),
            "--rounds",
            "1",
            "--steps",
            "1",
            "--warmup",
            "1",
            "--variants",
            "quiet",
            "--json",
            str(out),
        ]
    )
    assert code == 0
    assert "| quiet |" in capsys.readouterr().out
    assert json.loads(out.read_text())["rows"][0]["variant"] == "quiet"


def test_a_bad_json_path_stops_before_any_timing(write_config, tmp_path, capsys):
    code = main(["benchmark", "speed", str(write_config(TINY_DIGITS)), "--json", str(tmp_path / "no" / "speed.json")])
    assert code == 2
    seen = capsys.readouterr()
    assert seen.err.startswith("gan: error: --json") and seen.err.count("\n") == 1 and "|" not in seen.out


def test_unknown_variant_is_refused_with_the_accepted_names(write_config):
    with pytest.raises(ValueError, match="accepted: default"):
        B.measure(write_config(TINY_DIGITS), variants=("turbo",))


@pytest.mark.parametrize(
    "override, key",
    [
        ("objective.gradient_penalty=1.0", "objective.gradient_penalty"),
        ("run.grad_accum=2", "run.grad_accum"),
        ("optimizers.discriminator.name=sgd", "optimizers.discriminator.name"),
    ],
)
def test_reference_refuses_what_it_does_not_implement_in_one_line_naming_the_key(write_config, capsys, override, key):
    path = write_config(TINY_DIGITS)
    cfg = C.load(path, [override])
    with pytest.raises(C.ConfigError, match=key):
        B.Reference(cfg, torch.zeros(32, 1, 8, 8), torch.device("cpu"))
    assert main(["benchmark", "speed", str(path), "--set", override]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"gan: error: {key}:") and err.count("\n") == 1 and "--set" in err


def test_a_config_of_another_loop_is_refused_naming_the_loop_key(write_config, capsys):
    classifier = {
        "networks": {"reader": {"family": "conv", "source": "image[1,8,8]", "target": "categorical[10]", "width": 4}},
        "roles": {"classifier": "reader"},
        "loop": "likelihood",
        "data": {"name": "sklearn_digits", "batch_size": 16},
    }
    assert main(["benchmark", "speed", str(write_config(classifier))]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gan: error: loop: ") and "'likelihood'" in err and err.count("\n") == 1


def test_every_library_path_of_the_peak_computes_the_same_product():
    """The peak is the fastest library's product; each path must really be that product, or the peak lies."""
    paths = M.matrix_products(
        torch.device("cpu"), torch.float32, (256, 96, 32)
    )  # not square: a transposed operand shows
    assert set(paths) == {"blas", "onednn"}  # on a CPU: MKL/OpenBLAS and oneDNN can differ twofold
    expected = paths["blas"]()
    assert expected.shape == (256, 32)
    for name, product in paths.items():
        torch.testing.assert_close(product(), expected, rtol=1e-4, atol=1e-3, msg=f"{name} is not a @ b")
    peaks = M.matmul_peaks(torch.device("cpu"), shapes=((128, 128, 128), (256, 64, 64)), repeats=2)
    assert set(peaks) == {"blas", "onednn"} and all(_positive_finite(v) for v in peaks.values())


def test_the_peak_is_each_librarys_fastest_shape_not_its_last(monkeypatch):
    """A square product alone can understate a library's peak (BENCHMARKS.md); every shape must count."""
    clock = [0.0]
    seconds = {
        ("blas", 64): 2.0,
        ("blas", 128): 1.0,
        ("onednn", 64): 0.5,
        ("onednn", 128): 4.0,
        ("blas", 256): 1e-9,
        ("onednn", 256): 1e-9,
    }

    def fake_products(device, dtype, shape):
        def run(name):
            clock[0] += seconds[(name, shape[0])]

        return {name: (lambda name=name: run(name)) for name in ("blas", "onednn")}

    monkeypatch.setattr(M, "matrix_products", fake_products)
    monkeypatch.setattr(M.time, "perf_counter", lambda: clock[0])
    peaks = M.matmul_peaks(torch.device("cpu"), shapes=((64, 64, 64), (128, 64, 64)), repeats=2)
    assert peaks == {"blas": 2 * 128 * 64 * 64 / 1.0, "onednn": 2 * 64**3 / 0.5}
    assert M.matmul_peak(torch.device("cpu"), shapes=((64, 64, 64), (128, 64, 64)), repeats=2) == 2 * 64**3 / 0.5


def test_a_library_without_native_kernels_for_the_type_is_not_timed_at_full_size(monkeypatch):
    """bf16 on a CPU without bf16 instructions ran at 1-15 GFLOP/s: one 2048-square product took 13 s,
    a round's peak minutes. The probe's speed says so, and stands in for that library's peak."""
    clock, ran = [0.0], []
    seconds = {("fast", 256): 1e-4, ("fast", 2048): 0.05, ("slow", 256): 0.02, ("slow", 2048): 13.0}

    def fake_products(device, dtype, shape):
        def run(name):
            ran.append((name, shape[0]))
            clock[0] += seconds[(name, shape[0])]

        return {name: (lambda name=name: run(name)) for name in ("fast", "slow")}

    monkeypatch.setattr(M, "matrix_products", fake_products)
    monkeypatch.setattr(M.time, "perf_counter", lambda: clock[0])
    peaks = M.matmul_peaks(torch.device("cpu"), shapes=((2048, 2048, 2048),), repeats=2)
    assert ("slow", 2048) not in ran and ("fast", 2048) in ran
    assert peaks == pytest.approx({"fast": 2 * 2048**3 / 0.05, "slow": 2 * 256**3 / 0.02})
