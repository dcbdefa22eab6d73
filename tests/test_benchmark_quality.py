"""The quality benchmark runs end to end (tiny) and writes its section beside the others."""

from __future__ import annotations

from gan.cli import main


def test_quality_benchmark_writes_a_table_beside_published_rows_and_keeps_other_sections(tmp_path, capsys):
    md = tmp_path / "BENCHMARKS.md"
    md.write_text("# Benchmarks\n\n## Speed\n\nspeed table stays\n")
    code = main(["benchmark", "quality", "--only", "ring", "--toy-seeds", "2", "--output", str(tmp_path / "runs"),
                 "--set", "run.steps=20", "--set", "run.checkpoint_every=20", "--set", "run.sample_every=20", "--markdown", str(md)])
    assert code == 0
    text = md.read_text()
    assert "## Speed\n\nspeed table stays" in text and "## Quality" in text
    assert "| **this toolkit** (`configs/ring.yaml`) |" in text and "| PacGAN3 (PacGAN, 2D-ring table) | 7.8 | 97.7 |" in text
    assert "seed 0:" in text and "seed 1:" in text
