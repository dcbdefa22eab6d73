"""Configs: every mistake stops before training, with a message naming the key or role."""

from __future__ import annotations

import pytest
import yaml

from gan import config as C
from gan.cli import main

from .conftest import TINY_DIGITS


def test_shipped_configs_load_and_validate():
    for path in (C.Path(__file__).resolve().parent.parent / "configs").glob("*.yaml"):
        cfg = C.load(path)
        assert cfg.roles, path


def test_shipped_configs_that_start_from_another_shipped_run_build_that_runs_network():
    """digits_sampler and digits_probe load runs/digits; when the default's painter widened, the sampler's copy of
    its spec did not, and (before init refused a half-fitting body) drew from random weights."""
    folder = C.Path(__file__).resolve().parent.parent / "configs"
    checked = 0
    for path in folder.glob("*.yaml"):
        for name, spec in C.load(path).networks.items():
            init = spec.get("init")
            source = folder / f"{C.Path(str(init['run'])).name}.yaml" if init else None
            if source is None or not source.is_file():
                continue
            theirs = C.load(source).networks[init["network"]]
            body = lambda s: {k: v for k, v in s.items() if k not in ("init", "freeze_body", "target")}  # noqa: E731 (a new head may differ)
            assert body(spec) == body(theirs), (
                f"{path.name}: networks.{name} does not build {source.name}'s {init['network']}"
            )
            checked += 1
    assert checked >= 2  # the sampler and the probe


def test_override_sets_nested_values_with_yaml_types(write_config):
    cfg = C.load(
        write_config(TINY_DIGITS),
        ["run.steps=7", "objective.loss=hinge", "networks.painter.width=6", "optimizers.generator.lr=1e-3"],
    )
    assert cfg.run.steps == 7 and cfg.objective.loss == "hinge"
    assert cfg.networks["painter"]["width"] == 6 and cfg.optimizers["generator"].lr == 1e-3


def test_a_word_yaml_reads_as_a_boolean_is_the_choice_it_spells(write_config):
    """YAML 1.1 reads an unquoted `no` as false: `--set run.mixed_precision=no`, the very word the message offers,
    was refused as "got False"."""
    assert C.load(write_config(TINY_DIGITS), ["run.mixed_precision=no"]).run.mixed_precision == "no"
    assert C.load(write_config(TINY_DIGITS, run={"mixed_precision": False})).run.mixed_precision == "no"
    expected = "run.mixed_precision: expected one of 'no', 'bf16', 'fp16', 'auto', got True"
    with pytest.raises(C.ConfigError, match=expected):
        C.load(write_config(TINY_DIGITS), ["run.mixed_precision=yes"])  # no choice spelt yes/on/true: still refused


@pytest.mark.parametrize(
    "overrides, fragment",
    [
        (["run.stepz=3"], "unknown key run.stepz; accepted keys in run: name, output, steps"),
        (["bogus=1"], "unknown key bogus"),
        (["run.steps=ten"], "run.steps: expected an integer, got 'ten'"),
        (["run.steps=0"], "run.steps: expected an integer >= 1, got 0"),
        (["data.batch_size=0"], "data.batch_size: expected an integer >= 1, got 0"),
        (["optimizers.generator.lr=-1"], "optimizers.generator.lr: expected a learning rate > 0, got -1.0"),
        (["objective.loss=wgan"], "objective.loss: expected one of 'non_saturating'"),
        (["run.mixed_precision=fp8"], "run.mixed_precision: expected one of 'no', 'bf16', 'fp16'"),
        (
            ["roles.generator=nobody"],
            "roles.generator: no network named 'nobody'; networks in this config: painter, critic",
        ),
        (["optimizers.painter.lr=0.1"], "optimizers.painter: no role 'painter' in roles"),
        (["optimizers.generator.betas=[0.5]"], "optimizers.generator.betas: expected a list of 2 numbers"),
        (["run.steps"], "expected key.path=value"),
        (["run.lr_decay_share=0"], "run.lr_decay_share: expected a share in (0, 1], got 0"),
        (["run.lr_decay_share=1.5"], "run.lr_decay_share: expected a share in (0, 1], got 1.5"),
    ],
)
def test_bad_values_are_refused_naming_the_key(write_config, overrides, fragment):
    with pytest.raises(C.ConfigError) as info:
        C.load(write_config(TINY_DIGITS), overrides)
    assert fragment in str(info.value)


def test_a_config_names_exactly_the_losses_the_objectives_define(write_config):
    """Loss names are spelled once, beside their equations: a loss added there is one a config may name, and only
    those."""
    from gan.objectives import LOSSES

    for name in LOSSES:
        assert C.load(write_config(TINY_DIGITS), [f"objective.loss={name}"]).objective.loss == name
    with pytest.raises(C.ConfigError) as error:
        C.load(write_config(TINY_DIGITS), ["objective.loss=vanilla"])
    assert str(error.value) == f"objective.loss: expected one of {', '.join(map(repr, LOSSES))}, got 'vanilla'"


def test_malformed_yaml_names_the_file_and_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("networks:\n  a: {family: mlp\nroles: [\n")
    with pytest.raises(C.ConfigError, match=r"broken.yaml: malformed YAML at line"):
        C.load(path)


def test_cli_reports_config_errors_in_one_line_without_traceback(write_config, capsys):
    code = main(["train", str(write_config(TINY_DIGITS)), "--set", "run.steps=-3"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("gan: error: run.steps") and "Traceback" not in err


def test_role_given_to_a_network_whose_spaces_do_not_fit_is_refused_with_role_named(write_config, capsys, tmp_path):
    swapped = write_config(TINY_DIGITS, roles={"generator": "critic", "discriminator": "painter"})
    code = main(["train", str(swapped)])
    err = capsys.readouterr().err
    assert code == 2
    assert "role 'discriminator' needs" in err and "network 'painter' maps noise[8] -> image[1,8,8]" in err
    assert not (tmp_path / "runs" / "tiny").exists(), "a refused config must not create a run folder"


def test_generator_that_does_not_write_the_data_space_is_refused(write_config, capsys):
    nets = yaml.safe_load(yaml.safe_dump(TINY_DIGITS["networks"]))
    nets["painter"]["target"] = "image[1,16,16]"
    code = main(["train", str(write_config(TINY_DIGITS, networks=nets))])
    assert code == 2
    assert "role 'generator' needs a map from a sampleable space" in capsys.readouterr().err
