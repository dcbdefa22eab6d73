"""The one interface every network family shares, whatever it will be used for.

A network is ``body`` (source -> features) followed by ``head`` (features -> target).
The split is what lets a trained network change jobs: keep the body, give it a new
head for another target space (a real-vs-generated detector becomes a digit reader).
"""

from __future__ import annotations

import torch
from torch import nn

from .attention import CharacterDecoder
from .spaces import Categorical, Image, Normal, RandomSource, Space, SpaceError, Text, drawing, output_shape, parse


class Network(nn.Module):
    """A map from ``source`` to ``target``, optionally conditioned on a label.

    Subclasses build ``self.body`` and ``self.head`` and implement ``_features`` and
    ``_head``; this class checks inputs, maps outputs into the target space, and
    gives every family ``distribution`` and ``sample``.

    >>> from networks import MLP
    >>> net = MLP(source="noise[8]", target="point[2]")
    >>> net.sample(5).shape
    torch.Size([5, 2])
    """

    family = "network"
    reads_text = False  # whether the family reads text[L] token indices as its source

    def __init__(self, *, source: str | Space, target: str | Space, condition: str | Space | None, options: dict):
        super().__init__()
        self.source = parse(source)
        self.target = parse(target)
        self.condition = parse(condition) if condition is not None else None
        if isinstance(self.source, Normal):
            raise SpaceError(
                f"{self.source} is a distribution over reals, written, not read; a network reads such values as "
                f"real[{self.source.dim}]"
            )
        if self.condition is not None and not isinstance(self.condition, Categorical):
            raise SpaceError(f"condition must be categorical[K], got {self.condition}")
        # Keyword arguments that rebuild this network: saved beside its weights.
        self.spec = {
            "family": self.family,
            "source": str(self.source),
            "target": str(self.target),
            **({"condition": str(self.condition)} if self.condition is not None else {}),
            **options,
        }
        self._out_shape = output_shape(self.target)
        if isinstance(self.source, Text) and not self.reads_text:
            raise SpaceError(
                f"{self.family}: cannot read {self.source}; families 'transformer' and 'ngrams' read strings"
            )
        if isinstance(self.target, Text):  # strings are written one character at a time, from a code the head writes
            self.decoder = CharacterDecoder(self.target, self.target.size)

    # -- to be provided by families -------------------------------------------------
    def _features(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        raise NotImplementedError

    def _head(self, h: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        raise NotImplementedError

    # -- shared behaviour -----------------------------------------------------------
    def _inputs(self, x, y):
        self.source.check(x, f"{self.family} input")
        if self.condition is not None:
            if y is None:
                raise SpaceError(f"this {self.family} is conditioned on {self.condition}: pass labels y of shape [N]")
            self.condition.check(y, f"{self.family} condition")
        elif y is not None:
            raise SpaceError(f"this {self.family} takes no condition, but labels y were given")
        if hasattr(self.source, "encode"):  # labels in, numbers out
            x = self.source.encode(x)
        return x

    def features(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """The body's output, flattened: [N, F]. Used by probes and feature-space metrics."""
        return self._features(self._inputs(x, y), y).flatten(1)

    def forward(
        self, x: torch.Tensor, y: torch.Tensor | None = None, *, strings: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Map a batch of the source space into the target space (logits for distributions).

        A ``text[L]`` target writes a code per input; given ``strings`` [N, T], the next-character
        logits after every prefix of each string instead: [N, T+1, k].
        """
        out = self._head(self._features(self._inputs(x, y), y), y)
        out = out.reshape(out.shape[0], *self._out_shape)
        if strings is not None:
            if not isinstance(self.target, Text):
                raise SpaceError(f"strings= is for networks that write text[L]; this one writes {self.target}")
            return self.decoder(out, strings)
        if isinstance(self.target, Image):
            # tanh keeps gradients alive at both ends of the range; rescale to [low, high].
            t = self.target
            out = torch.tanh(out) if (t.low, t.high) == (-1.0, 1.0) else t.from_unit((torch.tanh(out) + 1) / 2)
        if hasattr(self.target, "onto"):  # a space with a constraint (sphere[D]: unit rows) puts the outputs on it
            out = self.target.onto(out)
        return out

    def distribution(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.distributions.Distribution:
        """The distribution over the target space that this network assigns to ``x``.

        >>> from networks import MLP
        >>> net = MLP(source="point[2]", target="categorical[3]")
        >>> net.distribution(torch.zeros(4, 2)).sample().shape
        torch.Size([4])
        """
        if not self.target.is_distribution:
            raise SpaceError(
                f"{self.target} is not a distribution space; distribution() needs bernoulli, categorical[K], normal[D] "
                "or text[L]"
            )
        if isinstance(self.target, Text):  # p(s | x) = prod_t p(s_t | s_<t, x), from one code per input
            code = self(x, y)
            return self.target.distribution(lambda s: self.decoder(code, s), lambda s: self.decoder(code, s)[:, -1])
        return self.target.distribution(self(x, y))

    @torch.no_grad()
    def sample(
        self,
        n: int | None = None,
        *,
        x: torch.Tensor | None = None,
        y: torch.Tensor | None = None,
        rng: RandomSource | None = None,
    ) -> torch.Tensor:
        """Draw from the network.

        A network whose source is sampleable draws its own inputs (``n`` of them); a
        network whose target is a distribution draws from it (an image reader samples labels).
        Conditioned networks draw uniform labels when ``y`` is not given. A seeded random
        source makes the draws reproducible.
        """
        device = _device_of(self)
        if x is None:
            if n is None:
                raise SpaceError(f"sample() needs n (the source {self.source} is sampled) or inputs x")
            if not self.source.sampleable:
                raise SpaceError(f"{self.source} cannot be sampled; pass inputs x to sample from {self.target}")
            x = self.source.sample(n, rng=rng, device=_draw_device(rng, device)).to(device)
        if self.condition is not None and y is None:
            y = self.condition.sample(len(x), rng=rng, device=_draw_device(rng, device)).to(device)
        if isinstance(self.target, Text):
            return self.distribution(x, y).sample(len(x), rng=rng, device=device)
        out = self(x, y)
        if isinstance(self.target, Normal):  # mean + scale * eps, drawn where the random source lives
            with drawing(rng):
                eps = torch.randn(out[:, 0].shape, device=_draw_device(rng, device)).to(device)
            return out[:, 0] + self.target.scale(out) * eps
        if self.target.is_distribution:
            # Categorical/Bernoulli.sample take no random source; draw by inversion to stay reproducible.
            probs = self.target.distribution(out).probs
            with drawing(rng):
                u = torch.rand(probs.shape[:1], device=_draw_device(rng, device)).to(device)
            if isinstance(self.target, Categorical):
                cdf = probs.float().cumsum(-1)
                return torch.searchsorted(cdf, u.unsqueeze(-1)).squeeze(-1).clamp_max(self.target.k - 1)
            return (u < probs).float()
        return out

    def _need_one_image_side(self) -> None:
        """For convolutional families: refuse pairs without exactly one image side."""
        src, tgt = self.source, self.target
        if src.is_image and tgt.is_image:
            raise SpaceError(
                f"{self.family}: {src} -> {tgt} (image to image) is not supported; supported: "
                "vector -> image, image -> vector or distribution"
            )
        if not src.is_image and not tgt.is_image:
            raise SpaceError(
                f"{self.family}: {src} -> {tgt} has no image side; use family 'mlp' for vector -> vector maps"
            )

    def extra_repr(self) -> str:
        cond = f", condition={self.condition}" if self.condition is not None else ""
        return f"{self.source} -> {self.target}{cond}"


def _device_of(module: nn.Module) -> torch.device:
    for p in module.parameters():
        return p.device
    return torch.device("cpu")


def _draw_device(rng: RandomSource | None, device: torch.device) -> torch.device:
    """Draw where the random source lives (a CPU one keeps results equal across devices)."""
    return rng.device if rng is not None else device
