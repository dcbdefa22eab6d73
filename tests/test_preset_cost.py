"""scripts/preset_cost.py gives a GPU preset's cost in operations and GPU-hours (the presets' headers quote it): it
must count the preset's own loop, and scale with the batch as it claims."""

from __future__ import annotations

import functools
import re
import subprocess
import sys

import pytest

from .conftest import ROOT

SMALL = [
    f"--set=networks.{name}.{key}={value}"
    for name in ("painter", "critic")
    for key, value in (("widths", "[16,16,16,16]"), ("blocks", "1"), ("group_width", "8"))
]


@functools.cache  # each count is a process of its own: the two tests share the batch-2 one
def cost(batch: int, *extra: str) -> tuple[float, str]:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "preset_cost.py"), str(ROOT / "configs" / "cifar10.yaml")]
        + [*SMALL, "--batch", str(batch), *extra],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    per_image = re.search(r"([\d.]+) GFLOP an image a step", proc.stdout)
    assert per_image, proc.stdout
    return float(per_image.group(1)), proc.stdout


def test_a_steps_operations_grow_with_its_batch_and_reach_the_hours_at_each_share_of_the_peak():
    two, text = cost(2)
    four, _ = cost(4)
    assert two > 0 and abs(four - two) <= 0.01 * two  # no batch statistics: the same per image at any batch
    assert "39,063 steps of 512 images: 20.0M images" in text
    hours = [float(h.replace(",", "")) for h in re.findall(r"of 989 TFLOP/s: ([\d,.e+-]+) GPU-hours", text)]
    assert len(hours) == 3 and hours[0] > hours[1] > hours[2]  # 10%, 25%, 50% of the peak


def test_the_penalties_are_counted():
    """R1 and R2 every step: their double backward is most of a step's arithmetic; without them the count falls."""
    with_them, _ = cost(2)
    without, _ = cost(2, "--set=objective.r1=0", "--set=objective.r2=0", "--set=objective.schedule.gamma=null")
    assert without < 0.75 * with_them


@pytest.mark.parametrize(
    "config, extra, fragment",
    [
        ("cifar10.yaml", ["--set=networks.painter.widthz=3"], "widthz"),
        ("text_model.yaml", [], "adversarial"),
        ("ring.yaml", [], "not images"),
        ("no_such.yaml", [], "no_such"),
    ],
)
def test_a_config_it_cannot_count_is_refused_in_one_line_naming_it(config, extra, fragment):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "preset_cost.py"), str(ROOT / "configs" / config), *extra],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], proc.stderr
