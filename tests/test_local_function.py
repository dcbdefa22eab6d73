"""A function of the plane read from a grid of codes (family local_implicit): continuous across cells, the same
picture at every size, and drawn in the loop as `gan sample --size` draws it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from networks import Function, PlaneFunction, build
from networks.functions import pixel_centres

ROOT = Path(__file__).resolve().parent.parent
LOCAL = {"family": "local_implicit", "source": "noise[8]", "target": "function[2->1]", "width": 8, "cells": 7}


def untrained(seed: int = 0, **options) -> PlaneFunction:
    """Eight functions of an untrained net: its batch norms read the batch, so the codes vary at unit scale."""
    torch.manual_seed(seed)
    net = build(LOCAL | options)
    with torch.no_grad():
        f = net.function(torch.randn(8, 8))
        values = f.render(28)
    return PlaneFunction(f.space, f.n, lambda coords: f.at(coords).detach()), values


def test_it_writes_a_function_of_the_plane_and_draws_it_at_any_size():
    net = build(LOCAL)
    assert isinstance(net.function_space, Function) and net.function_space.channels == 1
    z = torch.randn(3, 8)
    with torch.no_grad():
        assert net.render(z, size=28).shape == (3, 1, 28, 28)
        assert net.render(z, size=56).shape == (3, 1, 56, 56)
        net.draw_on(28, 28)
        drawn = net(z)
    assert drawn.shape == (3, 1, 28, 28) and drawn.abs().max() <= 1
    assert net.spec["grid"] == [28, 28] and net.larger_sizes == (112,)


def jumps(f: PlaneFunction, cells: int, where: float) -> torch.Tensor:
    """The largest change of the functions between two points 1e-5 apart, either side of every line x = const in the
    cells' layout at ``where`` (0.5: the borders between cells; 0: the codes' centres), at 64 heights each."""
    lines = (torch.arange(cells - 1, dtype=torch.float32) + 0.5 + where) * 2 / cells - 1
    ys = torch.linspace(-0.99, 0.99, 64)
    x = lines[:, None].expand(-1, 64).flatten()
    y = ys.repeat(len(lines))
    before = f.at(torch.stack([x - 1e-5, y], -1))
    after = f.at(torch.stack([x + 1e-5, y], -1))
    return (after - before).abs().max()


@pytest.mark.parametrize("where", [0.5, 0.0])
def test_the_function_is_continuous_across_cells_and_the_nearest_code_alone_is_not(where):
    """Blending the four nearest codes changes neighbours only where a weight is zero; reading the nearest code
    alone jumps at every border between cells, so the test can fail. Measured on untrained nets (seeds 0 to 2, torch 2,
    CPU): the largest change across 2e-5 is 2e-5 to 5e-5 with the blend, 0.4 to 0.8 with the nearest code."""
    f, values = untrained()
    assert values.std() > 0.05  # a picture to compare, not a flat field
    assert jumps(f, 7, where) < 1e-3, jumps(f, 7, where)
    nearest, _ = untrained(ensemble=False)
    if where == 0.5:
        assert jumps(nearest, 7, where) > 0.05, jumps(nearest, 7, where)


def test_drawn_at_twice_the_size_and_pooled_it_is_the_picture_at_the_size():
    """Pooling a 56x56 drawing by 2 gives the 28x28 one up to the function's detail inside a pixel. Measured on
    untrained nets (seeds 0 to 2, torch 2, CPU): 0.0004 to 0.0008 mean absolute difference, a fourteenth of what
    reading the 28x28 grid a quarter pixel off moves it (0.006 to 0.012). Bounds: 0.005, and half the quarter-pixel
    move: a grid misplaced by a quarter pixel or more fails the second."""
    f, at_28 = untrained(seed=1)
    pooled = F.avg_pool2d(f.render(56), 2)
    moved = f.at(pixel_centres(28, 28) + 0.5 / 28).transpose(1, 2).reshape(at_28.shape)
    difference, misplaced = (pooled - at_28).abs().mean().item(), (moved - at_28).abs().mean().item()
    assert difference < 0.005, difference
    assert difference < 0.5 * misplaced, (difference, misplaced)


@pytest.mark.parametrize(
    "option, value",
    [
        ("cells", 3),
        ("hidden", 0),
        ("depth", 0),
        ("frequencies", 9),
        ("width", "wide"),
        ("ensemble", "yes"),
        ("grid", [28]),
        ("target", "image[1,28,28]"),
        ("source", "image[1,28,28]"),
    ],
)
def test_bad_options_are_refused_in_one_line_naming_the_option(option, value):
    with pytest.raises(ValueError) as error:
        build(LOCAL | {option: value})
    said = str(error.value)
    assert "\n" not in said and (option in said or str(value) in said), said


@pytest.mark.parametrize("where", [0.5, 0.0])
def test_codes_that_write_polynomials_are_continuous_across_cells_too(where):
    """The polynomial decoder shares the ensemble's blend: no jump between cells (bound as above); the nearest code's
    plane alone jumps where the nearest code changes."""
    f, values = untrained(polynomial=1)
    assert values.std() > 0.05
    assert jumps(f, 7, where) < 1e-3, jumps(f, 7, where)
    nearest, _ = untrained(polynomial=1, ensemble=False)
    if where == 0.5:
        assert jumps(nearest, 7, where) > 0.05, jumps(nearest, 7, where)


@pytest.mark.parametrize("scale", [2, 4])
def test_degree_zero_is_bilinear_interpolation_of_the_codes_values(scale):
    """Codes that write one value each (degree 0), blended by the ensemble's weights, are exactly what bilinear
    upsampling with pixel centres aligned draws (align_corners=False, the border clamped): the coordinates, the
    choice of the four codes and their weights together, checked against torch's own resampling."""
    torch.manual_seed(0)
    net = build(LOCAL | {"polynomial": 0})
    codes = torch.randn(3, net.head.from_code.in_features, 7, 7)
    with torch.no_grad():
        drawn = PlaneFunction(net.function_space, 3, lambda c: net.head(codes, c)).render(7 * scale)
        values = net.head.from_code(codes.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)  # each code's value
    expected = F.interpolate(values, scale_factor=scale, mode="bilinear", align_corners=False)
    torch.testing.assert_close(drawn, expected, atol=1e-5, rtol=1e-5)


def test_codes_that_all_write_one_plane_draw_that_plane_everywhere():
    """Each code writes a plane around its own centre; where all of them write the same plane of the extent, the
    blend is that plane at every point, borders included (where clamped codes repeat), at any size. A plane read
    from the wrong code, at the wrong offset or with the wrong slope's axis would bend it."""
    net = build(LOCAL | {"polynomial": 1})
    cells, a, b, c = 7, 0.3, -0.7, 0.2  # the plane a * x + b * y + c over the extent [-1, 1]^2
    centre = (torch.arange(cells, dtype=torch.float32) + 0.5) * 2 / cells - 1
    cy, cx = torch.meshgrid(centre, centre, indexing="ij")
    slope = 2 / cells  # an offset of one cell is 2 / cells of the extent
    coefficients = torch.stack([a * cx + b * cy + c, torch.full_like(cx, a * slope), torch.full_like(cx, b * slope)])
    assert net.head.powers == [(0, 0), (1, 0), (0, 1)]  # the order the coefficients are written in
    codes = torch.zeros(1, net.head.from_code.in_features, cells, cells)
    codes[0, :3] = coefficients
    with torch.no_grad():  # the head passes the first three channels of the codes through as the coefficients
        net.head.from_code.bias.zero_()
        net.head.from_code.weight.copy_(torch.eye(3, codes.shape[1]))
        f = PlaneFunction(net.function_space, 1, lambda p: net.head(codes, p))
        for size in (7, 28, 45):
            points = pixel_centres(size, size)
            drawn = f.render(size).reshape(-1)
            torch.testing.assert_close(drawn, a * points[:, 0] + b * points[:, 1] + c, atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    "options",
    [
        {"polynomial": 4},
        {"polynomial": -1},
        {"polynomial": "one"},
        {"polynomial": 1.0},
        {"polynomial": 1, "frequencies": 2},
        {"polynomial": 1, "hidden": 16},
    ],
)
def test_a_bad_polynomial_is_refused_in_one_line(options):
    with pytest.raises(ValueError) as error:
        build(LOCAL | options)
    said = str(error.value)
    assert "\n" not in said and "polynomial" in said, said


@pytest.mark.parametrize("ensemble", [True, False])
def test_points_shared_by_every_function_read_what_points_of_their_own_read(ensemble):
    """A drawing reads the same points for every function (one matrix product); an encoder's loss reads each image's
    own random points (a gather). Given the same points both ways, the values and the codes' gradients agree, in
    more points than one slice of the product holds."""
    torch.manual_seed(0)
    net = build(LOCAL | {"polynomial": 2, "ensemble": ensemble})
    codes = torch.randn(3, net.head.from_code.in_features, 7, 7, requires_grad=True)
    points = torch.rand(30_000, 2) * 2 - 1
    shared = net.head(codes, points[None])
    (grad_shared,) = torch.autograd.grad(shared.square().sum(), codes)
    own = net.head(codes, points[None].expand(3, -1, -1))
    (grad_own,) = torch.autograd.grad(own.square().sum(), codes)
    assert 30_000 > 2**22 // (6 * 49)  # the shared reading is built in more than one slice
    torch.testing.assert_close(shared, own, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(grad_shared, grad_own, atol=1e-3, rtol=1e-4)


def test_a_drawing_read_again_on_other_points_of_the_same_shape_reads_those_points():
    """A drawing's reading is kept for the next call on the same points tensor (a loop draws on one grid every step);
    points of the same number elsewhere, or the same tensor changed in place, must be read anew, not from what was
    kept."""
    torch.manual_seed(0)
    net = build(LOCAL | {"polynomial": 1})
    codes = torch.randn(2, net.head.from_code.in_features, 7, 7)
    grid, moved = pixel_centres(28, 28), pixel_centres(28, 28) + 0.5 / 28
    with torch.no_grad():
        first, again, elsewhere = net.head(codes, grid[None]), net.head(codes, grid[None]), net.head(codes, moved[None])
        own = net.head(codes, moved[None].expand(2, -1, -1))
        assert net.head(codes, grid[None]) is not None and net.head._last[1] is not moved  # grid's reading kept
        grid += 0.5 / 28  # the kept tensor itself now holds the moved points
        changed = net.head(codes, grid[None])
    assert torch.equal(first, again)
    assert (elsewhere - first).abs().max() > 0.01  # the moved points read other values...
    torch.testing.assert_close(elsewhere, own, atol=1e-5, rtol=1e-5)  # ...the ones the points themselves give
    torch.testing.assert_close(changed, own, atol=1e-5, rtol=1e-5)


FOURIER = {"family": "fourier", "source": "noise[8]", "target": "function[2->1]", "width": 8}


@pytest.mark.parametrize("spec", [LOCAL | {"polynomial": 1}, LOCAL, FOURIER], ids=["planes", "points", "fourier"])
def test_a_drawing_is_read_where_the_network_computes(spec):
    """The pixel centres of a drawing are made on the network's device, not the CPU's: on a GPU a CPU grid cannot
    meet the codes. Checked on the meta device (shapes only), whose tensors a CPU grid does not always stop."""
    seen = []
    net = build(spec | {"grid": [8, 8]}).to("meta")
    net.head.register_forward_pre_hook(lambda module, args: seen.append(args[1].device))
    z = torch.randn(2, 8, device="meta")
    assert net(z).device.type == "meta" and net.render(z, size=12).device.type == "meta"
    assert [d.type for d in seen] == ["meta", "meta"], seen


def test_the_loops_grid_is_read_once():
    """Drawn again on its grid (every training step), the planes painter reuses what it read from the grid: the
    matrix built once is the one kept after the second drawing."""
    net = build(LOCAL | {"polynomial": 1, "grid": [28, 28]})
    z = torch.randn(4, 8)
    net(z)
    kept = net.head._last
    net(z)
    assert kept is not None and net.head._last is kept


def test_a_large_drawings_centres_are_not_held_after_it():
    """Training grids' centres are kept between calls (small); a poster-sized drawing's are not held once drawn."""
    from networks.functions import KEPT_GRID, _centres

    f = PlaneFunction(Function(1), 1, lambda xy: xy[..., :1])
    _centres.cache_clear()
    f.render(28)
    kept = _centres.cache_info().currsize
    side = int(KEPT_GRID**0.5) + 1
    f.render(side)
    assert kept >= 1 and _centres.cache_info().currsize == kept
