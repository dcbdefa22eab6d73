"""Measures of a generator: mode coverage on toy mixtures, distances in a feature space.

Toy mixtures follow the protocol of PacGAN (Lin et al. 2018, arXiv 1712.04086, section
5.1), which VEEGAN (Srivastava et al. 2017, arXiv 1705.07761) also uses, so our numbers
sit beside theirs. Feature-space distances are FID (Heusel et al. 2017, arXiv
1706.08500) and KID (Binkowski et al. 2018, arXiv 1801.01401), computed on whatever
features the caller brings: Inception-v3's, or those of a classifier this toolkit trained.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch


class MetricUnavailable(RuntimeError):
    """A metric whose model or library cannot be had here (e.g. Inception weights offline)."""


@dataclass(frozen=True)
class Mixture:
    """A mixture of equal-weight isotropic Gaussians in the plane."""

    name: str
    means: torch.Tensor  # [K, 2]
    std: float

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n draws from the true mixture (modes uniformly at random): [n, 2]."""
        modes = torch.randint(0, len(self.means), (n,), generator=generator)
        return self.means[modes] + self.std * torch.randn(n, 2, generator=generator)


def ring_means() -> torch.Tensor:
    """8 means on the unit circle: (cos 2 pi i / 8, sin 2 pi i / 8)."""
    angle = torch.arange(8, dtype=torch.float32) * (2 * math.pi / 8)
    return torch.stack([angle.cos(), angle.sin()], dim=1)


def grid_means() -> torch.Tensor:
    """25 means at (-4 + 2i, -4 + 2j), i, j in 0..4."""
    axis = torch.arange(5, dtype=torch.float32) * 2 - 4
    return torch.cartesian_prod(axis, axis)


MIXTURES = {
    "ring": Mixture("ring", ring_means(), 0.01),
    "grid": Mixture("grid", grid_means(), 0.05),
}


def mode_metrics(samples: torch.Tensor, mixture: Mixture) -> dict:
    """Modes captured, share of high-quality samples, reverse KL (PacGAN section 5.1).

    A sample is high-quality when it lies within 3 standard deviations of its nearest
    mean; a mode is captured when at least one high-quality sample is assigned to it;
    reverse KL is KL(histogram of high-quality samples over modes || uniform), in nats,
    and infinite when no sample is high-quality. The ceiling: a 2-D Gaussian puts
    P(r < 3 sigma) = 1 - exp(-9/2) = 98.9% of its samples within 3 sigma, so samples of
    the true mixture score about 98.9% high-quality.

    >>> m = MIXTURES["ring"]
    >>> mode_metrics(m.sample(2500, torch.Generator().manual_seed(0)), m)["modes"]
    8
    """
    x = samples.detach().double().reshape(-1, 2)
    distance, nearest = torch.cdist(x, mixture.means.double()).min(dim=1)
    good = distance <= 3 * mixture.std
    k = len(mixture.means)
    counts = torch.bincount(nearest[good], minlength=k).double()
    if counts.sum() == 0:
        reverse_kl = math.inf
    else:
        p = counts / counts.sum()
        p = p[p > 0]
        reverse_kl = float((p * (p * k).log()).sum())
    return {
        "modes": int((counts > 0).sum()),
        "total_modes": k,
        "high_quality": float(good.double().mean()) if len(x) else 0.0,
        "reverse_kl": reverse_kl,
    }


def frechet_distance(features_a: torch.Tensor, features_b: torch.Tensor) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)), in float64 (Heusel et al. 2017).

    >>> x = torch.randn(500, 3)
    >>> round(frechet_distance(x, x), 6)
    0.0
    """
    from scipy import linalg

    a, b = features_a.detach().double().cpu().numpy(), features_b.detach().double().cpu().numpy()
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    root = linalg.sqrtm(cov_a @ cov_b)
    if not np.isfinite(root).all():  # singular product: nudge the diagonals, as the reference code does
        eps = np.eye(len(cov_a)) * 1e-6
        root = linalg.sqrtm((cov_a + eps) @ (cov_b + eps))
    if np.iscomplexobj(root):
        if not np.allclose(np.diagonal(root).imag, 0, atol=1e-3 * max(1.0, np.abs(root).max())):
            raise ValueError(f"frechet_distance: imaginary component {np.abs(root.imag).max():.3g} too large; features degenerate?")
        root = root.real
    value = float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * np.trace(root))
    return max(value, 0.0)


def kernel_distance(
    features_a: torch.Tensor,
    features_b: torch.Tensor,
    *,
    subsets: int = 50,
    subset_size: int = 1000,
    generator: torch.Generator | None = None,
) -> tuple[float, float]:
    """KID: unbiased MMD^2 with the kernel k(x, y) = (x.y / d + 1)^3, mean and std over subsets.

    Unlike FID it has an unbiased estimator, so small sample sets compare fairly
    (Binkowski et al. 2018).
    """
    a, b = features_a.detach().double().cpu(), features_b.detach().double().cpu()
    d = a.shape[1]
    m = min(subset_size, len(a), len(b))
    values = []
    for _ in range(subsets):
        x = a[torch.randperm(len(a), generator=generator)[:m]]
        y = b[torch.randperm(len(b), generator=generator)[:m]]
        kxx, kyy, kxy = ((x @ x.T) / d + 1) ** 3, ((y @ y.T) / d + 1) ** 3, ((x @ y.T) / d + 1) ** 3
        off = m * (m - 1)
        values.append(float((kxx.sum() - kxx.diagonal().sum()) / off + (kyy.sum() - kyy.diagonal().sum()) / off - 2 * kxy.mean()))
    return float(np.mean(values)), float(np.std(values))


def label_coverage(labels: torch.Tensor, k: int, reference_labels: torch.Tensor | None = None, eps: float = 1e-6) -> dict:
    """How many of k classes appear among generated samples, and KL(their histogram || the data's).

    The reference histogram is uniform when no labels are given; ``eps`` keeps the KL
    finite when a class the data has is missing (then it is large, about log(1/eps) weighted).
    """
    p = torch.bincount(labels.long().flatten().cpu(), minlength=k).double()
    p = p / p.sum()
    if reference_labels is None:
        q = torch.full((k,), 1.0 / k, dtype=torch.float64)
    else:
        q = torch.bincount(reference_labels.long().flatten().cpu(), minlength=k).double()
        q = q / q.sum()
    kl = float((p * ((p + eps) / (q + eps)).log()).sum())
    return {"classes_found": int((p > 0).sum()), "label_kl": kl}


def inception_features(images: torch.Tensor, batch: int = 100) -> torch.Tensor:
    """Inception-v3 pool features [N, 2048] of images in [0, 1], through torchmetrics' FID network.

    Needs ``torchmetrics`` and ``torch-fidelity`` and the Inception weights (downloaded once,
    then cached); offline, use the classifier-feature distance (``--metric fid_classifier``).
    """
    try:
        from torchmetrics.image.fid import NoTrainInceptionV3
    except Exception as error:  # not installed, or broken beside this torch
        raise MetricUnavailable(
            f"Inception-v3 features need torchmetrics with torch-fidelity ({type(error).__name__}: {error}); "
            "pip install 'torchmetrics[image]' and run once with internet to cache the weights; "
            "offline, use --metric fid_classifier (features of a classifier trained by this toolkit)"
        ) from None
    try:
        net = NoTrainInceptionV3(name="inception-v3-compat", features_list=["2048"]).eval()
    except Exception as error:
        raise MetricUnavailable(
            f"Inception-v3 weights could not be loaded ({type(error).__name__}: {str(error)[:200]}); "
            "run once with internet to cache them, or use --metric fid_classifier offline"
        ) from None
    x = images.detach().float().cpu()
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    out = []
    with torch.no_grad():
        for i in range(0, len(x), batch):
            out.append(net((x[i : i + batch] * 255).round().to(torch.uint8)).double().reshape(min(batch, len(x) - i), -1))
    return torch.cat(out)
