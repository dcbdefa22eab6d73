"""Configs read as they are written: YAML that costs more than it says, keys given twice, values echoed at length,
data keys that nothing reads, and a data path that must still name the data when read from another folder."""

from __future__ import annotations

import dataclasses
import re
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from gan import config as C
from gan.cli import main
from gan.yamlfile import YamlError, parse, shorten

from .conftest import ROOT, TINY_DIGITS


def alias_bomb(depth: int = 8, fan: int = 28) -> str:
    """``run.name`` as a "billion laughs", to go under ``run:``: ``depth`` levels of anchors, each a list of ``fan``
    aliases of the one before.

    At depth 8 and fan 28 it is about 1.4 kB of YAML that stands for 28**9 (10**13) strings.
    """
    lines = ["l0: &l0 [" + ", ".join(["lol"] * fan) + "]"]
    for level in range(1, depth + 1):
        lines.append(f"l{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * fan) + "]")
    return "  name:\n" + "".join(f"    {line}\n" for line in lines)


def tiny_yaml(tmp_path: Path) -> str:
    """The tiny digits config as YAML text, its runs kept under ``tmp_path``."""
    cfg = {**TINY_DIGITS, "run": {**TINY_DIGITS["run"], "output": str(tmp_path / "runs")}}
    return yaml.safe_dump(cfg, sort_keys=False)


def bomb_config(tmp_path: Path) -> str:
    """The tiny config with an alias bomb for its run.name."""
    return tiny_yaml(tmp_path).replace("run:\n", "run:\n" + alias_bomb())


def twice_config(tmp_path: Path) -> str:
    """The tiny config with a second ``run:`` section at its end."""
    return tiny_yaml(tmp_path) + "run:\n  steps: 9\n"


def written(name: str, text_of):
    """A setup for a row of tests/test_bad_inputs.py's CASES: writes ``text_of(tmp)`` as ``FOLDER/a/NAME``."""

    def write(folder: Path) -> None:  # folder: TMP/images/a
        (folder / name).write_text(text_of(folder.parent.parent))

    return write


def refused(argv: list[str], capsys) -> str:
    """Run ``gan`` and return its one error line, checking exit status 2 and that no traceback was printed."""
    capsys.readouterr()
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("gan: error: ") and "Traceback" not in err, err
    return err.strip()


def line_of(text: str, pattern: str, nth: int = 0) -> int:
    """The 1-based line of the ``nth`` line of ``text`` that matches ``pattern``."""
    return [i + 1 for i, line in enumerate(text.splitlines()) if re.match(pattern, line)][nth]


# -- YAML that costs more than it says -------------------------------------------------------------
def test_a_nested_alias_bomb_is_refused_in_well_under_a_second_in_a_short_line(tmp_path, capsys):
    bomb = alias_bomb()
    assert 1000 < len(bomb) < 1600
    path = tmp_path / "bomb.yaml"
    path.write_text(bomb_config(tmp_path))
    start = time.perf_counter()
    err = refused(["train", str(path)], capsys)
    assert time.perf_counter() - start < 1.0
    assert len(err) < 300, err
    assert str(path) in err and "its aliases expand to 1.14e+13 values, more than the 10,000" in err, err
    assert f"line {line_of(path.read_text(), '    l0:')}" in err, err
    assert not (tmp_path / "runs").exists()


def test_an_alias_bomb_in_a_set_value_is_refused(tmp_path, capsys):
    path = tmp_path / "tiny.yaml"
    path.write_text(tiny_yaml(tmp_path))
    value = (
        "[&a [x,x,x,x,x,x,x,x,x,x], &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a], &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b], "
        "[*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]]"
    )
    err = refused(["train", str(path), "--set", f"run.name={value}"], capsys)
    assert (
        "--set 'run.name=" in err
        and "its aliases expand to 1.23e+04 values, more than the 10,000" in err
        and len(err) < 300
    ), err


def test_anchors_that_share_settings_are_read_as_yaml_means_them(write_config, tmp_path):
    """An anchor for one optimizer's settings, aliased (and merged) for the other: a plain YAML habit, and what
    PyYAML's own dumper writes for objects a script shares."""
    text = (
        tiny_yaml(tmp_path) + "optimizers:\n  generator: &adam {name: adam, lr: 0.001, betas: [0.0, 0.99]}\n"
        "  discriminator: {<<: *adam, lr: 0.002}\n"
    )
    path = tmp_path / "shared.yaml"
    path.write_text(text)
    cfg = C.load(path)
    assert cfg.to_dict()["optimizers"]["discriminator"]["betas"] == [0.0, 0.99]
    assert cfg.to_dict()["optimizers"]["discriminator"]["lr"] == 0.002
    assert main(["train", str(path)]) == 0


def test_aliases_nested_deeper_than_the_text_or_inside_themselves_are_refused():
    chain = "a0: &a0 [x]\n" + "".join(f"a{i}: &a{i} [*a{i - 1}]\n" for i in range(1, 3000))
    with pytest.raises(YamlError, match="its aliases nest more than 64 levels deep"):
        parse(chain, "chain.yaml")
    with pytest.raises(YamlError, match="an alias stands inside the value it names"):
        parse("a: &a [x, *a]\n", "loop.yaml")


def test_nesting_a_thousand_levels_deep_is_refused_in_one_line(tmp_path, capsys):
    path = tmp_path / "deep.yaml"
    path.write_text("networks: " + "[" * 20000 + "]" * 20000 + "\n")
    err = refused(["train", str(path)], capsys)
    assert "nested more than" in err and len(err) < 300, err


# -- keys given twice ------------------------------------------------------------------------------------------
def test_a_top_level_key_given_twice_is_refused_naming_it_and_both_lines(tmp_path, capsys):
    text = twice_config(tmp_path)
    path = tmp_path / "twice.yaml"
    path.write_text(text)
    err = refused(["train", str(path)], capsys)
    first, second = line_of(text, "run:"), line_of(text, "run:", 1)
    assert f"{path}: key 'run' appears twice in one mapping, at lines {first} and {second}" in err, err
    assert not (tmp_path / "runs").exists()


def test_a_nested_key_given_twice_is_refused_naming_it_and_both_lines(tmp_path, capsys):
    text = tiny_yaml(tmp_path).replace("  steps: 4\n", "  steps: 4\n  log_every: 2\n  steps: 40\n")
    path = tmp_path / "twice.yaml"
    path.write_text(text)
    err = refused(["train", str(path)], capsys)
    first, second = line_of(text, "  steps:"), line_of(text, "  steps:", 1)
    assert f"key 'steps' appears twice in one mapping, at lines {first} and {second}" in err, err


def test_a_key_given_twice_in_a_set_value_is_refused(tmp_path, capsys):
    path = tmp_path / "tiny.yaml"
    path.write_text(tiny_yaml(tmp_path))
    err = refused(["train", str(path), "--set", "objective={loss: hinge, loss: wasserstein}"], capsys)
    assert "key 'loss' appears twice" in err, err


def test_the_loader_keeps_what_plain_yaml_means():
    """Merge keys without aliases, numbers as keys, lists: read as PyYAML's SafeLoader reads them."""
    text = "a: {<<: {b: 1}, c: 2}\n1: [x, {y: 2.0e-4}]\n'1': one\n"
    assert parse(text, "t") == yaml.safe_load(text)
    with pytest.raises(YamlError, match="appears twice in one mapping, at lines 1 and 2"):
        parse("1: a\n1.0: b\n", "t")  # one key to Python, so a dict would keep only the last


# -- values echoed at length ---------------------------------------------------------------------------------
LONG = "x" * 100_000


@pytest.mark.parametrize(
    "overrides",
    [
        ["--set", f"run.name={'a/' * 50_000}"],  # run.name: one folder name
        ["--set", f"data.batch_size={LONG}"],  # a string where an integer belongs
        ["--set", f"run.{LONG}=1"],  # an unknown key
        ["--set", f"networks.{LONG}.family=mlp"],  # a network name that cannot be a file name
        ["--set", f"roles.generator={LONG}"],  # no such network
        ["--set", f"metrics.names=[{LONG}]"],  # no such metric
        ["--set", f"objective.augment.policy=[{LONG}]"],
        ["--set", f"run.steps{LONG}"],  # no '='
        [f"--set=data.batch_size=[{', '.join(['1'] * 20_000)}]"],
        ["--set", f"run.name={LONG}"],  # a folder name no file system holds
        ["--set", f"roles.{LONG}=painter"],  # no such role
        ["--set", f"networks.painter.family={LONG}"],  # networks/: no such family
        ["--set", f"networks.painter.source=noise[{LONG}]"],
        ["--set", f"networks.painter.width={LONG}"],
        ["--set", f"networks.painter.{LONG}=1"],
        ["--set", f"networks.painter.norm={LONG}"],
    ],
    ids=[
        "run.name",
        "batch_size",
        "unknown key",
        "network name",
        "role's network",
        "metric",
        "augmentation",
        "no =",
        "a long list",
        "long run.name",
        "role",
        "family",
        "space",
        "width",
        "network keyword",
        "norm",
    ],
)
def test_a_long_value_is_cut_short_in_the_message(overrides, tmp_path, capsys):
    path = tmp_path / "tiny.yaml"
    path.write_text(tiny_yaml(tmp_path))
    err = refused(["train", str(path), *overrides], capsys)
    assert len(err) < 300 + len(str(path)) and "..." in err, err[:400]


def test_a_long_value_in_a_config_file_is_cut_short_too(tmp_path, capsys):
    path = tmp_path / "long.yaml"
    path.write_text(tiny_yaml(tmp_path).replace("  batch_size: 16\n", f"  batch_size: {LONG}\n"))
    err = refused(["train", str(path)], capsys)
    assert err.startswith("gan: error: data.batch_size: expected an integer, got 'xxxx") and len(err) < 300, err


def test_shorten_cuts_any_value_at_its_limit():
    assert shorten("abc") == "'abc'"
    assert shorten(LONG, 80) == "'" + "x" * 76 + "..."
    assert len(shorten({"k": [LONG] * 1000}, 80)) <= 80


# -- data keys that nothing reads ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "config, key, value, name",
    [
        ("diabetes", "path", "/etc/passwd", "diabetes"),
        ("ring", "view", "prefixes", "ring"),
        ("text_model", "resize", "true", "text"),
        ("digits", "unseen", "{share: 0.2}", "digits"),
    ],
)
def test_a_data_key_the_data_set_does_not_read_is_refused_naming_it(config, key, value, name, tmp_path, capsys):
    steps = ["--set", "run.steps=1", "--set", "run.progress=false"]  # were it read, a short run
    err = refused(["train", config, "--set", f"data.{key}={value}", "--set", f"run.output={tmp_path}", *steps], capsys)
    assert err.startswith(f"gan: error: data.{key}: data set {name} does not read it") and f"{name} reads " in err, err
    assert not any(tmp_path.iterdir())


def test_the_message_says_which_keys_the_data_set_reads(tmp_path, capsys):
    path = tmp_path / "tiny.yaml"
    path.write_text(tiny_yaml(tmp_path))
    err = refused(["train", str(path), "--set", "data.path=/etc/passwd"], capsys)
    assert (
        "sklearn_digits does not read it, so '/etc/passwd' would be ignored; sklearn_digits reads data.resize, "
        "data.targets, data.mirror and" in err
    ), err


def test_each_data_set_declares_the_keys_it_reads():
    from gan.config import Data
    from gan.data import NAMES
    from gan.data_keys import COMMON, READS

    keys = {f.name for f in dataclasses.fields(Data)}
    assert set(READS) == set(NAMES)
    for name, reads in READS.items():
        assert set(reads) <= keys - set(COMMON), name


# -- flags that contradict each other --------------------------------------------------------------------------
def test_resume_with_overwrite_is_refused(tmp_path, capsys):
    err = refused(["train", "--resume", str(tmp_path / "runs" / "tiny"), "--overwrite"], capsys)
    assert "--resume" in err and "--overwrite" in err and "pass one of them" in err, err


# -- a data path that names the data from anywhere -------------------------------------------------------------
def test_a_relative_data_path_is_stored_absolute_and_evaluate_works_from_another_folder(tmp_path, monkeypatch, capsys):
    here, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    here.mkdir(), elsewhere.mkdir()
    rows = np.random.default_rng(0).normal(size=(60, 3))
    np.savetxt(here / "table.csv", rows, delimiter=",")
    cfg = {
        "networks": {
            "predictor": {"family": "mlp", "source": "point[2]", "target": "normal[1]", "width": 8, "depth": 1}
        },
        "roles": {"classifier": "predictor"},
        "loop": "likelihood",
        "data": {"name": "table", "path": "table.csv", "batch_size": 8},
        "run": {
            "steps": 2,
            "log_every": 1,
            "sample_every": 2,
            "checkpoint_every": 2,
            "progress": False,
            "output": str(tmp_path / "runs"),
        },
    }
    (here / "table.yaml").write_text(yaml.safe_dump(cfg))
    monkeypatch.chdir(here)
    assert main(["train", "table.yaml"]) == 0
    run = tmp_path / "runs" / "table"
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["data"]["path"] == str(here / "table.csv")
    monkeypatch.chdir(elsewhere)
    capsys.readouterr()
    assert main(["evaluate", str(run)]) == 0, capsys.readouterr().err


# -- every YAML the toolkit reads goes through the strict loader ---------------------------------------------------
def test_no_module_reads_yaml_around_the_strict_loader():
    readers = [
        str(p.relative_to(ROOT))
        for p in (ROOT / "gan").rglob("*.py")
        if p.name != "yamlfile.py"
        and re.search(r"yaml\.(safe_)?load\(|yaml\.load_all|yaml\.full_load|yaml\.unsafe_load", p.read_text())
    ]
    assert readers == [], f"read YAML with gan.yamlfile.read or parse: {readers}"
