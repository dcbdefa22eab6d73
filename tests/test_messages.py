"""What the toolkit prints reads as English: short readable progress labels, counts that agree with their nouns."""

from __future__ import annotations

from gan.session.progress import bar_labels
from gan.words import counted


def test_the_progress_bar_names_each_number_in_words_not_cut_off_keys():
    stats = {
        "discriminator/loss": 1.2345,
        "generator/loss": 0.7,
        "discriminator/on_real": 0.51,
        "discriminator/on_generated": 0.49,
        "discriminator/grad_norm": 3.0,
        "generator/lr": 2e-4,
        "guard/skipped_updates": 0,
        "speed/examples_per_second": 600.0,
    }
    assert bar_labels(stats) == {"D loss": "1.23", "G loss": "0.7", "D real": "0.51", "D generated": "0.49"}
    assert bar_labels({"classifier/loss": 0.3, "classifier/accuracy": 0.91}) == {"C loss": "0.3", "C accuracy": "0.91"}


def test_counts_agree_with_their_nouns():
    assert [counted(n, "round") for n in (0, 1, 2)] == ["0 rounds", "1 round", "2 rounds"]
    assert counted(1, "process", "processes") == "1 process" and counted(2, "process", "processes") == "2 processes"


def test_the_speed_table_says_one_round_and_one_thread_in_the_singular():
    from gan.benchmark.speed.report import table

    result = {
        "config": "c.yaml",
        "overrides": [],
        "device": "x CPU, 1 core",
        "threads": 1,
        "load_average": (0.0, 0.0, 0.0),
        "matmul_peak_flops": {"fp32": 1e9},
        "rounds": 1,
        "steps_per_round": 1,
        "warmup": 0,
        "rows": [],
    }
    head = table(result).splitlines()[0]
    assert "(1 thread," in head and "1 round x 1 step after 0 warm-up steps" in head
