"""scripts/step_time.py turns a curve's step grid into minutes (BENCHMARKS.md): it must keep running as the loop
changes."""

from __future__ import annotations

import re
import subprocess
import sys

from .conftest import ROOT, TINY_DIGITS


def test_step_time_prints_one_pace_per_block_and_the_fastest_and_leaves_no_run_behind(write_config, tmp_path):
    config = write_config(TINY_DIGITS)
    before = sorted(p.name for p in tmp_path.iterdir())
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "step_time.py"),
            str(config),
            "--steps",
            "3",
            "--warmup",
            "1",
            "--repeats",
            "2",
            "--set",
            "networks.painter.width=6",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    blocks = [float(m) for m in re.findall(r"^block \d: ([\d.]+) ms a step$", proc.stdout, re.M)]
    fastest = re.search(r"^([\d.]+) ms a step \(fastest of 2 blocks of 3 steps\)$", proc.stdout, re.M)
    assert len(blocks) == 2 and all(b > 0 for b in blocks) and fastest, proc.stdout
    assert float(fastest.group(1)) == min(blocks)
    assert sorted(p.name for p in tmp_path.iterdir()) == before, "the timed runs go to a temporary folder"


def test_against_alternates_blocks_of_two_loops_in_one_process_and_prints_their_ratio(write_config, tmp_path):
    """A step's cost against another's on a machine whose speed drifts: blocks of the two loops taken in turn, the
    ratio of each pair and their median (the recipe's 1.33x came from this)."""
    config = write_config(TINY_DIGITS)
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "step_time.py"), str(config), "--steps", "2", "--warmup", "1"]
        + ["--repeats", "3", "--set", "networks.painter.width=6", "--against", "networks.painter.depth=3"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    pairs = re.findall(r"^block (\d): ([\d.]+) against ([\d.]+) ms a step: ([\d.]+)x$", proc.stdout, re.M)
    assert [p[0] for p in pairs] == ["0", "1", "2"], proc.stdout
    ratios = sorted(float(p[3]) for p in pairs)
    for _, a, b, r in pairs:  # the milliseconds are printed to 0.1
        a, b, r = float(a), float(b), float(r)
        assert (b - 0.05) / (a + 0.05) - 0.001 <= r <= (b + 0.05) / (a - 0.05) + 0.001
    median = re.search(
        r"^the second costs ([\d.]+)x the first \(median of 3 blocks; ([\d.]+)-([\d.]+)x\)$", proc.stdout, re.M
    )
    assert median and float(median.group(1)) == ratios[1], proc.stdout


def test_a_bad_key_in_against_is_refused_in_one_line_naming_it(write_config, tmp_path):
    config = write_config(TINY_DIGITS)
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "step_time.py"), str(config), "--against", "networks.painter.depht=2"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode != 0 and len(lines) == 1 and "depht" in lines[0], proc.stderr[-2000:]
