"""scripts/check_device.py, the one call a session lent a GPU runs first: it must still run when that day comes."""

from __future__ import annotations

import json
import subprocess
import sys
from unittest.mock import ANY

from gan.device import cpu_has_amx, cpu_has_bf16

from .conftest import ROOT


def test_the_device_check_runs_every_check_and_fails_none_on_a_cpu(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "check_device.py"), "--quick", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    checks = json.loads((tmp_path / "check_device.json").read_text())["checks"]
    assert not [name for name, c in checks.items() if c["status"] == "FAILED"]
    trained = [name for name in checks if name.startswith("train: ")]
    assert len(trained) >= 12 and "train: dcgan32 streamed folder" in trained and "train: digits classifier" in trained
    assert checks["train: dcgan32 fp16"] == {"status": "skipped", "why": "fp16 needs a GPU"}
    assert checks["train: dcgan32 streamed folder"]["status"] == "ok"
    assert checks["train: dcgan32 bf16"].get("precision", "bf16") == "bf16"  # skipped on a CPU without bf16 kernels
    settled = "bf16" if cpu_has_amx() and cpu_has_bf16() else "no"  # the default's auto, on this CPU
    assert checks["train: digits default"] == {"status": "ok", "seconds": ANY, "precision": settled}
    # a CPU reads the guard's verdict once an update: the ring's 2 judge updates and 1 sampler update
    assert checks["host syncs: ring mlp"]["host_syncs_per_step"] == [3, 3, 3, 3]
    assert checks["host syncs: digits classifier"]["host_syncs_per_step"] == [1, 1, 1, 1]
    assert checks["guard: a NaN update is skipped exactly"]["unchanged"] is True
    assert checks["resume: stopped at half, resumed"]["max_abs_difference"] == 0.0
    assert checks["speed: dcgan32"]["ratio"]["default"] > 0
    # the runs it trains go to a temporary folder and are removed: OUT comes back from a device machine
    assert sorted(p.name for p in tmp_path.iterdir()) == ["check_device.json", "speed.json"]
