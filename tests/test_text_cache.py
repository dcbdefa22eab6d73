"""The causal Transformer's key/value cache: sampling one character at a time must write exactly what
re-reading the whole prefix each step writes, only cheaper."""

from __future__ import annotations

import pytest
import torch

from networks import Transformer, iterated


@pytest.fixture(autouse=True)
def _one_thread():
    """Models this small gain nothing from threads, and on a shared machine threads waiting for each other made
    these tests 100 times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _model(length: int = 24, *, dropout: float = 0.0, seed: int = 0) -> Transformer:
    """A random model whose end character is likely enough that strings end at many lengths (PAD rows)."""
    torch.manual_seed(seed)
    net = Transformer(source=f"text[{length}]", target="categorical[64]", width=32, depth=3, heads=4, dropout=dropout)
    with torch.no_grad():
        net.head.weight.mul_(10)  # peaked distributions: the draws depend on the logits, not only on the uniforms
        net.head.bias[net.source.end_index] = 2.5
    return net.eval()


def _uncached(net: Transformer):
    """The sampler as it was before the cache: the whole prefix re-read every step."""
    full = iterated(net)
    return net.source.distribution(full.every_prefix, net)


def _strings(net, tokens):
    return net.source.strings(tokens)


@pytest.mark.parametrize("length", [5, 24, 45])
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("prompt", [None, "The ", "a"])
def test_cached_and_uncached_sampling_write_the_same_characters(length, seed, prompt):
    net = _model(length, seed=seed)
    start = None if prompt is None else net.source.tokens([prompt])[0]
    cached = iterated(net).sample(9, prompt=start, temperature=0.9, rng=torch.Generator().manual_seed(seed))
    plain = _uncached(net).sample(9, prompt=start, temperature=0.9, rng=torch.Generator().manual_seed(seed))
    assert torch.equal(cached, plain), (_strings(net, cached), _strings(net, plain))
    if length - len(prompt or "") > 2:
        assert len(set(_strings(net, cached))) > 1  # the draws are not all the same string
    if prompt is not None:
        assert all(s.startswith(prompt) for s in _strings(net, cached))


def test_some_strings_end_early_so_padded_rows_are_exercised():
    net = _model(40)
    tokens = iterated(net).sample(16, rng=torch.Generator().manual_seed(0))
    lengths = (tokens >= 0).sum(1)
    assert lengths.min() < tokens.shape[1] and len(set(lengths.tolist())) > 2


def _incremental(net, tokens, first: int):
    """Logits after every prefix from the stepper: ``first`` columns at once, then one column a call."""
    step = net.stepper()
    rows = [step(tokens[:, :first])]
    rows += [step(tokens[:, :t]) for t in range(first + 1, tokens.shape[1] + 1)]
    return torch.stack(rows, 1)


@pytest.mark.parametrize("first", [0, 1, 4])
def test_incremental_logits_equal_the_full_forward_at_every_position(first):
    net = _model(30)
    tokens = torch.randint(0, net.source.k, (5, 30))
    tokens[1, 17:] = -1  # PAD after an end: read as a character by both
    with torch.no_grad():
        full = net(tokens, every_prefix=True)[:, first:]
        steps = _incremental(net, tokens, first)
    assert steps.shape == full.shape
    torch.testing.assert_close(steps, full, rtol=1e-5, atol=1e-5)


def _positions_read(net, dist) -> int:
    counts = []
    handles = [b.register_forward_hook(lambda m, i, o: counts.append(o.shape[1])) for b in net.body["blocks"]]
    dist.sample(3, rng=torch.Generator().manual_seed(0))
    for h in handles:
        h.remove()
    return sum(counts)


def test_the_sampler_reads_each_position_once():
    """The cache is used: a sampler that re-reads every prefix feeds the blocks O(T^2) positions."""
    net = _model(32)
    with torch.no_grad():
        net.head.bias[net.source.end_index] = -50  # every string runs to the length
    depth = len(net.body["blocks"])
    assert _positions_read(net, iterated(net)) == depth * 32  # the start token and 31 characters, once each
    assert _positions_read(net, _uncached(net)) == depth * sum(range(1, 33))


def test_the_cache_lives_in_the_call_not_on_the_module():
    net = _model(20)
    before = (dict(vars(net)).keys(), {k: v.clone() for k, v in net.state_dict().items()})
    first = iterated(net).sample(4, rng=torch.Generator().manual_seed(5))
    assert dict(vars(net)).keys() == before[0]
    assert all(torch.equal(v, before[1][k]) for k, v in net.state_dict().items())
    assert not any(isinstance(v, torch.Tensor) for b in net.body["blocks"] for v in vars(b).values())
    again = iterated(net).sample(4, rng=torch.Generator().manual_seed(5))
    assert torch.equal(first, again)  # a second call does not read the first call's positions


def test_a_stepper_refuses_strings_that_did_not_grow():
    net = _model(10)
    step = net.stepper()
    tokens = torch.randint(0, net.source.k, (2, 3))
    step(tokens)
    with pytest.raises(ValueError, match="columns already read"):
        step(tokens)


def test_dropout_is_off_while_stepping():
    net = _model(24, dropout=0.5)
    tokens = torch.randint(0, net.source.k, (3, 24))
    with torch.no_grad():
        full = net(tokens, every_prefix=True)  # eval: no dropout
        net.train()
        steps = _incremental(net, tokens, 0)
        twice = _incremental(net, tokens, 0)
    torch.testing.assert_close(steps, full, rtol=1e-5, atol=1e-5)
    assert torch.equal(steps, twice)


def test_mixed_precision_steps_match_the_mixed_precision_forward():
    net = _model(24)
    tokens = torch.randint(0, net.source.k, (3, 24))
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        full = net(tokens, every_prefix=True)
        steps = _incremental(net, tokens, 0)
        drawn = iterated(net).sample(3, rng=torch.Generator().manual_seed(0))
    assert steps.dtype == full.dtype
    torch.testing.assert_close(steps.float(), full.float(), rtol=0.05, atol=0.1)
    assert drawn.shape[0] == 3


def test_a_prompt_with_accents_is_folded_as_training_folds_its_text():
    from gan.verbs.sampling import sentences

    net = _model()
    folded = sentences(net, 3, seed=1, prompt="Cafe ")
    assert sentences(net, 3, seed=1, prompt="Café ") == folded
    assert all(s.startswith("Cafe ") for s in folded)
