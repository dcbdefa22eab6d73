"""The quality benchmark runs end to end (tiny) and writes its section beside the others."""

from __future__ import annotations

import json

from gan.cli import main


def test_quality_benchmark_writes_a_table_beside_published_rows_and_keeps_other_sections(tmp_path, capsys):
    md = tmp_path / "BENCHMARKS.md"
    md.write_text("# Benchmarks\n\n## Speed\n\nspeed table stays\n")
    code = main(
        [
            "benchmark",
            "quality",
            "--only",
            "ring",
            "--toy-seeds",
            "2",
            "--output",
            str(tmp_path / "runs"),
            "--set",
            "run.steps=20",
            "--set",
            "run.checkpoint_every=20",
            "--set",
            "run.sample_every=20",
            "--markdown",
            str(md),
        ]
    )
    assert code == 0
    text = md.read_text()
    assert "## Speed\n\nspeed table stays" in text and "## Quality" in text
    assert (
        "| **this toolkit** (`configs/ring.yaml`) |" in text
        and "| PacGAN3 (PacGAN, 2D-ring table) | 7.8 | 97.7 |" in text
    )
    assert "seed 0:" in text and "seed 1:" in text
    saved = json.loads((tmp_path / "runs" / "quality.json").read_text())  # the measurements outlive the run
    assert [r["seed"] for r in saved["ring"]] == [0, 1]


def test_a_bad_markdown_path_stops_before_any_training(tmp_path, capsys):
    code = main(
        [
            "benchmark",
            "quality",
            "--only",
            "ring",
            "--output",
            str(tmp_path / "runs"),
            "--markdown",
            str(tmp_path / "no" / "B.md"),
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("gan: error: --markdown") and err.count("\n") == 1
    assert not (tmp_path / "runs").exists()


def test_targets_are_judged_from_the_measured_rows_not_written_by_hand():
    from gan.benchmark.quality import verdict

    good = [
        {"modes": 25, "high_quality": 0.97, "seconds": 100.0},
        {"modes": 25, "high_quality": 0.955, "seconds": 110.0},
    ]
    text = verdict("grid", good)
    assert "every seed: met" in text and "96.25%, met" in text and "slowest 110 s, met" in text and "missed" not in text
    bad = [{"modes": 24, "high_quality": 0.95, "seconds": 130.0}, *good]
    text = verdict("grid", bad)
    assert "**missed** (min 24)" in text and "95.83%, **missed**" in text and "slowest 130 s, **missed**" in text
    ring = verdict(
        "ring",
        [{"modes": 8, "high_quality": 0.99, "seconds": 90.0}, {"modes": 8, "high_quality": 0.979, "seconds": 130.0}],
    )
    assert "lowest 97.90%, **missed**" in ring  # the ring's target holds on every seed, not on average
    assert "slowest" not in ring  # the ring has no time target


def test_a_generated_section_leaves_the_hand_written_one_of_a_similar_name(tmp_path):
    """scripts/benchmark_speed.py writes '## Speed, all configs'; the prose of '## Speed' must survive it."""
    from gan.benchmark.markdown import read_section, write_section

    md = tmp_path / "BENCHMARKS.md"
    md.write_text("# Benchmarks\n\n## Quality\n\n### Speed\n\nsub\n\n## Speed\n\nwhy the peak is what it is\n")
    write_section(md, "Speed, all configs", "tables v1")
    write_section(md, "Speed, all configs", "tables v2")
    text = md.read_text()
    assert "why the peak is what it is" in text and "### Speed\n\nsub" in text
    assert text.count("## Speed, all configs") == 1 and "tables v2" in text and "tables v1" not in text
    # '## Speed' is found by its whole line: not inside the earlier '### Speed',
    # nor as the start of 'Speed, all configs'
    write_section(md, "Speed", "new prose")
    text = md.read_text()
    assert "### Speed\n\nsub" in text and "why the peak" not in text and "new prose" in text
    assert "tables v2" in read_section(md, "Speed, all configs")


def test_a_partial_rerun_replaces_only_its_own_rows(tmp_path):
    from gan.benchmark.markdown import read_section, write_section
    from gan.benchmark.quality import markdown

    md = tmp_path / "BENCHMARKS.md"
    row = lambda hq, seed: {"modes": 25, "high_quality": hq, "reverse_kl": 0.01, "seconds": 100.0, "seed": seed}  # noqa: E731
    ring = lambda hq: [dict(row(hq, s), modes=8) for s in range(2)]  # noqa: E731
    write_section(md, "Quality", markdown({"ring": ring(0.97), "grid": [row(0.961, 0), row(0.962, 1)]}, "cmd all"))
    write_section(md, "Quality", markdown({"ring": ring(0.99)}, "cmd ring", read_section(md, "Quality")))
    text = md.read_text()
    assert "lowest 99.00%, met" in text and "97.00" not in text  # the ring's rows are the new ones
    assert "96.15%, met" in text and "Reproduce: `cmd all`" in text  # the grid's rows and command are kept
    assert text.count("### Ring") == 1 and text.count("### Grid") == 1


def test_a_rerun_keeps_the_hand_written_subsections_where_they_stood(tmp_path):
    """BENCHMARKS.md's Quality section holds prose and tables nobody's benchmark writes (a candidate's comparison,
    stacked digits): regenerating the measured rows must not delete them, nor move them."""
    from gan.benchmark.markdown import read_section, write_section
    from gan.benchmark.quality import markdown

    md = tmp_path / "BENCHMARKS.md"
    row = lambda hq, seed: {"modes": 25, "high_quality": hq, "reverse_kl": 0.01, "seconds": 100.0, "seed": seed}  # noqa: E731
    write_section(md, "Quality", markdown({"grid": [row(0.96, 0)]}, "cmd grid"))
    edited = read_section(md, "Quality").rstrip() + "\n\n### A comparison by hand\n\nwritten by a person\n"
    write_section(md, "Quality", edited.split("\n", 1)[1] + "\n### Ring (hand-made table)\n\nmine too\n")
    write_section(md, "Quality", markdown({"grid": [row(0.99, 0)]}, "cmd again", read_section(md, "Quality")))
    text = md.read_text()
    assert "written by a person" in text and "mine too" in text and "99.00" in text and "96.00" not in text
    assert text.index("### Grid") < text.index("### A comparison by hand") < text.index("### Ring (hand-made")


def test_a_run_folder_already_under_output_stops_the_call_and_is_kept(tmp_path, capsys):
    mine = tmp_path / "runs" / "ring_seed1"  # a user's run, or an earlier benchmark's, where this call would write
    mine.mkdir(parents=True)
    (mine / "config.yaml").write_text("loop: adversarial\n")
    (mine / "notes.txt").write_text("keep me")
    code = main(
        [
            "benchmark",
            "quality",
            "--only",
            "ring",
            "--toy-seeds",
            "2",
            "--output",
            str(tmp_path / "runs"),
            "--set",
            "run.steps=2",
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("gan: error: --output") and "ring_seed1" in err and err.count("\n") == 1
    assert (mine / "notes.txt").read_text() == "keep me"
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["ring_seed1"]  # nothing trained before the check


def test_a_second_benchmark_into_the_same_output_keeps_the_first_ones_results(tmp_path):
    common = [
        "--toy-seeds",
        "1",
        "--output",
        str(tmp_path / "runs"),
        "--set",
        "run.steps=4",
        "--set",
        "run.checkpoint_every=4",
        "--set",
        "run.sample_every=4",
        "--set",
        "metrics.every=null",
    ]
    assert main(["benchmark", "quality", "--only", "ring", *common]) == 0
    assert main(["benchmark", "quality", "--only", "grid", *common]) == 0
    saved = json.loads((tmp_path / "runs" / "quality.json").read_text())
    assert sorted(saved) == ["grid", "ring"]
    assert (tmp_path / "runs" / "ring_seed0" / "config.yaml").is_file()


def test_the_digits_targets_are_judged_from_the_measured_rows():
    """The default run's targets: at most 1.15x the floor on average (measured at the floor's sample size), precision
    0.70 and recall 0.75 on average, 10 of 10 classes in 1,000 samples on every seed, 5 minutes."""
    from gan.benchmark.quality import digits_table, digits_verdict

    def row(seed, half, classes=10, seconds=280.0, kid=0.0024, precision=0.75, recall=0.8):
        return {
            "kid_classifier": kid,
            "machine": "AMD EPYC CPU (family 25, AVX2), 2 cores, 2 threads",
            "seed": seed,
            "samples": 5000,
            "fid_classifier": half - 20.0,  # the whole sets read less bias than the floor's halves
            "fid_classifier_half": half,
            "fid_classifier_floor": 75.0,
            "fid_classifier_above_floor": half - 75.0,
            "fid_classifier_over_floor": half / 75.0,
            "label_classes_found": 10,
            "label_classes_found_in_1000": classes,
            "label_kl": 0.01,
            "seconds": seconds,
            "precision": precision,
            "recall": recall,
            **{k: 0.5 for k in ("density", "coverage")},
            **{k + "_real": 0.8 for k in ("precision", "recall", "density", "coverage")},
        }

    good = [row(0, 80.0), row(1, 86.25), row(2, 92.5)]
    text = digits_verdict(good)
    assert (
        "86.2 / 75.0 = 1.15x, met" in text
        and "precision at least 0.70: 0.75, met" in text
        and "recall at least 0.75: 0.80, met" in text
        and "every seed: met" in text
        and "slowest 280 s, met" in text
        and "missed" not in text
    )
    bad = [row(0, 80.0, classes=9, precision=0.6), row(1, 95.0, seconds=301.0, recall=0.7), row(2, 90.0)]
    text = digits_verdict(bad)
    assert (
        "88.3 / 75.0 = 1.18x, **missed**" in text
        and "**missed** (min 9)" in text
        and "slowest 301 s, **missed**" in text
    )
    assert "precision at least 0.70: 0.70, met" in text and "recall at least 0.75: 0.77, met" in text
    worse = [row(0, 80.0, precision=0.6, recall=0.7)]
    assert "0.60, **missed**" in digits_verdict(worse) and "0.70, **missed**" in digits_verdict(worse)
    table = digits_table(good)
    # KID is near 0.002 for a good run: two decimals would print every run as 0.00
    assert "| classifier-feature kernel distance (KID, unbiased) | 0.0024 ± 0.0000 (min 0.0024) | about 0 |" in table
    assert "| precision (k-NN, k = 3) | 0.75 ± 0.00 (min 0.75) | 0.80 ± 0.00 (min 0.80) |" in table
    assert "| classes found among the first 1,000 | 10.00 ± 0.00 (min 10.00) | 10 |" in table
    assert "seed 0: 60.0 (80.0 at the floor's size), seed 1: 66.2 (86.2 at the floor's size)" in table
    assert "| that over the floor | 1.15 ± 0.07 (min 1.07) | 1 |" in table
    # seconds from two CPUs do not compare: the block says which one measured them
    from gan.benchmark.quality import block

    assert "Measured on AMD EPYC CPU (family 25, AVX2), 2 cores, 2 threads." in block("digits", good, "cmd")


def test_the_reproduce_line_is_the_command_as_typed_with_paths_a_reader_can_use(tmp_path, monkeypatch):
    """The line quotes what this call was given (not the test runner's argv), shell-quoted so that a pasted
    `--set 'key=[a, b]'` runs again, and with paths under the working folder relative to it, so a table
    written with an absolute --markdown path reads the same on every machine."""
    monkeypatch.chdir(tmp_path)
    md = tmp_path / "BENCHMARKS.md"
    code = main(
        [
            "benchmark",
            "quality",
            "--only",
            "ring",
            "--toy-seeds",
            "1",
            "--output",
            str(tmp_path / "runs"),
            "--set",
            "run.steps=20",
            "--set",
            "objective.loss = hinge",
            "--markdown",
            str(md),
        ]
    )
    assert code == 0
    assert (
        "Reproduce: `gan benchmark quality --only ring --toy-seeds 1 --output runs --set run.steps=20 "
        "--set 'objective.loss = hinge' --markdown BENCHMARKS.md`"
    ) in md.read_text()


def test_a_row_names_bf16_where_auto_chose_it_since_its_seconds_do_not_compare_with_fp32(tmp_path, monkeypatch):
    from gan import device

    monkeypatch.setattr(device, "cpu_has_amx", lambda: True)  # a CPU where auto means bf16
    monkeypatch.setattr(device, "cpu_has_bf16", lambda: True)
    machines = {}
    for choice in ("auto", "no"):
        out = tmp_path / choice
        sets = ["run.steps=5", "run.checkpoint_every=5", "run.sample_every=5", f"run.mixed_precision={choice}"]
        args = ["benchmark", "quality", "--only", "ring", "--toy-seeds", "1", "--output", str(out)]
        assert main(args + [a for s in sets for a in ("--set", s)]) == 0
        machines[choice] = json.loads((out / "quality.json").read_text())["ring"][0]["machine"]
    assert machines["auto"].endswith(" threads, bf16") and machines["no"].endswith(" threads")
