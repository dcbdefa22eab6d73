"""Embeddings: sphere[D], the contrastive loss, gan embed and gan search, and the retrieval scores.

A distance function is trained as a classifier of matches: these tests hold the loss to cross-entropy over the
batch's similarity matrix, the search to its own definition (an image finds itself first), and the scores to
Musgrave et al.'s definitions on rankings small enough to count by hand.
"""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import yaml

from gan.cli import main
from gan.measure.retrieval import retrieval_scores
from gan.objectives import contrastive_loss
from networks import SpaceError, build, parse

from .conftest import two_process_env, two_processes

EMBEDDER = {
    "networks": {"e": {"family": "conv", "source": "image[1,8,8]", "target": "sphere[8]", "width": 4}},
    "roles": {"embedder": "e"},
    "loop": "contrastive",
    "data": {"name": "sklearn_digits", "batch_size": 32, "labels": True},
    "run": {"steps": 4, "log_every": 2, "sample_every": 2, "checkpoint_every": 4, "progress": False},
}


def unit(rows) -> torch.Tensor:
    return F.normalize(torch.tensor(rows, dtype=torch.float32), dim=1)


# -- the space ------------------------------------------------------------------------------------
@pytest.mark.parametrize("family", ["conv", "resnet", "mlp"])
def test_a_network_that_writes_sphere_writes_unit_vectors(family):
    source = "point[5]" if family == "mlp" else "image[1,8,8]"
    net = build({"family": family, "source": source, "target": "sphere[6]", "width": 4})
    z = net(torch.randn(7, *parse(source).shape) * 10)
    assert z.shape == (7, 6)
    assert torch.allclose(z.norm(dim=1), torch.ones(7), atol=1e-5)


def test_sphere_reads_back_and_refuses_one_dimension():
    assert str(parse("sphere[64]")) == "sphere[64]"
    with pytest.raises(SpaceError, match="sphere"):
        parse("sphere[1]")


# -- the loss -------------------------------------------------------------------------------------
def test_the_loss_is_cross_entropy_over_the_similarity_matrix():
    """Two views of two examples: each row's target is its other view, among the other three rows."""
    z = unit([[1, 0, 0], [0.8, 0.6, 0], [0, 1, 0], [0, 0.6, 0.8]])
    keys = torch.tensor([0, 0, 1, 1])
    t = 0.5
    logits = (z @ z.T / t).masked_fill(torch.eye(4, dtype=torch.bool), float("-inf"))
    expected = F.cross_entropy(logits, torch.tensor([1, 0, 3, 2]))
    assert torch.allclose(contrastive_loss(z, keys, t), expected, atol=1e-6)


def test_with_labels_every_same_label_candidate_counts_as_a_positive():
    z = unit([[1, 0], [0.9, 0.1], [0.1, 0.9], [0.7, 0.7], [0, 1]])
    keys = torch.tensor([3, 3, 5, 3, 5])
    t = 0.2
    log_p = (z @ z.T / t).masked_fill(torch.eye(5, dtype=torch.bool), float("-inf")).log_softmax(1)
    positives = {0: [1, 3], 1: [0, 3], 2: [4], 3: [0, 1], 4: [2]}
    expected = sum(-sum(log_p[i, j] for j in js) / len(js) for i, js in positives.items()) / 5
    assert torch.allclose(contrastive_loss(z, keys, t), expected, atol=1e-6)
    # only the first positive counted would give another number
    first_only = sum(-log_p[i, js[0]] for i, js in positives.items()) / 5
    assert not torch.allclose(first_only, expected, atol=1e-4)


def test_an_anchor_without_a_positive_is_left_out():
    z = unit([[1, 0], [0.9, 0.1], [0, 1]])
    with_lone = contrastive_loss(z, torch.tensor([0, 0, 1]), 0.3)
    assert math.isfinite(with_lone.item()) and with_lone > 0


TWO_PROCESSES = textwrap.dedent(
    """
    import sys, torch, torch.distributed as dist
    from accelerate import Accelerator
    from gan.loops.contrastive import global_loss
    acc = Accelerator(cpu=True)
    torch.manual_seed(0)
    z = torch.nn.functional.normalize(torch.randn(2, 8, 5), dim=2)  # two views of 8 examples
    keys = torch.tensor([0, 1, 2, 0, 1, 2, 3, 3])
    n = 8 // acc.num_processes
    mine = slice(acc.process_index * n, (acc.process_index + 1) * n)
    local = z[:, mine].reshape(-1, 5).requires_grad_()
    loss = global_loss(local, keys[mine], 0.3, acc, 2)
    (loss * acc.num_processes).backward()
    grad = local.grad.clone()
    dist.all_reduce(grad) if acc.num_processes > 1 else None
    # given pairs (queries, then their passages): each example its own key, as the loop numbers them
    paired = z[:, mine].reshape(-1, 5).clone().requires_grad_()
    pair = global_loss(paired, torch.arange(8)[mine], 0.3, acc, 2, True)
    (pair * acc.num_processes).backward()
    if acc.is_main_process:
        saved = {"loss": loss.detach(), "grad": local.grad, "pair": pair.detach(), "pair_grad": paired.grad}
        torch.save(saved, sys.argv[1])
    if acc.num_processes > 1:  # a gloo group left to the interpreter's exit can abort a process whose work is done
        dist.barrier()
        dist.destroy_process_group()
    """
)


def test_the_loss_with_two_processes_equals_the_loss_with_one(tmp_path):
    """Negatives gathered across processes: the same global batch gives the same loss, and each process's gradient
    (after DDP's mean) is one process's gradient for its own rows."""
    script = tmp_path / "two.py"
    script.write_text(TWO_PROCESSES)
    one = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "one.pt")], env=two_process_env(), capture_output=True, text=True
    )
    assert one.returncode == 0, one.stderr[-2000:]
    two = two_processes(str(script), str(tmp_path / "two.pt"))
    assert two.returncode == 0, two.stderr[-2000:]
    a, b = torch.load(tmp_path / "one.pt"), torch.load(tmp_path / "two.pt")
    assert torch.allclose(a["loss"], b["loss"], atol=1e-6)
    # rank 0 holds the first half of each view: rows 0..3 and 8..11 of the one-process layout; DDP divides by 2
    expected = torch.cat([a["grad"][0:4], a["grad"][8:12]])
    assert torch.allclose(b["grad"] / 2, expected, atol=1e-6)
    # the same for given pairs (text's cloze pairs): the passages of every process are every query's candidates
    assert torch.allclose(a["pair"], b["pair"], atol=1e-6)
    assert torch.allclose(b["pair_grad"] / 2, torch.cat([a["pair_grad"][0:4], a["pair_grad"][8:12]]), atol=1e-6)


# -- the scores -----------------------------------------------------------------------------------
def test_retrieval_scores_match_their_definitions_on_hand_made_rankings():
    """One query of label 1 with three relevant references (R = 3) ranked 1st, 3rd and 4th."""
    refs = unit([[1, 0], [0.9, 0.44], [0.8, 0.6], [0.6, 0.8], [0, 1]])  # decreasing similarity to [1, 0]
    labels = torch.tensor([1, 0, 1, 1, 0])
    scores = retrieval_scores(unit([[1, 0]]), torch.tensor([1]), refs, labels)
    assert scores["precision_at_1"] == 1.0
    assert scores["r_precision"] == pytest.approx(2 / 3)  # two of the first three are relevant
    assert scores["map_at_r"] == pytest.approx((1 / 1 + 2 / 3) / 3)  # P(1) and P(3); the 4th is past R
    # a second query whose nearest is irrelevant
    two = retrieval_scores(unit([[1, 0], [0, 1]]), torch.tensor([1, 1]), refs, labels)
    # query [0, 1]: order 4(0), 3(1), 2(1), 1(0), 0(1): within R = 3 hits at 2 and 3
    assert two["precision_at_1"] == pytest.approx(0.5)
    assert two["map_at_r"] == pytest.approx(((1 + 2 / 3) / 3 + (1 / 2 + 2 / 3) / 3) / 2)


def test_excluding_self_does_not_count_a_query_as_its_own_neighbour():
    z = unit([[1, 0], [0.99, 0.1], [0, 1], [0.1, 0.99]])
    scores = retrieval_scores(z, torch.tensor([0, 0, 1, 1]), z, torch.tensor([0, 0, 1, 1]), exclude_self=True)
    assert scores == {"precision_at_1": 1.0, "r_precision": 1.0, "map_at_r": 1.0}


# -- gan train, gan embed, gan search -------------------------------------------------------------
@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("embeddings")
    for name, change in (("emb", {}), ("other", {"target": "sphere[4]"})):
        cfg = {**EMBEDDER, "networks": {"e": {**EMBEDDER["networks"]["e"], **change}}}
        cfg["run"] = {**cfg["run"], "output": str(folder / "runs")}
        path = folder / f"{name}.yaml"
        path.write_text(yaml.safe_dump(cfg))
        assert main(["train", str(path)]) == 0
    index = folder / "index.npz"
    assert main(["embed", str(folder / "runs" / "emb"), "-o", str(index)]) == 0
    return folder


def digit_file(folder: Path, i: int, shape=(8, 8), mode="L") -> str:
    from PIL import Image

    from gan import data as datasets
    from gan.config import Data

    x = datasets.open_examples(Data(name="sklearn_digits"), parse("image[1,8,8]")).x[i, 0]
    pixels = ((x.numpy() + 1) / 2 * 255).round().astype("uint8")
    image = Image.fromarray(pixels).resize(shape[::-1]).convert(mode)
    path = folder / f"q{i}_{shape[0]}_{mode}.png"
    image.save(path)
    return str(path)


def test_the_index_holds_unit_rows_labels_and_what_wrote_it(trained):
    with np.load(trained / "index.npz") as index:
        z = index["embeddings"]
        assert z.dtype == np.float32 and z.shape[1] == 8
        assert np.allclose(np.linalg.norm(z, axis=1), 1, atol=1e-5)
        assert len(index["labels"]) == len(z) and str(index["network"]) == "e" and int(index["dim"]) == 8


def test_each_training_image_finds_itself_first(trained, capsys):
    from gan.measure.retrieval import search

    files = [digit_file(trained, i) for i in (0, 5, 11)]
    results, _ = search(trained / "runs" / "emb", index=str(trained / "index.npz"), queries=files, k=3)
    with np.load(trained / "index.npz") as index:
        z = index["embeddings"]
    for i, row in zip((0, 5, 11), results):
        first = row["neighbours"][0]
        assert first["similarity"] == pytest.approx(1.0, abs=1e-4)
        assert first["item"] == i or np.allclose(z[first["item"]], z[i], atol=1e-5)  # itself, or an identical twin
    grid = trained / "grid.png"
    assert main(["search", str(trained / "runs" / "emb"), "--index", str(trained / "index.npz"), files[0]]) == 0
    assert (
        main(["search", str(trained / "runs" / "emb"), "--index", str(trained / "index.npz"), *files, "-o", str(grid)])
        == 0
    )
    assert grid.is_file()


@pytest.mark.parametrize(
    "args, says",
    [
        (["-k", "0"], "-k: expected a number of neighbours in 1.."),
        (["-k", "100000"], "-k: expected a number of neighbours in 1.."),
        (["--index", "missing.npz"], "no such file"),
        (["QUERY_MISSING"], "no such file"),
        (["QUERY_BIG"], "images are 9x8"),
        (["QUERY_RGB"], "has 3 channel(s)"),
    ],
)
def test_bad_search_input_is_refused_in_one_line(trained, capsys, args, says):
    run, index = str(trained / "runs" / "emb"), str(trained / "index.npz")
    query = digit_file(trained, 0)
    swap = {
        "QUERY_MISSING": str(trained / "nope.png"),
        "QUERY_BIG": digit_file(trained, 0, (9, 8)),
        "QUERY_RGB": digit_file(trained, 0, mode="RGB"),
    }
    args = [swap.get(a, a) for a in args]
    if args[0] == "--index":
        args = [*args, query]
    elif not args[0].startswith("-"):
        args = ["--index", index, *args]
    else:
        args = ["--index", index, query, *args]
    assert main(["search", run, *args]) == 2
    err = capsys.readouterr().err.strip()
    assert says in err and len(err.splitlines()) == 1


def test_an_index_of_another_network_or_another_d_is_refused(trained, capsys):
    query = digit_file(trained, 0)
    assert main(["search", str(trained / "runs" / "other"), "--index", str(trained / "index.npz"), query]) == 2
    err = capsys.readouterr().err.strip()
    assert "written in sphere[8], but network 'e' writes sphere[4]" in err and len(err.splitlines()) == 1
    other_index = trained / "other.npz"
    assert main(["embed", str(trained / "runs" / "other"), "-o", str(other_index)]) == 0
    # same name and D would still be another network: the index remembers its run
    assert main(["search", str(trained / "runs" / "emb"), "--index", str(other_index), query]) == 2
    assert "written in sphere[4]" in capsys.readouterr().err


def test_an_existing_grid_is_not_overwritten_without_the_flag_and_is_refused_before_the_search(trained, capsys):
    run, index, query = str(trained / "runs" / "emb"), str(trained / "index.npz"), digit_file(trained, 0)
    grid = trained / "kept.png"
    grid.write_bytes(b"a user's picture")
    capsys.readouterr()
    assert main(["search", run, "--index", index, query, "-o", str(grid)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "--overwrite" in err and grid.read_bytes() == b"a user's picture"
    assert main(["search", run, "--index", index, query, "-o", str(trained / "grid.txt")]) == 2
    assert "FILE.png" in capsys.readouterr().err
    assert main(["search", run, "--index", index, query, "-o", str(grid), "--overwrite"]) == 0
    assert grid.read_bytes().startswith(b"\x89PNG")


def test_an_existing_index_is_not_overwritten_without_the_flag(trained, capsys):
    index = trained / "index.npz"
    before = index.read_bytes()
    assert main(["embed", str(trained / "runs" / "emb"), "-o", str(index)]) == 2
    assert "--overwrite" in capsys.readouterr().err and index.read_bytes() == before
    assert main(["embed", str(trained / "runs" / "emb"), "-o", str(index), "--overwrite"]) == 0


def test_a_run_logs_its_loss_and_held_out_scores_and_resumes(trained):
    import json

    run = trained / "runs" / "emb"
    scores = json.loads((run / "metrics.json").read_text())
    assert 0 <= scores["held_out/precision_at_1"] <= 1 and 0 <= scores["held_out/map_at_r"] <= 1
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run / "logs"))
    events.Reload()
    assert {"embedder/loss", "embedder/temperature", "held_out/map_at_r"} <= set(events.Tags()["scalars"])
    assert main(["train", "--resume", str(run), "--set", "run.steps=6"]) == 0
    assert (run / "checkpoints" / "latest").read_text() == "step_00000006"


def test_gan_evaluate_scores_an_embedding_run_as_the_run_scored_itself(trained, capsys):
    import json

    run = trained / "runs" / "emb"
    capsys.readouterr()
    assert main(["evaluate", str(run)]) == 0
    result = json.loads(capsys.readouterr().out)
    own = json.loads((run / "metrics.json").read_text())
    for key in ("precision_at_1", "r_precision", "map_at_r"):
        assert result[key] == pytest.approx(own[f"held_out/{key}"], abs=1e-6), key
    assert main(["evaluate", str(run), "--metric", "fid_classifier"]) == 2
    assert "scored by retrieval" in capsys.readouterr().err


def test_gan_evaluate_scores_raw_pixels_pca_and_an_untrained_network_beside_the_embedder(trained, capsys):
    """The baselines in the same table: each is its own definition, on the split the run scored."""
    import json

    from gan import data as datasets
    from gan.config import Data

    run = trained / "runs" / "emb"
    capsys.readouterr()
    assert main(["evaluate", str(run)]) == 0
    result = json.loads(capsys.readouterr().out)
    train_set, held_out = datasets.open_examples(Data(name="sklearn_digits"), parse("image[1,8,8]")).split(0.1, 0)
    pixels = retrieval_scores(
        F.normalize(held_out.x.flatten(1), dim=1), held_out.y, F.normalize(train_set.x.flatten(1), dim=1), train_set.y
    )
    for key, value in pixels.items():
        assert result[f"raw_pixels/{key}"] == pytest.approx(value, abs=1e-6), key
    for baseline in ("pca_pixels", "untrained_network"):
        assert 0 < result[f"{baseline}/map_at_r"] <= 1
    assert result["untrained_network/map_at_r"] != pytest.approx(result["map_at_r"], abs=1e-4)  # not the trained one


def test_faiss_and_the_matrix_product_return_the_same_neighbours(monkeypatch):
    """Both searches are exact, so both must rank alike; faiss is in the test extra so this runs in CI."""
    pytest.importorskip("faiss")
    from gan.measure import retrieval

    generator = torch.Generator().manual_seed(0)
    index = F.normalize(torch.randn(2000, 32, generator=generator), dim=1)
    queries = F.normalize(torch.randn(50, 32, generator=generator), dim=1)
    sims, rows = retrieval.nearest(index, queries, 10)  # faiss imports here
    exact_sims, exact_rows = retrieval.exact_nearest(index, queries, 10)
    assert torch.equal(rows.long(), exact_rows)
    assert torch.allclose(sims, exact_sims, atol=1e-5)
    monkeypatch.setitem(sys.modules, "faiss", None)  # `import faiss` now fails: the matrix product answers
    fallback_sims, fallback_rows = retrieval.nearest(index, queries, 10)
    assert torch.equal(fallback_rows, exact_rows) and torch.equal(fallback_sims, exact_sims)
