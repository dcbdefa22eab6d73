"""Drawing from trained networks, and reading images for them: ``gan sample`` and ``gan classify``."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch

from networks import Bernoulli, Categorical, Image, Network, Noise, Normal, Point, Text, writes_functions
from networks.functions import MAX_SIDE

from ..image_files import read_images
from ..memory import check_fits
from ..runs.folder import RunError, atomic_write_text, load


def parse_labels(text: str | None, n: int, net: Network) -> torch.Tensor | None:
    """'3,7' -> tensor [3, 7, 3, 7, ...] of length n; None for unconditioned networks."""
    if net.condition is None:
        if text is not None:  # even --labels "": a flag given is a flag meant
            raise RunError(f"--labels: this network takes no condition (it maps {net.source} -> {net.target})")
        return None
    if text is None:
        return torch.arange(n) % net.condition.k
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        raise RunError(f"--labels: expected comma-separated integers such as 3,7, got {text!r}") from None
    if any(not 0 <= v < net.condition.k for v in values):
        raise RunError(f"--labels: labels must lie in 0..{net.condition.k - 1} for {net.condition}, got {text!r}")
    return torch.tensor(values)[torch.arange(n) % len(values)]


# What a run's network is for, when none is named: the first of these roles the run assigns.
# the roles whose network each verb uses when --network is not given, first found first
ROLES_SAMPLED = ("generator", "sampler", "classifier")
ROLES_READING = ("classifier", "discriminator")


def network_in_role(run, roles: tuple[str, ...]) -> str:
    """The network the run gives the first of ``roles``: the run's config already says which network draws or
    reads, so a user need not look it up in RUN/networks/."""
    from .. import config as C

    path = Path(run) / "config.yaml"
    if not path.is_file():
        raise RunError(f"{run}: not a run folder (no config.yaml)")
    assigned = C.load(path).roles
    for role in roles:
        if role in assigned:
            return assigned[role]
    given = ", ".join(f"{r}: {n}" for r, n in assigned.items())
    raise RunError(
        f"--network: run {run} has no {' or '.join(roles)} role (its roles: {given}); name a network with --network"
    )


def draw(
    net: Network, n: int, *, seed: int = 0, labels: torch.Tensor | None = None, truncation: float | None = None
) -> torch.Tensor:
    """n samples from a network whose source is sampleable; the same seed gives the same samples (and with
    ``truncation`` the same noise, scaled: the source space defines what truncation means)."""
    if not net.source.sampleable:
        raise RunError(f"this network reads {net.source}, which cannot be sampled; use gan classify to feed it inputs")
    rng = torch.Generator().manual_seed(seed)
    if truncation is None:
        return net.sample(n, y=labels, rng=rng)
    z = net.source.sample(n, rng=rng, truncation=truncation).to(next(net.parameters()).device)
    return net.sample(x=z, y=labels, rng=rng)  # unlabelled: labels drawn after the noise, as net.sample(n) does


def check_truncation(net: Network, truncation: float | None) -> None:
    """Only a noise source has a mode to draw nearer to; labels or strings have none, so truncation is refused."""
    if truncation is None:
        return
    if not (math.isfinite(truncation) and 0 < truncation <= 1):
        raise RunError(f"--truncation: expected a number in (0, 1] (1: no truncation), got {truncation}")
    if not isinstance(net.source, Noise) or sample_kind(net) != "samples":
        raise RunError(
            f"--truncation: this network maps {net.source} -> {net.target}; only a network drawn from noise[D] "
            "is truncated; drop --truncation"
        )


def sentences(net: Network, n: int, *, seed: int = 0, prompt: str = "", temperature: float = 1.0) -> list[str]:
    """n strings from a next-character network, each continuing ``prompt``: draw a character, append it, read again.

    >>> lm = gan.load("runs/text_model", "reader")         # doctest: +SKIP
    >>> sentences(lm, 2, prompt="The ", temperature=0.8)   # doctest: +SKIP
    ['The default value is None.', 'The object is returned.']
    """
    from networks import iterated

    from ..roles import writes_next_character

    if not writes_next_character(net):
        raise RunError(
            f"this network maps {net.source} -> {net.target}; only text[L] -> categorical[K] with K the alphabet "
            "size writes strings"
        )
    check_temperature(temperature)
    from ..data.text import fold_accents

    start = net.source.tokens([fold_accents(prompt)], what="--prompt")[0]  # folded as training folded its text
    tokens = iterated(net).sample(
        n,
        prompt=start,
        temperature=temperature,
        rng=torch.Generator().manual_seed(seed),
        device=next(net.parameters()).device,
    )
    return net.source.strings(tokens)


def check_temperature(temperature: float | None) -> None:
    """A temperature divides logits: 0 divides by zero, a negative one prefers the least likely, inf and nan mean
    nothing."""
    if temperature is not None and not (math.isfinite(temperature) and temperature > 0):
        raise RunError(f"--temperature: expected a finite number > 0, got {temperature}")


def output_path(output) -> Path:
    """``-o`` as a path; an empty name is refused, since Path("") is the working folder and would fill it with PNGs."""
    if isinstance(output, str) and not output.strip():  # said in words: the one-line error folds white space
        raise RunError(f"-o: expected a file or folder name, got {'only white space' if output else 'nothing'}")
    return Path(output)


def sample_kind(net: Network) -> str | None:
    """What ``gan sample`` draws from ``net``, which decides the flags it reads; None where it draws nothing.

    'sentences': a next-character network, iterated (reads --prompt, --temperature); 'strings': an image reader of
    text, for each input the run held out; 'reals': normal[D], for each held-out input; 'samples': from a source that
    can be sampled (reads --labels when the network takes a condition).
    """
    from ..roles import writes_next_character

    if isinstance(net.target, Text) and not isinstance(net.source, Text):
        return "strings"
    if writes_next_character(net):
        return "sentences"
    if isinstance(net.target, Normal):
        return "reals"
    if isinstance(net.source, Text) or not net.source.sampleable:
        return None
    return "samples"


def refuse_unused_flags(
    run, network: str, net: Network, *, labels: str | None, prompt: str | None, temperature: float | None, ema: bool
) -> None:
    """A flag the network at hand does not read is refused, naming it: ignored, it would look as if it had worked.

    A network that draws nothing is refused first, whatever the flags: that is the mistake to fix.
    """
    kind = sample_kind(net)
    if kind is None:
        if isinstance(net.source, Text):
            raise RunError(
                f"this network maps {net.source} -> {net.target}; only text[L] -> categorical[K] with K the alphabet "
                "size writes strings"
            )
        raise RunError(f"this network reads {net.source}, which cannot be sampled; use gan classify to feed it inputs")
    maps = f"this network maps {net.source} -> {net.target}"
    if labels is not None and kind != "samples":
        why = (
            "takes no condition"
            if net.condition is None
            else "is drawn for the inputs the run held out, whose labels are their own"
        )
        raise RunError(f"--labels: this network {why} (it maps {net.source} -> {net.target})")
    if prompt is not None and kind != "sentences":
        raise RunError(
            f"--prompt: {maps}; a prompt is the start of a sentence for a text network that writes its next "
            "character; drop --prompt"
        )
    if temperature is not None and kind != "sentences":
        raise RunError(
            f"--temperature: {maps}; only a text network that writes its next character (text[L] -> categorical[K]) "
            f"draws with a temperature; drop --temperature"
        )
    if not ema and not _keeps_moving_average(run, network):
        raise RunError(
            f"--no-ema: network {network!r} has no moving average of its weights (its run kept none); "
            f"its last weights are the only ones; drop --no-ema"
        )


def _keeps_moving_average(run, network: str) -> bool:
    """Whether the run exported a moving average of the network's weights (its JSON says so; ``load`` has read it)."""
    import json

    info = json.loads((Path(run) / "networks" / f"{network}.json").read_text())
    return bool(info.get("ema"))


def write_samples(
    run,
    network: str | None = None,
    *,
    n: int,
    output,
    seed: int = 0,
    labels: str | None = None,
    ema: bool = True,
    overwrite: bool = False,
    prompt: str | None = None,
    temperature: float | None = None,
    truncation: float | None = None,
    size: int | None = None,
) -> Path:
    """Write n samples as a PNG grid (.png; a scatter for point[2]), an array (.npz / .pt), a folder of PNGs (no
    suffix), or sentences (.txt). ``network`` None: the run's generator (or sampler, or classifier).

    An existing file (or PNGs of the same names in the folder) is replaced only with ``overwrite``;
    each file is written under a temporary name and renamed, so a crash never leaves half of one.
    A flag the network does not read (``labels``, ``prompt``, ``temperature``, ``ema=False``) is refused.
    """
    if n < 1:
        raise RunError(f"-n: expected a number of samples >= 1, got {n}")
    check_temperature(temperature)
    out = output_path(output)
    suffix = out.suffix.lower()
    names = free_output_names(out, n, overwrite)
    network = network or network_in_role(run, ROLES_SAMPLED)
    net = load(run, network, ema=ema)
    refuse_unused_flags(run, network, net, labels=labels, prompt=prompt, temperature=temperature, ema=ema)
    check_truncation(net, truncation)
    draw_at_size(net, size, n, network)
    if isinstance(net.target, Text) and not isinstance(net.source, Text):
        return _write_read_strings(run, net, n, out, seed=seed)
    if isinstance(net.source, Text) or suffix == ".txt":
        return _write_sentences(
            net, n, out, seed=seed, prompt=prompt or "", temperature=1.0 if temperature is None else temperature
        )
    if suffix in (".png", "") and not isinstance(net.target, Image) and not (suffix and _scattered(net)):
        also = "; point[2] is drawn as a scatter in FILE.png" if isinstance(net.target, Point) else ""
        raise RunError(f"-o {out}: {net.target} samples are not images; write them as FILE.npz or FILE.pt{also}")
    check_fits(
        3 * n * 4 * math.prod(net.target.shape),
        f"-n {n}",
        "draw fewer samples, in several calls with other --seed values",
    )  # samples, their pixels, the file's copy
    if isinstance(net.target, Normal):  # reals drawn for each input the run held out: [examples, n, D]
        from ..measure.regression import predictive_samples

        x = predictive_samples(run, net, n, seed=seed).float()
    else:
        x = draw(net, n, seed=seed, labels=parse_labels(labels, n, net), truncation=truncation).float()
    if suffix == ".png" and _scattered(net):
        from ..scatter import scatter  # the picture training draws of the same points

        x = scatter(x)
    _write_all(out, names, x, net)
    return out


def draw_at_size(net: Network, size: int | None, n: int, network: str) -> None:
    """``--size S``: a network that writes functions draws them on S x S pixels; a grid of pixels has one size."""
    if size is None:
        return
    if not writes_functions(net):
        raise RunError(
            f"--size: network {network!r} writes {net.target}, a fixed grid of pixels; only a network into "
            "function[2->C] draws at any size; drop --size"
        )
    channels = net.function_space.channels
    if not 1 <= size <= MAX_SIDE:
        gib = n * channels * size * size * 4 / 2**30
        cost = f"; {n} picture(s) of {size}x{size} would take {gib:.1f} GiB" if size > MAX_SIDE else ""
        raise RunError(f"--size: expected 1 to {MAX_SIDE} pixels a side, got {size}{cost}")
    check_fits(3 * n * channels * size * size * 4, f"--size {size}", "draw fewer or smaller pictures")
    net.draw_on(size, size)


def _scattered(net: Network) -> bool:
    """Points in the plane are pictured as training pictures them: a scatter."""
    return isinstance(net.target, Point) and net.target.dim == 2


def write_walk(
    run,
    network: str | None = None,
    *,
    k: int,
    frames: int = 8,
    output,
    seed: int = 0,
    labels: str | None = None,
    ema: bool = True,
    overwrite: bool = False,
    truncation: float | None = None,
    size: int | None = None,
) -> Path:
    """Write a walk through the noise of ``network`` (default: the run's generator) between K ends (``walks.walk``)
    as a grid (.png), an animation (.gif) or arrays (.npz); ``size``: a painter of functions draws it at S x S."""
    from .walks import WALK_SUFFIXES, check_walk, walk, write_walk

    out = output_path(output)
    if out.suffix.lower() not in WALK_SUFFIXES:
        raise RunError(f"-o {out}: a walk is written as FILE.png (grid), FILE.gif (animation) or FILE.npz (arrays)")
    free_output_names(out, 1, overwrite, checked=True)
    network = network or network_in_role(run, ("generator", "sampler"))
    net = load(run, network, ema=ema)
    draw_at_size(net, size, k * (frames + 1), network)
    check_walk(net, network, k, frames)
    refuse_unused_flags(run, network, net, labels=labels, prompt=None, temperature=None, ema=ema)
    check_truncation(net, truncation)
    check_fits(3 * k * (frames + 1) * 4 * math.prod(net.target.shape), f"--walk {k}", "walk between fewer ends")
    x, ends, ys = walk(net, k, frames=frames, seed=seed, labels=parse_labels(labels, k, net), truncation=truncation)
    try:
        write_walk(out, x, ends, ys, net)
    except OSError as error:
        raise RunError(f"-o {out}: cannot write there ({error.strerror or error}: {error.filename})") from None
    return out


def free_output_names(out: Path, n: int, overwrite: bool, *, checked: bool = False) -> list[Path]:
    """The files ``-o`` names (one, or ``n`` PNGs in a folder), refused if taken and not ``overwrite``; ``checked``:
    the caller has refused a suffix it does not write."""
    suffix = out.suffix.lower()
    if not checked and suffix not in (".npz", ".pt", ".png", ".txt", ""):
        raise RunError(
            f"-o {out}: expected FILE.png, FILE.npz, FILE.pt or a FOLDER (no suffix); sentences of a text network: "
            "FILE.txt"
        )
    names = [out] if suffix else [out / f"{i:05d}.png" for i in range(n)]
    taken = [p for p in names if os.path.lexists(p)]  # a link counts, even one that points nowhere
    if taken and not overwrite:
        what = (
            f"{out} already exists"
            if suffix
            else f"{out} already holds {len(taken)} of the files it would write ({taken[0].name}, ...)"
        )
        raise RunError(f"-o {out}: {what}; pass --overwrite to replace, or choose another -o")
    return names


def _write_all(out: Path, names: list[Path], x: torch.Tensor, net: Network) -> None:
    """``x`` into one file, or one PNG a sample into the folder ``out``."""
    suffix = out.suffix.lower()
    try:
        if suffix:
            out.parent.mkdir(parents=True, exist_ok=True)
            _write_one(out, suffix, x, net)
        else:
            out.mkdir(parents=True, exist_ok=True)
            for path, picture in zip(names, net.target.to_unit(x)):
                _write_one(path, ".png", picture, net)
    except OSError as error:  # a file in the way, no permission, a full disk
        raise RunError(f"-o {out}: cannot write there ({error.strerror or error}: {error.filename})") from None


def _write_one(path: Path, suffix: str, x: torch.Tensor, net: Network) -> None:
    """One output file, written whole under a fresh temporary name and then renamed over ``path``
    (``runs.replacing``)."""
    import torchvision.utils as vutils

    from ..runs.folder import replacing

    with replacing(path) as f:
        if suffix == ".npz":
            np.savez(f, samples=x.numpy())  # a file object: np.savez would append .npz to a name that lacks it
        elif suffix == ".pt":
            torch.save(x, f)
        elif x.dim() == 4:  # a grid of samples
            vutils.save_image(
                net.target.to_unit(x), f, format="png", nrow=max(1, int(len(x) ** 0.5)), padding=2, pad_value=1.0
            )
        else:  # one picture, already in [0, 1]
            vutils.save_image(x, f, format="png")


def _write_lines(out: Path, lines: list[str]) -> Path:
    """Text output, one line each, written whole under a temporary name and renamed over ``out``."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out, "".join(line + "\n" for line in lines))
    except OSError as error:
        raise RunError(f"-o {out}: cannot write there ({error.strerror or error}: {error.filename})") from None
    return out


def _write_sentences(net: Network, n: int, out: Path, *, seed: int, prompt: str, temperature: float) -> Path:
    if out.suffix.lower() != ".txt":
        raise RunError(f"-o {out}: {net.source} -> {net.target} writes sentences; write them as FILE.txt")
    lines = sentences(net, n, seed=seed, prompt=prompt, temperature=temperature)
    return _write_lines(out, lines)


def _write_read_strings(run, net: Network, n: int, out: Path, *, seed: int) -> Path:
    """n strings drawn from p(string | input) for each input the run held out (a conditional model of text samples
    given what it reads, as normal[D] does): a header, then a line an input, tab-separated: its index among the
    held-out inputs, its label where the data has one, and the draws, so each draw stands beside its input."""
    from .. import config as C
    from ..data import Examples, open_examples

    if out.suffix.lower() != ".txt":
        raise RunError(f"-o {out}: {net.source} -> {net.target} writes strings; write them as FILE.txt")
    cfg = C.load(Path(run) / "config.yaml")
    data = open_examples(cfg.data, net.source)
    if not isinstance(data, Examples):
        raise RunError(f"{run}: data.name {cfg.data.name!r} holds no inputs in memory to read strings off")
    held = data.split(cfg.data.holdout, cfg.run.seed)[1]
    if len(held) == 0:
        raise RunError(f"{run}: data.holdout is 0, so no input was held out to read strings off")
    check_fits(len(held) * n * net.target.length * 8, f"-n {n}", "draw fewer strings")
    rng, truth = torch.Generator().manual_seed(seed), held.y is not None
    lines = ["\t".join(["input", *(["label"] if truth else []), *(f"sample_{j + 1}" for j in range(n))])]
    with torch.no_grad():
        for i in range(0, len(held), 256):
            x = held.x[i : i + 256]
            draws = [net.target.strings(net.sample(x=x, rng=rng)) for _ in range(n)]
            if truth:
                y = held.y[i : i + 256]
                draws.insert(0, net.target.strings(y) if y.dim() > 1 else [str(int(v)) for v in y])
            lines += ["\t".join(map(str, row)) for row in zip(range(i, i + len(x)), *draws)]
    return _write_lines(out, lines)


def next_characters(run, network: str | None, texts: list[str], *, top: int | None = None) -> list[dict]:
    """Per string: the ``top`` (default 3) most likely next characters and their probabilities (the prefix classifier
    read as one)."""
    network = network or network_in_role(run, ROLES_READING)
    net = load(run, network, ema=False)
    if not isinstance(net.source, Text) or not isinstance(net.target, (Bernoulli, Categorical)):
        raise RunError(
            f"--text: network {network!r} maps {net.source} -> {net.target}; --text needs a network that reads "
            "text[L] and writes labels"
        )
    if top is not None and isinstance(net.target, Bernoulli):
        raise RunError(
            f"--top: network {network!r} writes bernoulli, one probability per string, no labels to rank; drop --top"
        )
    top = 3 if top is None else top
    rows = []
    for text in texts:
        x = net.source.tokens([text], what="--text")
        with torch.no_grad():
            p = net.distribution(x).probs[0]
        if isinstance(net.target, Bernoulli):
            rows.append({"text": text, "p": float(p)})
            continue
        p, k = p.topk(min(top, net.target.k))
        label = (lambda i: net.source.characters[i]) if net.target.k == net.source.k else int
        rows.append({"text": text, "top": [(label(int(a)), float(b)) for a, b in zip(k, p)]})
    return rows


def _read_strings(net: Network, files: list[str], x: torch.Tensor, *, top: int, samples: int, seed: int) -> list[dict]:
    """Per image: the likeliest whole strings (beam search, 16 kept a step) and, if asked, strings drawn."""
    rows = []
    rng = torch.Generator().manual_seed(seed)
    for i, name in enumerate(files):
        row: dict = {"file": name, "top": net.distribution(x[i : i + 1]).most_likely(top)}
        if samples:
            row["samples"] = net.target.strings(net.sample(x=x[i : i + 1].expand(samples, *x.shape[1:]), rng=rng))
        rows.append(row)
    return rows


def refuse_unused_classify_flags(
    network: str, net: Network, *, top: int | None, samples: int, seed: int | None, images: int
) -> None:
    """``--top`` ranks labels (or strings): a network writing one probability or a mean and a scale has none to rank;
    ``--seed`` seeds draws, of which there are none without ``--sample``; draws must fit in memory."""
    if top is not None and isinstance(net.target, Bernoulli):
        raise RunError(
            f"--top: network {network!r} writes bernoulli, one probability per image (P(real)), no labels to rank; "
            "drop --top"
        )
    if top is not None and isinstance(net.target, Normal):
        raise RunError(
            f"--top: network {network!r} writes {net.target}, a mean and a scale per image, no labels to rank; drop "
            "--top"
        )
    if seed is not None and not samples:
        raise RunError("--seed: only draws (--sample S) use a seed; pass --sample too, or drop --seed")
    per_draw = 8 * math.prod(getattr(net.target, "shape", None) or (1,))  # int64 labels, or reals, or characters
    check_fits(2 * samples * images * per_draw, f"--sample {samples}", "draw fewer labels")


def classify(
    run,
    network: str | None,
    files: list[str],
    *,
    top: int | None = None,
    samples: int = 0,
    seed: int | None = None,
    resize: bool = False,
) -> list[dict]:
    """Per image: the network's distribution over labels (the ``top``, default 3) and, if asked, labels drawn from it.

    Pictures are read as the run's training images were (``image_files``): alpha over the data's background,
    a warning for those of the opposite polarity.
    """
    from ..image_files import data_background

    network = network or network_in_role(run, ROLES_READING)
    net = load(run, network, ema=False)
    if not net.target.is_distribution:
        raise RunError(f"network {network!r} writes {net.target}, not a distribution over labels")
    if not isinstance(net.source, Image):
        hint = "; pass --text to give it strings" if net.source.kind == "text" else ""
        raise RunError(f"network {network!r} reads {net.source}, not images{hint}")
    refuse_unused_classify_flags(network, net, top=top, samples=samples, seed=seed, images=len(files))
    top, seed = 3 if top is None else top, 0 if seed is None else seed
    x = read_images(files, net.source, resize=resize, background=data_background(run, net.source))
    if net.target.kind == "text":
        return _read_strings(net, files, x, top=top, samples=samples, seed=seed)
    with torch.no_grad():
        dist = net.distribution(x)
        rng = torch.Generator().manual_seed(seed)
        drawn = [net.sample(x=x, rng=rng) for _ in range(samples)]
    rows = []
    for i, name in enumerate(files):
        row: dict = {"file": name}
        if isinstance(net.target, Bernoulli):
            row["p_real"] = float(dist.probs[i])  # a discriminator: P(this image is real data)
        elif isinstance(net.target, Normal):  # reals: the predictive mean and scale (in the units it was trained in)
            row["mean"], row["scale"] = dist.base_dist.loc[i].tolist(), dist.base_dist.scale[i].tolist()
        else:
            p, k = dist.probs[i].topk(min(top, net.target.k))
            row["top"] = [(int(a), float(b)) for a, b in zip(k, p)]
        if samples:
            row["samples"] = [d[i].tolist() if isinstance(net.target, Normal) else int(d[i]) for d in drawn]
        rows.append(row)
    return rows
