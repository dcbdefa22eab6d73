"""Networks: every family maps any supported pair of spaces, both ways, conditioned or not."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import networks
from networks import FAMILIES, ConvNet, ResNet, SpaceError, build, parse
from networks.layers import ConditionalNorm, SelfModulatedNorm

NETWORKS_DIR = Path(networks.__file__).resolve().parent

VECTORS = ["noise[8]", "point[2]", "categorical[10]", "bernoulli", "real[1]"]
IMAGES = ["image[1,28,28]", "image[3,28,28]", "image[1,32,32]", "image[3,32,32]", "image[1,64,64]", "image[3,64,64]"]
SOURCES = ["noise[8]", "point[2]", "categorical[10]", *IMAGES]
TARGETS = [*VECTORS, *IMAGES, "image[1,28,28,0:1]"]
# Width 4 keeps the 64x64 cases fast; a ConvNet at 64x64 still has 4 stride-2 stages.
TINY = {"mlp": {"width": 8, "depth": 2}, "conv": {"width": 4}, "resnet": {"width": 4}}


def supported(family: str, source: str, target: str) -> bool:
    if family == "mlp":
        return True
    return parse(source).is_image != parse(target).is_image  # exactly one image side


def inputs(net, n: int = 2, seed: int = 0) -> torch.Tensor:
    """A batch of the network's source space: drawn from its prior, or random pixels in range."""
    g = torch.Generator().manual_seed(seed)
    if net.source.sampleable:
        return net.source.sample(n, rng=g)
    if net.source.is_image:
        return net.source.from_unit(torch.rand(n, *net.source.shape, generator=g))
    return torch.randn(n, *net.source.shape, generator=g)


def backward(out: torch.Tensor) -> None:
    (out * torch.randn_like(out)).sum().backward()  # random weights: no symmetry hides a gradient


def assert_gradients_reach_every_parameter(net) -> None:
    missing = [name for name, p in net.named_parameters() if p.grad is None]
    assert not missing, f"no gradient for {missing}"
    for name, p in net.named_parameters():
        assert torch.isfinite(p.grad).all(), name
    assert any(p.grad.abs().sum() > 0 for p in net.parameters())


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    # Tiny tensors: extra threads only add synchronisation, and on a busy 2-core machine
    # they turn milliseconds into seconds per test.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# -- DCGAN: the PyTorch example, exactly ----------------------------------------------


def test_conv_at_64_pixels_is_the_pytorch_dcgan_example_parameter_for_parameter():
    painter = ConvNet(source="noise[100]", target="image[3,64,64]", width=64, norm="batch", bias=False)
    reader = ConvNet(source="image[3,64,64]", target="bernoulli", width=64)
    assert sum(p.numel() for p in painter.parameters()) == 3_576_704
    assert sum(p.numel() for p in reader.parameters()) == 2_765_568
    images = painter(torch.randn(2, 100))
    assert images.shape == (2, 3, 64, 64)
    logits = reader(images)
    assert logits.shape == (2,)
    backward(logits)
    assert_gradients_reach_every_parameter(painter)
    assert_gradients_reach_every_parameter(reader)


@pytest.mark.parametrize("spectral", [False, True])
@pytest.mark.parametrize("channels_last", [False, True])
def test_the_map_vector_ends_are_matrix_products_with_the_convolutions_weights_and_results(spectral, channels_last):
    from networks.layers import PointToMapConvTranspose2d, WholeMapConv2d, maybe_spectral

    torch.manual_seed(0)
    cases = [
        (PointToMapConvTranspose2d, torch.nn.ConvTranspose2d, (10, 6, (4, 3), 1, 0), (5, 10, 1, 1)),
        (WholeMapConv2d, torch.nn.Conv2d, (6, 2, (4, 3), 1, 0), (5, 6, 4, 3)),
    ]
    for fast_cls, plain_cls, args, shape in cases:
        fast, plain = (
            maybe_spectral(fast_cls(*args, bias=True), spectral),
            maybe_spectral(plain_cls(*args, bias=True), spectral),
        )
        assert fast.state_dict().keys() == plain.state_dict().keys()
        plain.load_state_dict(fast.state_dict())
        x = torch.randn(shape)
        if channels_last:
            fast, plain = fast.to(memory_format=torch.channels_last), plain.to(memory_format=torch.channels_last)
            x = x.contiguous(memory_format=torch.channels_last)
        xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
        a, b = fast(xa), plain(xb)
        assert a.shape == b.shape and torch.allclose(a, b, atol=1e-5)
        a.square().sum().backward()
        b.square().sum().backward()
        assert torch.allclose(xa.grad, xb.grad, atol=1e-5)
        # and the convolution's memory layout: the map they draw, the map gradient they return. A
        # channels-last network fed a channels-first gradient runs its elementwise backward ops on a
        # mixed-layout path, twenty times slower at DCGAN's read-out (networks/layers.py, _channels_last)
        (big, big_plain) = (a, b) if fast_cls is PointToMapConvTranspose2d else (xa.grad, xb.grad)
        assert big.stride() == big_plain.stride(), (fast_cls.__name__, big.stride(), big_plain.stride())
        weight = lambda m: m.parametrizations.weight.original if spectral else m.weight  # noqa: E731
        assert torch.allclose(weight(fast).grad, weight(plain).grad, atol=1e-5)
    # other shapes and settings fall back to the convolution itself, with its result
    x = torch.randn(1, 3, 6, 6)
    conv = WholeMapConv2d(3, 2, 4, 1, 0)
    assert torch.equal(conv(x), torch.nn.functional.conv2d(x, conv.weight, conv.bias))
    for kwargs in ({"stride": 2}, {"output_padding": 1, "stride": 2}, {"dilation": 2}):
        up = PointToMapConvTranspose2d(3, 2, 4, **kwargs)
        plain = torch.nn.ConvTranspose2d(3, 2, 4, **kwargs)
        plain.load_state_dict(up.state_dict())
        z = torch.randn(2, 3, 1, 1)
        assert up(z).shape == plain(z).shape and torch.allclose(up(z), plain(z)), kwargs


def test_dcgan_ends_use_the_matrix_product_layers():
    from networks.layers import PointToMapConvTranspose2d, WholeMapConv2d

    painter = ConvNet(source="noise[100]", target="image[3,32,32]", width=64)
    reader = ConvNet(source="image[3,32,32]", target="bernoulli", width=64)
    assert type(painter.body[0]) is PointToMapConvTranspose2d and type(reader.head["out"]) is WholeMapConv2d


# -- every family, every pair -------------------------------------------------------------

PAIRS = [(f, s, t) for f in sorted(TINY) for s in SOURCES for t in TARGETS]


@pytest.mark.parametrize("family, source, target", PAIRS, ids=[f"{f}:{s}->{t}" for f, s, t in PAIRS])
def test_every_family_maps_every_supported_pair_forward_and_backward(family, source, target):
    spec = {"family": family, "source": source, "target": target, **TINY[family]}
    if not supported(family, source, target):
        # Refused when built, naming both spaces: a config fails before any training starts.
        with pytest.raises(SpaceError) as caught:
            build(spec)
        assert str(parse(source)) in str(caught.value) and str(parse(target)) in str(caught.value)
        return
    torch.manual_seed(0)
    net = build(spec)
    out = net(inputs(net))
    expected = {"bernoulli": (2,), "categorical[10]": (2, 10)}.get(target, (2, *parse(target).shape))
    assert out.shape == expected
    assert torch.isfinite(out).all()
    if net.target.is_image:
        assert out.min() >= net.target.low and out.max() <= net.target.high
    backward(out)
    assert_gradients_reach_every_parameter(net)


@pytest.mark.parametrize("family", ["conv", "resnet"])
@pytest.mark.parametrize(
    "source, target", [("noise[8]", "point[2]"), ("categorical[10]", "bernoulli"), ("image[1,8,8]", "image[1,8,8]")]
)
def test_conv_families_refuse_pairs_without_exactly_one_image_side_at_construction(family, source, target):
    with pytest.raises(SpaceError, match=re.escape(f"{family}: {source} -> {target}")):
        FAMILIES[family](source=source, target=target, width=4)


def test_image_range_other_than_minus_one_to_one_is_filled_not_just_clipped():
    torch.manual_seed(0)
    net = ResNet(source="noise[8]", target="image[1,8,8,0:1]", width=4)
    with torch.no_grad():
        net.head["out"][-1].bias.fill_(-100.0)  # saturate the output low
    out = net(torch.randn(2, 8))
    torch.testing.assert_close(out, torch.zeros_like(out))  # low end is 0, not -1


# -- ResNet specifics ---------------------------------------------------------------------


@pytest.mark.parametrize("size, h0", [(8, 4), (28, 7), (32, 4), (48, 6), (7, 7), (9, 9)])
def test_resnet_draws_from_a_small_map_and_reads_down_to_it(size, h0):
    painter = ResNet(source="noise[8]", target=f"image[1,{size},{size}]", width=4)
    reader = ResNet(source=f"image[1,{size},{size}]", target="real[1]", width=4)
    assert painter.body[1].unflattened_size[1:] == (h0, h0)  # the linear layer writes an h0 x h0 map
    assert painter(torch.randn(2, 8)).shape == (2, 1, size, size)
    before_pool = reader.body[:-2](torch.zeros(2, 1, size, size))
    assert before_pool.shape[2:] == (h0, h0)
    assert reader(torch.zeros(2, 1, size, size)).shape == (2, 1)


def test_resnet_depth_adds_blocks_per_resolution_and_width_doubles_up_to_max_width():
    from networks.resnet import DownBlock, UpBlock

    one = ResNet(source="noise[8]", target="image[1,32,32]", width=4)
    two = ResNet(source="noise[8]", target="image[1,32,32]", width=4, depth=2)
    assert sum(isinstance(m, UpBlock) for m in one.body) == 3  # 4 -> 8 -> 16 -> 32
    assert sum(isinstance(m, UpBlock) for m in two.body) == 6
    reader = ResNet(source="image[3,32,32]", target="bernoulli", width=4, max_width=8)
    widths = [m.conv2.out_channels for m in reader.body if isinstance(m, DownBlock)]
    assert widths == [4, 8, 8]


def test_resnet_defaults_norm_when_drawing_none_when_reading_and_spectral_norm_is_opt_in():
    painter = ResNet(source="noise[8]", target="image[1,8,8]", width=4)
    reader = ResNet(source="image[1,8,8]", target="bernoulli", width=4)
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in painter.modules())
    assert not any(isinstance(m, (torch.nn.BatchNorm2d, torch.nn.GroupNorm)) for m in reader.modules())
    assert not any("parametrizations" in name for name, _ in reader.named_parameters())
    sn = ResNet(source="image[1,8,8]", target="bernoulli", width=4, spectral_norm=True)
    convs = [m for m in sn.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    assert convs and all(hasattr(m, "parametrizations") for m in convs)


def test_resnet_blocks_do_not_overwrite_their_shortcut_input_in_place():
    # With norm none the first activation sees the block input itself; an in-place ReLU would
    # zero the negative part of what the shortcut adds back.
    from networks.resnet import UpBlock

    block = UpBlock(4, 4, up=False, norm="none", activation="relu", classes=None, spectral=False, bias=True)
    for conv in (block.conv1, block.conv2):
        torch.nn.init.zeros_(conv.weight), torch.nn.init.zeros_(conv.bias)
    x = torch.randn(2, 4, 5, 5)
    torch.testing.assert_close(block(x.clone()), x)  # zero residual: the identity shortcut alone


# -- conditioning -----------------------------------------------------------------------

CONDITIONED = [
    ("mlp", "noise[8]", "point[2]", {}),
    ("mlp", "point[2]", "bernoulli", {}),
    ("mlp", "image[1,8,8]", "categorical[10]", {}),
    ("conv", "noise[8]", "image[1,8,8]", {}),
    ("conv", "noise[8]", "image[1,8,8]", {"norm": "none"}),
    ("conv", "image[1,8,8]", "bernoulli", {}),
    ("conv", "image[1,8,8]", "categorical[10]", {}),
    ("resnet", "noise[8]", "image[1,8,8]", {}),
    ("resnet", "noise[8]", "image[1,8,8]", {"norm": "none"}),
    ("resnet", "image[1,8,8]", "bernoulli", {"spectral_norm": True}),
    ("resnet", "image[1,8,8]", "categorical[10]", {}),
    ("resnet", "image[3,32,32]", "point[2]", {}),
]


@pytest.mark.parametrize(
    "family, source, target, extra", CONDITIONED, ids=[f"{f}:{s}->{t}{e}" for f, s, t, e in CONDITIONED]
)
def test_conditioned_networks_run_both_ways_and_their_output_depends_on_the_label(family, source, target, extra):
    torch.manual_seed(0)
    net = build(
        {"family": family, "source": source, "target": target, "condition": "categorical[10]", **TINY[family], **extra}
    )
    x = inputs(net, n=4)
    zeros, threes = torch.zeros(4, dtype=torch.long), torch.full((4,), 3)
    with torch.no_grad():  # learned label weights start at identity-like values: move them
        for name, p in net.named_parameters():
            if name.endswith(("gain.weight", "bias.weight")) or ".embed." in name:  # label embeddings
                p.add_(torch.randn_like(p))
    out = net(x, threes)
    backward(out)
    assert_gradients_reach_every_parameter(net)
    net.eval()
    a, b = net(x, zeros), net(x, threes)
    if net.target.is_distribution:  # a label must move the distribution, not just shift every logit
        a, b = net.target.distribution(a).probs, net.target.distribution(b).probs
    assert not torch.allclose(a, b, atol=1e-4)


def test_a_label_does_not_drown_the_image_at_the_start_of_training():
    """A conditioned conv critic's projection <embed(y), h> starts on the scale of its unconditioned output: with
    nn.Embedding's N(0, 1) rows it was about sqrt(features) = 56 times larger, so the critic read the label first."""
    torch.manual_seed(0)
    net = ConvNet(source="image[1,28,28]", target="bernoulli", width=32, condition="categorical[10]")
    x, y = torch.rand(256, 1, 28, 28) * 2 - 1, torch.randint(0, 10, (256,))
    with torch.no_grad():
        h = net.body(x)
        image, label = net.head["out"](h).flatten(1), net.head["projection"](h.flatten(1), y)
    assert label.std() < 3 * image.std(), (label.std().item(), image.std().item())


def test_a_conditioned_network_refuses_to_run_without_a_label():
    net = ResNet(source="noise[8]", target="image[1,8,8]", width=4, condition="categorical[10]")
    with pytest.raises(SpaceError, match=re.escape("conditioned on categorical[10]")):
        net(torch.randn(2, 8))
    with pytest.raises(SpaceError, match=r"expected labels of shape \[N\]"):
        net(torch.randn(2, 8), torch.zeros(2, 10))


def test_an_unconditioned_network_refuses_labels():
    net = ConvNet(source="image[1,8,8]", target="bernoulli", width=4)
    with pytest.raises(SpaceError, match="takes no condition"):
        net(torch.zeros(2, 1, 8, 8), torch.zeros(2, dtype=torch.long))


def test_a_conditioned_sampler_draws_its_own_labels_when_none_are_given():
    net = ConvNet(source="noise[8]", target="image[1,8,8]", width=4, condition="categorical[10]")
    assert net.sample(3).shape == (3, 1, 8, 8)


@pytest.mark.parametrize("family", sorted(TINY))
@pytest.mark.parametrize(
    "source, bad",
    [
        ("image[1,28,28]", torch.zeros(2, 3, 28, 28)),
        ("image[1,28,28]", torch.zeros(2, 784)),
        ("noise[8]", torch.zeros(2, 9)),
    ],
)
def test_wrong_input_shape_names_the_expected_space(family, source, bad):
    target = "bernoulli" if parse(source).is_image else "image[1,8,8]"
    net = build({"family": family, "source": source, "target": target, **TINY[family]})
    with pytest.raises(SpaceError, match=re.escape(source)):
        net(bad)


# -- distributions and sampling -----------------------------------------------------------


@pytest.mark.parametrize("family", sorted(TINY))
def test_distribution_gives_log_probs_and_samples_of_labels(family):
    net = build({"family": family, "source": "image[1,8,8]", "target": "bernoulli", **TINY[family]})
    x = inputs(net, n=5)
    dist = net.distribution(x)
    assert isinstance(dist, torch.distributions.Bernoulli)
    y = dist.sample()
    assert y.shape == (5,)
    logp = dist.log_prob(y)
    assert logp.shape == (5,) and (logp <= 0).all()
    torch.testing.assert_close(dist.log_prob(torch.ones(5)).exp() + dist.log_prob(torch.zeros(5)).exp(), torch.ones(5))


@pytest.mark.parametrize("family", sorted(TINY))
def test_categorical_log_likelihood_is_minus_cross_entropy_and_samples_are_labels(family):
    net = build({"family": family, "source": "image[1,8,8]", "target": "categorical[10]", **TINY[family]})
    net.eval()
    x, y = inputs(net, n=6), torch.randint(0, 10, (6,))
    dist = net.distribution(x)
    assert isinstance(dist, torch.distributions.Categorical)
    torch.testing.assert_close(dist.log_prob(y).mean(), -F.cross_entropy(net(x), y))
    labels = net.sample(x=x.repeat(50, 1, 1, 1))
    assert labels.shape == (300,) and labels.dtype == torch.long
    assert labels.min() >= 0 and labels.max() <= 9


def test_seeded_sampling_is_reproducible_and_seeds_differ():
    torch.manual_seed(0)
    reader = ConvNet(source="image[1,8,8]", target="categorical[10]", width=4).eval()
    x = torch.randn(64, 1, 8, 8)
    a = reader.sample(x=x, rng=torch.Generator().manual_seed(5))
    b = reader.sample(x=x, rng=torch.Generator().manual_seed(5))
    c = reader.sample(x=x, rng=torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c)
    painter = ResNet(source="noise[8]", target="image[1,8,8]", width=4).eval()
    p = painter.sample(3, rng=torch.Generator().manual_seed(5))
    q = painter.sample(3, rng=torch.Generator().manual_seed(5))
    torch.testing.assert_close(p, q)


def test_a_sampler_draws_its_own_noise():
    net = build({"family": "mlp", "source": "noise[8]", "target": "point[2]", "width": 8}).eval()
    a, b = net.sample(4), net.sample(4)
    assert a.shape == (4, 2) and not torch.allclose(a, b)
    with pytest.raises(SpaceError, match="needs n"):
        net.sample()


def test_a_network_with_a_data_source_needs_inputs_to_sample():
    net = build({"family": "mlp", "source": "point[2]", "target": "bernoulli", "width": 8})
    with pytest.raises(SpaceError, match=re.escape("point[2] cannot be sampled")):
        net.sample(4)
    with pytest.raises(SpaceError, match="not a distribution space"):
        build({"family": "mlp", "source": "noise[2]", "target": "point[2]"}).distribution(torch.zeros(1, 2))


# -- registry -----------------------------------------------------------------------------


def test_every_family_is_registered_by_name():
    assert {"mlp": networks.MLP, "conv": ConvNet, "resnet": ResNet}.items() <= FAMILIES.items()


def test_unknown_family_lists_the_accepted_ones():
    from networks import FAMILIES

    accepted = ", ".join(sorted(FAMILIES))  # every registered family, whatever this checkout adds
    assert {"conv", "mlp", "resnet", "resnext", "transformer"} <= set(FAMILIES)
    with pytest.raises(ValueError, match=re.escape(f"unknown network family 'lstm'; accepted: {accepted}")):
        build({"family": "lstm", "source": "noise[2]", "target": "point[2]"})


@pytest.mark.parametrize("family", sorted(TINY))
def test_unknown_keyword_is_named_and_the_accepted_ones_listed(family):
    with pytest.raises(ValueError) as caught:
        build({"family": family, "source": "noise[2]", "target": "image[1,8,8]", "widht": 3})
    message = str(caught.value)
    assert f"family {family!r} does not take 'widht'" in message
    assert "accepted: source, target, condition, width" in message


def test_missing_spaces_and_bad_names_fail_when_built():
    with pytest.raises(ValueError, match="needs target"):
        build({"family": "resnet", "source": "noise[2]"})
    with pytest.raises(ValueError, match="unknown norm 'group'"):
        build({"family": "resnet", "source": "noise[2]", "target": "image[1,8,8]", "norm": "group"})
    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        build({"family": "resnet", "source": "image[1,8,8]", "target": "bernoulli", "activation": "swish"})


SPECS = [
    {
        "family": "mlp",
        "source": "point[2]",
        "target": "categorical[10]",
        "width": 8,
        "norm": "layer",
        "condition": "categorical[3]",
    },
    {"family": "conv", "source": "noise[8]", "target": "image[3,28,28,0:1]", "width": 4, "depth": 2},
    {"family": "conv", "source": "noise[8]", "target": "image[1,28,28]", "width": 4, "self_modulation": True},
    {
        "family": "conv",
        "source": "noise[8]",
        "target": "image[1,28,28]",
        "width": 4,
        "self_modulation": True,
        "condition": "categorical[10]",
    },
    {"family": "resnet", "source": "noise[8]", "target": "image[1,32,32]", "width": 4, "condition": "categorical[10]"},
    {
        "family": "resnet",
        "source": "image[3,32,32]",
        "target": "bernoulli",
        "width": 4,
        "spectral_norm": True,
        "condition": "categorical[10]",
    },
]


@pytest.mark.parametrize("spec", SPECS, ids=[s["family"] for s in SPECS])
def test_spec_rebuilds_the_same_architecture(spec):
    net = build(spec)
    assert json.loads(json.dumps(net.spec)) == net.spec  # plain data: saved beside the weights
    again = build(net.spec)
    assert again.spec == net.spec
    shapes = {k: v.shape for k, v in net.state_dict().items()}
    assert {k: v.shape for k, v in again.state_dict().items()} == shapes
    again.load_state_dict(net.state_dict())  # strict: every key fits


def test_self_modulated_norms_start_plain_then_let_the_noise_steer_every_resolution():
    torch.manual_seed(0)
    net = ConvNet(source="noise[8]", target="image[1,28,28]", width=4, depth=2, self_modulation=True).eval()
    plain = ConvNet(source="noise[8]", target="image[1,28,28]", width=4, depth=2).eval()
    norms = [m for m in net.modules() if isinstance(m, SelfModulatedNorm)]
    assert len(norms) == 4  # every norm of the drawing direction: two resolutions, two convolutions each
    # the same convolutions and plain norms (gain 1, shift 0): the same drawing, whatever the noise
    maps = (".gain.", ".bias.0.", ".bias.2.")
    plain.load_state_dict({k: v for k, v in net.state_dict().items() if not any(m in k for m in maps)}, strict=False)
    for ref in [m for m in plain.modules() if isinstance(m, torch.nn.BatchNorm2d)]:
        ref.weight.data.fill_(1.0)
        ref.bias.data.zero_()
    z = torch.randn(5, 8)
    assert torch.allclose(net(z), plain(z), atol=1e-6)
    # once the last layer of one map moves, that resolution reads each sample's noise
    x = torch.randn(5, 4, 14, 14)
    assert torch.equal(norms[-1](x, z), norms[-1](x, torch.randn(5, 8)))
    torch.nn.init.normal_(norms[-1].gain[2].weight)
    assert not torch.allclose(norms[-1](x, z), norms[-1](x, torch.randn(5, 8)))


def test_a_labelled_painter_self_modulates_from_its_noise_and_label_side_by_side():
    """Conditional self-modulation: the norms read the noise and the label's one-hot together, so each norm's first
    layer holds a class embedding of its own; at the start, as without labels, every norm is the plain one."""
    torch.manual_seed(0)
    net = ConvNet(
        source="noise[8]", target="image[1,28,28]", condition="categorical[10]", width=4, depth=2, self_modulation=True
    ).eval()
    norms = [m for m in net.modules() if isinstance(m, SelfModulatedNorm)]
    assert len(norms) == 4 and not any(isinstance(m, ConditionalNorm) for m in net.modules())
    assert all(m.gain[0].in_features == 8 + 10 for m in norms)
    z = torch.randn(1, 8).repeat(2, 1)
    labels = torch.tensor([0, 7])
    a, b = net(z, labels)
    assert torch.equal(a, b)  # the maps' last layers start at zero: no label moves a drawing yet
    for m in norms:
        torch.nn.init.normal_(m.gain[2].weight, std=0.1)
    a, b = net(z, labels)
    assert not torch.allclose(a, b), "the label must steer the norms once their maps move"
    c, d = net(torch.randn(2, 8), torch.tensor([3, 3]))
    assert not torch.allclose(c, d), "and so must the noise"


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"source": "image[1,28,28]", "target": "bernoulli"}, "drawing images"),
        ({"source": "noise[8]", "target": "image[1,28,28]", "norm": "none"}, "norm 'none'"),
    ],
)
def test_self_modulation_refuses_networks_it_cannot_modulate_naming_the_option(kwargs, words):
    with pytest.raises(ValueError, match=f"self_modulation.*{words}"):
        ConvNet(width=4, self_modulation=True, **kwargs)


def test_features_are_the_flattened_body_output():
    net = ResNet(source="image[1,8,8]", target="categorical[10]", width=4)
    x = torch.randn(3, 1, 8, 8)
    h = net.features(x)
    assert h.shape == (3, net.head["out"].in_features)
    torch.testing.assert_close(net.head["out"](h), net(x))


# -- what networks/ must not know ---------------------------------------------------------

ROLE_WORDS = re.compile(r"generator|discriminator|critic|classifier", re.IGNORECASE)


def _role_words(path: Path) -> list[str]:
    """Every role word in a file, anywhere: code, names, comments, strings. No exemptions."""
    return [
        f"{path.name}:{n}: {hit.group()!r}"
        for n, line in enumerate(path.read_text().splitlines(), 1)
        for hit in ROLE_WORDS.finditer(line)
    ]


def test_no_role_words_in_networks():
    files = [p for p in NETWORKS_DIR.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    assert any(p.name == "base.py" for p in files)
    found = [hit for p in files for hit in _role_words(p)]
    assert not found, "role words belong to loops and configs, not networks/:\n" + "\n".join(found)


def test_the_role_word_check_would_catch_one(tmp_path):
    planted = tmp_path / "planted.py"
    planted.write_text('x = torch.Generator()\ndef f(*, rng=None):\n    "A Discriminator."\n    critic_net = 1\n')
    assert len(_role_words(planted)) == 3


def test_networks_never_import_gan():
    imports = re.compile(r"^\s*(from\s+(gan|\.\.+gan)\b|import\s+gan\b)", re.MULTILINE)
    offenders = [p.name for p in NETWORKS_DIR.rglob("*.py") if imports.search(p.read_text())]
    assert not offenders
