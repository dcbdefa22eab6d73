"""The metric registry: a metric registered once is accepted by a config, offered by the CLI, scored during
training and by ``gan evaluate``; a metric is accepted at load if and only if it can be scored on that data;
and a metric that raises leaves every network in the mode it was in."""

from __future__ import annotations

import json

import pytest
import torch
import yaml

from gan import config as C
from gan.cli import main
from gan.measure import shipped_metrics  # noqa: F401  (the shipped metrics, registered before any test snapshots the registry)
from gan.measure.metric_registry import KINDS, METRICS, register_metric, unregister_metric
from networks import build

from .conftest import TINY_DIGITS


@pytest.fixture
def registry():
    """Leave the registry as found: a metric registered in one test is gone in the next."""
    before = dict(METRICS)
    yield METRICS
    METRICS.clear()
    METRICS.update(before)


def _mean_pixel(inputs) -> dict:
    return {"mean_pixel": float(inputs.fake.mean()), "mean_pixel_real": float(inputs.real.x.mean())}


def test_a_metric_registered_in_a_test_is_accepted_offered_scored_in_training_and_by_evaluate(
    registry, write_config, tmp_path, capsys
):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    register_metric("mean_pixel", needs=("real",), fits=("images",))(_mean_pixel)
    path = write_config(TINY_DIGITS, metrics={"every": 4, "names": ["mean_pixel"], "samples": 20})
    assert C.load(path).metrics["names"] == ["mean_pixel"]

    try:
        main(["evaluate", "-h"])
    except SystemExit:
        pass
    assert "mean_pixel" in capsys.readouterr().out

    assert main(["train", str(path)]) == 0
    run = tmp_path / "runs" / "tiny"
    events = EventAccumulator(str(run / "logs"))
    events.Reload()
    assert [e.step for e in events.Scalars("metrics/mean_pixel")] == [4]

    capsys.readouterr()
    assert main(["evaluate", str(run), "--metric", "mean_pixel", "--samples", "30"]) == 0
    printed = json.loads(capsys.readouterr().out)
    kept = json.loads((run / "evaluation.json").read_text())["metrics"]["mean_pixel"]
    assert kept["mean_pixel"] == printed["mean_pixel"] and "mean_pixel_real" in kept and kept["samples"] == 30


def test_a_registered_metric_that_does_not_fit_the_data_is_refused_at_load(registry, write_config):
    register_metric("mean_point", fits=("mixture",))(lambda inputs: {"mean_point": 0.0})
    with pytest.raises(C.ConfigError, match="metrics.names: 'mean_point' does not score sklearn_digits"):
        C.load(write_config(TINY_DIGITS, metrics={"names": ["mean_point"]}))


def test_unregistering_forgets_a_metric_and_a_name_is_registered_once(registry):
    register_metric("twice", fits=("images",))(_mean_pixel)
    with pytest.raises(ValueError, match="already registered"):
        register_metric("twice", fits=("images",))(_mean_pixel)
    unregister_metric("twice")
    assert "twice" not in METRICS
    with pytest.raises(ValueError, match="unknown data kind"):
        register_metric("nowhere", fits=("sound",))


def test_a_metric_that_raises_leaves_each_network_in_the_mode_it_was_in(registry):
    from gan.measure.scoring import score

    def broken(inputs):
        _ = inputs.fake  # drawn in eval mode
        raise RuntimeError("broken metric")

    register_metric("broken", fits=("images",))(broken)
    net = build({"family": "conv", "source": "noise[8]", "target": "image[1,8,8]", "width": 4})
    cfg = _config("sklearn_digits", "image[1,8,8]")
    for mode in (True, False):
        net.train(mode)
        with pytest.raises(RuntimeError, match="broken metric"):
            score(net, cfg, metrics=["broken"], samples=4)
        assert net.training is mode


def test_the_kind_table_names_every_shipped_data_set():
    from gan.data import NAMES

    assert sorted(KINDS) == sorted(NAMES)


# -- every shipped data set against every registered metric --------------------------------------------------
# The space a generator of each data set writes, and the classifiers that could be trained on it (a likelihood
# run with a categorical target; rows of numbers and text have no labels to train one on).
SPACES = {
    "ring": "point[2]",
    "grid": "point[2]",
    "digits": "image[1,28,28]",
    "sklearn_digits": "image[1,8,8]",
    "stacked_digits": "image[3,28,28]",
    "numbers": "image[1,28,84]",
    "diabetes": "point[10]",
    "text": "point[2]",
}
CLASSIFIERS = {
    "digits": [("image[1,28,28]", 10)],
    "sklearn_digits": [("image[1,8,8]", 10)],
    "numbers": [("image[1,28,84]", 1000)],
    "stacked_digits": [("image[3,28,28]", 1000), ("image[1,28,28]", 10)],
}
NEEDS_A_LOCAL_PATH = ("mnist", "fashion_mnist", "cifar10", "celeba", "folder", "table")
MORE = {"numbers": {"size": 200}}


def _config(data: str, space: str) -> C.Config:
    return C.Config(networks={}, roles={}, loop="adversarial", data=C.Data(name=data, **MORE.get(data, {})))


def _classifier_run(folder, source: str, k: int) -> str:
    from gan.runs.folder import RunDir

    torch.manual_seed(0)
    net = build(
        {
            "family": "conv" if source.startswith("image") else "mlp",
            "source": source,
            "target": f"categorical[{k}]",
            "width": 4,
        }
    )
    RunDir(folder).networks.mkdir(parents=True)
    RunDir(folder).export("reader", net, "classifier")
    return str(folder)


def _accepted(name: str, data: str) -> bool:
    try:
        C.check_metrics({"names": [name]}, data)
    except C.ConfigError:
        return False
    return True


def _scored(name: str, data: str, classifiers: list) -> bool:
    from gan.measure.scoring import measure

    torch.manual_seed(0)
    space = SPACES[data]
    family = "conv" if space.startswith("image") else "mlp"
    net = build({"family": family, "source": "noise[8]", "target": space, "width": 4})
    for classifier in classifiers or [None]:
        try:
            measure(net, _config(data, space), [name], samples=64, classifier=classifier)
            return True
        except Exception:  # noqa: BLE001 - any failure means it cannot be scored
            pass
    return False


class _Few:
    """The first examples of a data set: whether a metric can be computed does not need all of them."""

    def __init__(self, real, n: int = 256):
        self.x, self.y = real.x[:n], None if real.y is None else real.y[:n]

    def __len__(self):
        return len(self.x)


@pytest.fixture
def few_real(monkeypatch):
    """Each data set read once for the whole walk, and only its first examples scored against (keeps it fast)."""
    from gan.measure import scoring

    opened, original = {}, scoring.Inputs._real

    def few(inputs):
        key = (inputs.cfg.data.name, str(inputs.net.target))
        if key not in opened:
            real = original(inputs)
            opened[key] = _Few(real) if hasattr(real, "x") else real
        return opened[key]

    monkeypatch.setattr(scoring.Inputs, "_real", few)


@pytest.mark.parametrize("data", sorted(SPACES))
def test_a_metric_is_accepted_at_load_if_and_only_if_it_is_scored_on_that_data(data, tmp_path, few_real):
    classifiers = [
        _classifier_run(tmp_path / f"reader{i}", source, k) for i, (source, k) in enumerate(CLASSIFIERS.get(data, []))
    ]
    wrong = []
    for name, metric in METRICS.items():
        if "inception" in metric.needs:
            continue  # torch-fidelity and its weights: scored where they are installed (tests/test_metrics.py)
        accepted, scored = _accepted(name, data), _scored(name, data, classifiers)
        if accepted != scored:
            wrong.append(f"{name}: accepted {accepted}, scored {scored}")
    assert not wrong, f"{data}: " + "; ".join(wrong)


@pytest.mark.parametrize("data", NEEDS_A_LOCAL_PATH)
def test_data_read_from_a_local_path_accepts_the_metrics_of_its_kind(data):
    """These need files this test cannot ship; each accepts exactly what the bundled data of its kind accepts."""
    twin = {"images": "digits", "table": "diabetes"}[KINDS[data]]
    assert [n for n in METRICS if _accepted(n, data)] == [n for n in METRICS if _accepted(n, twin)]


def test_stacked_modes_on_the_plain_digits_is_refused_at_load(write_config):
    """The trap: it passed the config check and stopped the run at its first scoring."""
    config = yaml.safe_load(yaml.safe_dump(TINY_DIGITS))
    with pytest.raises(C.ConfigError, match="'stacked_modes' does not score sklearn_digits"):
        C.load(write_config(config, metrics={"names": ["stacked_modes"]}))
