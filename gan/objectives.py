"""Adversarial losses and penalties: pure functions of logits (or scores).

The loop decides what is detached and which network steps; these functions only say
what is minimised. Names follow the papers; each line carries its equation.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from networks import Bernoulli, Categorical, Text


# Each loss is a pair: (discriminator loss(real, fake), generator loss(fake)), both to minimise.
def _nonsat_d(real, fake, smooth=0.0):
    # -log D(x) - log(1 - D(G(z))),  with D = sigmoid(logit); softplus(-l) = -log sigmoid(l)
    if smooth:  # one-sided label smoothing: real targets 1 - s
        return F.binary_cross_entropy_with_logits(real, torch.full_like(real, 1 - smooth)) + F.softplus(fake).mean()
    return F.softplus(-real).mean() + F.softplus(fake).mean()


def _nonsat_g(fake):
    return F.softplus(-fake).mean()  # -log D(G(z)): strong gradients early (Goodfellow et al. 2014)


def _minimax_g(fake):
    return -F.softplus(fake).mean()  # log(1 - D(G(z))) = -softplus(logit): the original minimax game


def _hinge_d(real, fake, smooth=0.0):
    return F.relu(1 - real).mean() + F.relu(1 + fake).mean()  # Lim & Ye 2017; Miyato et al. 2018


def _wasserstein_d(real, fake, smooth=0.0):
    return fake.mean() - real.mean()  # critic maximises E[D(x)] - E[D(G(z))] (Arjovsky et al. 2017)


def _linear_g(fake):
    return -fake.mean()  # hinge and Wasserstein generators: maximise the score of fakes


def _lsq_d(real, fake, smooth=0.0):
    return 0.5 * ((real - 1).pow(2).mean() + fake.pow(2).mean())  # LSGAN a=0, b=1 (Mao et al. 2017)


def _lsq_g(fake):
    return 0.5 * (fake - 1).pow(2).mean()  # LSGAN c=1


def _relativistic_d(real, fake, smooth=0.0):
    # softplus(-(D(x_i) - D(G(z_i)))): each real example against the generated one it is paired with
    # (Jolicoeur-Martineau 2019's pairing; R3GAN, Huang et al. 2024)
    return F.softplus(fake - real).mean()


def _relativistic_g(fake, real):
    return F.softplus(real - fake).mean()  # softplus(-(D(G(z_i)) - D(x_i))): the pair's roles swapped


LOSSES: dict[str, tuple[Callable, Callable]] = {
    "non_saturating": (_nonsat_d, _nonsat_g),
    "minimax": (_nonsat_d, _minimax_g),
    "hinge": (_hinge_d, _linear_g),
    "wasserstein": (_wasserstein_d, _linear_g),
    "least_squares": (_lsq_d, _lsq_g),
    "relativistic": (_relativistic_d, _relativistic_g),
}
PAIRED = {"relativistic"}  # losses whose generator side reads the discriminator's output on real data too


def discriminator_loss(name: str, real: torch.Tensor, fake: torch.Tensor, smooth: float = 0.0) -> torch.Tensor:
    """Loss the discriminator minimises, from its outputs on real [N] and generated [N] data."""
    return LOSSES[name][0](real, fake, smooth)


def generator_loss(name: str, fake: torch.Tensor, real: torch.Tensor | None = None) -> torch.Tensor:
    """Loss the generator minimises, from the discriminator's outputs on generated data [N] (and, for a paired
    loss, on the real data of the same batch)."""
    if name in PAIRED:
        return LOSSES[name][1](fake, real)
    return LOSSES[name][1](fake)


def top_k_share(step: int, final: float, decay: float) -> float:
    """Share of generated samples the generator learns from at ``step``: 1, times ``decay`` every 100 steps, down to
    ``final``."""
    return max(final, decay ** (step / 100)) if final < 1.0 else 1.0


def best_rated(fake_out: torch.Tensor, share: float) -> torch.Tensor:
    """The discriminator's outputs on the best-rated ``share`` of a generated batch (Top-k training,
    Sinha et al. 2020, arXiv 2002.06224): gradients of the samples it finds least real point
    towards the wrong modes, so the generator ignores them. Every loss here rates real as high."""
    if share >= 1.0:
        return fake_out
    k = max(1, math.ceil(share * fake_out.shape[0]))
    return fake_out.flatten().topk(k).values


def zero_centred_penalty(out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """E ||grad_x D(x)||^2 at the inputs ``x`` the outputs ``out`` were computed from: R1 on real data, R2 on
    generated data (Roth et al. 2017). ``x`` must be a leaf given ``requires_grad_()`` before ``D(x)``: the
    gradient stops there, so a penalty on generated data never reaches the generator's weights."""
    (grad,) = torch.autograd.grad(out.sum(), x, create_graph=True)
    return grad.pow(2).flatten(1).sum(1).mean()


def gradient_penalty(
    score: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor
) -> torch.Tensor:
    """E (||grad D(x_hat)||_2 - 1)^2 at random interpolates x_hat (WGAN-GP, Gulrajani et al. 2017)."""
    alpha = torch.rand((real.shape[0],) + (1,) * (real.dim() - 1), device=real.device, dtype=real.dtype)
    x_hat = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(score(x_hat).sum(), x_hat, create_graph=True)
    return (grad.flatten(1).norm(2, dim=1) - 1).pow(2).mean()


def mean_probability(out: torch.Tensor, loss: str) -> torch.Tensor:
    """What the discriminator says of a batch: mean P(real) for logit losses, mean score otherwise."""
    return torch.sigmoid(out).mean() if LOSSES[loss][0] is _nonsat_d else out.mean()  # trained on logits of P(real)


# -- the likelihood loop's loss: -log p(y | x) under the distribution the network's target space makes ----------
def log_likelihood(net, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """log p(y | x) per example, from the network's own distribution: [N]."""
    return net.distribution(x).log_prob(y.float() if isinstance(net.target, Bernoulli) else y)


def negative_log_likelihood(
    net, x: torch.Tensor | None, y: torch.Tensor, *, call=None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The loop's loss, -log p(y | x), mean per label (per character for strings); and the network's output (None for
    strings).

    ``x is None``: ``y`` are whole strings scored by the next-character network ``net`` (every
    prefix in one pass). ``call`` is the module to run (``net`` wrapped for DDP or compiled).
    """
    call = net if call is None else call
    if x is None:
        # maximise log p(s) = sum_t log p(s_t | s_<t), per character: every prefix of every sentence in one pass
        return net.source.distribution(lambda s: call(s, every_prefix=True)).mean_nll(y), None
    if isinstance(net.target, (Bernoulli, Categorical)):
        logits = call(x).float()
        # maximise log p(y | x): cross-entropy is exactly -log of the categorical's probability
        if isinstance(net.target, Bernoulli):
            return F.binary_cross_entropy_with_logits(logits, y.float()), logits
        return F.cross_entropy(logits, y), logits
    if isinstance(net.target, Text):
        # maximise log p(s | x) = sum_t log p(s_t | s_<t, x), per character:
        # the string head reads every prefix in one pass
        return net.target.distribution(lambda s: call(x, strings=s)).mean_nll(y), None
    # maximise log p(y | x) under whatever distribution the target space makes of the output
    out = call(x).float()
    return -net.target.distribution(out).log_prob(y).mean(), out


def contrastive_loss(z: torch.Tensor, keys: torch.Tensor, temperature: torch.Tensor | float) -> torch.Tensor:
    """InfoNCE, with labels the supervised contrastive loss (Khosla et al. 2020, L_out): a distance function trained
    as a classifier of matches. Each row of ``z`` (unit vectors, [N, D]) is an anchor whose categorical over the
    other N - 1 rows has logits ``similarity / temperature``; its target is every row with the same key (the other
    view of one example, SimCLR; or every example of its class), each positive weighted 1/|P(i)|. With one positive
    per anchor this is exactly cross-entropy over the similarity matrix with the diagonal left out (NT-Xent).
    Anchors without a positive in the batch have nothing to classify and are left out of the mean.
    """
    z = z.float()
    n = len(z)
    self_pair = torch.eye(n, dtype=torch.bool, device=z.device)
    # -log softmax over the candidates: an anchor is never its own candidate
    log_p = (z @ z.T / temperature).masked_fill(self_pair, float("-inf")).log_softmax(-1)
    positive = (keys[:, None] == keys[None, :]) & ~self_pair
    count = positive.sum(1)
    per_anchor = -log_p.masked_fill(~positive, 0.0).sum(1) / count.clamp_min(1)
    has = count > 0
    return (per_anchor * has).sum() / has.sum().clamp_min(1)
