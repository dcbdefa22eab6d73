"""Measures of a generator: mode coverage on toy mixtures, distances in a feature space.

Toy mixtures follow the protocol of PacGAN (Lin et al. 2018, arXiv 1712.04086, section
5.1), which VEEGAN (Srivastava et al. 2017, arXiv 1705.07761) also uses, so our numbers
sit beside theirs. Feature-space distances are FID (Heusel et al. 2017, arXiv
1706.08500) and KID (Binkowski et al. 2018, arXiv 1801.01401), computed on whatever
features the caller brings: Inception-v3's, or those of a classifier this toolkit trained.
The metrics are pure functions, tensors in and numbers out; they leave the global random
state alone. The toy mixtures themselves are data (``gan/data/mixtures.py``).
"""

from __future__ import annotations

import math

import torch


class MetricUnavailable(RuntimeError):
    """A metric whose model or library cannot be had here (e.g. Inception weights offline)."""


def mode_metrics(samples: torch.Tensor, mixture) -> dict[str, float]:
    """Modes captured, share of high-quality samples, reverse KL (PacGAN section 5.1).

    A sample is *high-quality* when it lies within 3 standard deviations of its nearest
    mean; a mode is *captured* when at least one high-quality sample is assigned to it.
    ``reverse_kl`` is KL(histogram of high-quality samples over modes || uniform), in nats:
    0 when every mode gets the same share, log(K) when all sit in one mode, and ``inf`` when
    no sample is high-quality (the histogram is then undefined; inf keeps "worse than one
    mode" ordered correctly). Non-finite samples count as low-quality.

    The ceiling: a 2-D Gaussian puts P(r < 3 sigma) = 1 - exp(-9/2) = 98.9% of its mass
    within 3 sigma, so even samples of the true mixture score about 98.9% high-quality.
    ``mixture``: its ``means`` [K, 2] and ``std`` (``gan.data.MIXTURES``; this module imports no data, so that
    the config check, which registers the metrics, stays below gan.data).

    >>> from gan.data import MIXTURES
    >>> m = MIXTURES["ring"]
    >>> s = mode_metrics(m.sample(2500, torch.Generator().manual_seed(0)), m)
    >>> s["modes"], s["total_modes"], round(s["high_quality"], 2)
    (8, 8, 0.99)
    """
    if samples.dim() != 2 or samples.shape[1] != 2:
        raise ValueError(f"mode_metrics: expected 2-D points [N, 2], got shape {list(samples.shape)}")
    x = samples.detach().double().cpu()
    k = len(mixture.means)
    distance, nearest = torch.cdist(x, mixture.means.double()).min(dim=1)
    good = distance <= 3 * mixture.std  # NaN compares False: a diverged sample is never high-quality
    counts = torch.bincount(nearest[good], minlength=k).double()
    if counts.sum() == 0:
        reverse_kl = math.inf
    else:
        p = counts[counts > 0] / counts.sum()
        reverse_kl = float((p * (p * k).log()).sum())  # sum p log(p / (1/k))
    return {
        "modes": int((counts > 0).sum()),
        "total_modes": k,
        "high_quality": float(good.double().mean()) if len(x) else 0.0,
        "reverse_kl": reverse_kl,
    }


# -- distances between feature sets ---------------------------------------------------
def _feature_pair(a: torch.Tensor, b: torch.Tensor, metric: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Both sets as float64 on the CPU, checked: [N, F] and [M, F], N, M >= 2, all finite."""
    for name, x in (("features_a", a), ("features_b", b)):
        if x.dim() != 2 or len(x) < 2:
            raise ValueError(f"{metric}: {name} must be [N, F] with N >= 2, got shape {list(x.shape)}")
        if not torch.isfinite(x).all():
            bad = int((~torch.isfinite(x)).any(dim=1).sum())
            raise ValueError(f"{metric}: {name} has {bad} of {len(x)} rows with NaN or inf (a diverged network?)")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"{metric}: feature widths differ: {list(a.shape)} vs {list(b.shape)}")
    return a.detach().double().cpu(), b.detach().double().cpu()


def frechet_distance(features_a: torch.Tensor, features_b: torch.Tensor) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)): the Frechet distance of two Gaussians.

    FID (Heusel et al. 2017) is this on Inception-v3 pool features; on a trained
    classifier's features it is the offline stand-in. Computed in float64. The reference
    code takes scipy's ``sqrtm`` of S_a S_b and drops its imaginary part after a tolerance
    check; only the trace of that root is needed, and S_a S_b is similar to the symmetric
    PSD matrix S_a^(1/2) S_b S_a^(1/2), so its eigenvalues are real and >= 0 and the trace is
    the sum of their square roots. Two symmetric eigendecompositions give the same number
    (to 1e-14 relative) three to four times faster than ``sqrtm`` at F = 2048, with no complex
    arithmetic; eigenvalues below zero come only from round-off and are clipped after the
    matching tolerance check.

    >>> x = torch.randn(500, 3, generator=torch.Generator().manual_seed(0))
    >>> round(frechet_distance(x, x), 6), round(frechet_distance(x, x + 2), 3)  # shift by (2, 2, 2)
    (0.0, 12.0)
    """
    return frechet_distances(features_a, features_b)[0]


def frechet_distances(reference: torch.Tensor, *others: torch.Tensor) -> list[float]:
    """``frechet_distance(reference, x)`` for each ``x`` of ``others``, the reference's covariance root taken once.

    That root is most of a distance's cost (5 of 11 s at F = 3,136 on 2 cores), so a floor and a score against the
    same real half cost little more than one.

    >>> x = torch.randn(500, 3, generator=torch.Generator().manual_seed(0))
    >>> [round(d, 3) for d in frechet_distances(x, x + 1, x + 2)]
    [3.0, 12.0]
    """
    a = _feature_pair(reference, others[0], "frechet_distance")[0]
    cov_a = torch.atleast_2d(torch.cov(a.T))
    w, v = torch.linalg.eigh(cov_a)
    root_a = (v * w.clamp(min=0).sqrt()) @ v.T
    values = []
    for other in others:
        b = _feature_pair(reference, other, "frechet_distance")[1]
        cov_b = torch.atleast_2d(torch.cov(b.T))
        middle = root_a @ cov_b @ root_a
        lam = torch.linalg.eigvalsh((middle + middle.T) / 2)  # symmetrise away round-off
        if lam.min() < -1e-6 * max(float(lam.abs().max()), 1.0):
            raise ValueError(
                f"frechet_distance: S_a S_b has eigenvalue {float(lam.min()):.3g} < 0 beyond round-off; features "
                "degenerate?"
            )
        root_trace = lam.clamp(min=0).sqrt().sum()
        value = float((a.mean(0) - b.mean(0)).square().sum() + cov_a.trace() + cov_b.trace() - 2 * root_trace)
        values.append(max(value, 0.0))  # identical sets can land at -1e-12 through round-off
    return values


def kernel_distance(
    features_a: torch.Tensor,
    features_b: torch.Tensor,
    *,
    subsets: int = 50,  # as the authors' code; torch-fidelity uses 100
    subset_size: int = 1000,  # capped at the smaller set's size
    generator: torch.Generator | None = None,  # None = seeded 0: repeatable, global RNG untouched
) -> tuple[float, float]:
    """KID: unbiased MMD^2 with the kernel k(x, y) = (x.y / d + 1)^3, mean and std over subsets.

    Unlike FID it has an unbiased estimator, so it is near 0 (and can dip below) for two
    samples of one distribution, whatever their size (Binkowski et al. 2018). Subsets are
    drawn without replacement; the std says how much the estimate moves between them.

    >>> x = torch.randn(400, 4, generator=torch.Generator().manual_seed(0))
    >>> mean, std = kernel_distance(x, x + 1, subsets=5, subset_size=200)
    >>> mean > 10 * std > 0
    True
    """
    a, b = _feature_pair(features_a, features_b, "kernel_distance")
    generator = generator if generator is not None else torch.Generator().manual_seed(0)
    d, m = a.shape[1], min(subset_size, len(a), len(b))

    def kernel(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (x @ y.T / d + 1) ** 3

    values = []
    for _ in range(subsets):
        x = a[torch.randperm(len(a), generator=generator)[:m]]
        y = b[torch.randperm(len(b), generator=generator)[:m]]
        kxx, kyy = kernel(x, x), kernel(y, y)
        # unbiased: k(x_i, x_i) terms left out of the within-set means
        within = (kxx.sum() - kxx.trace() + kyy.sum() - kyy.trace()) / (m * (m - 1))
        values.append(float(within - 2 * kernel(x, y).mean()))
    spread = torch.tensor(values, dtype=torch.float64)
    return float(spread.mean()), float(spread.std(correction=0))


def label_coverage(
    labels_generated: torch.Tensor,
    k: int,
    reference_labels: torch.Tensor | None = None,
    eps: float = 1e-6,
) -> dict[str, float]:
    """How many of k classes a classifier finds among generated samples, and KL(their histogram || the data's).

    The image analogue of mode coverage (as in the stacked-MNIST protocol of VEEGAN and
    PacGAN): ``classes_found`` counts classes with at least one sample; ``label_kl`` is
    KL(p_generated || q) in nats, q the reference histogram (uniform when no labels are
    given). It is 0 for a matching histogram and about log(k) for a single class against a
    uniform q. ``eps`` is added to both histograms inside the log only, so the KL stays
    finite (about p log(p / eps), i.e. large) when generated samples fall in a class the
    reference never shows; classes missing from the generated samples add 0, as in KL.

    >>> label_coverage(torch.tensor([0, 1, 2, 3]), 4)
    {'classes_found': 4, 'label_kl': 0.0}
    """
    p = _histogram(labels_generated, k, "labels_generated")
    q = (
        torch.full((k,), 1.0 / k, dtype=torch.float64)
        if reference_labels is None
        else _histogram(reference_labels, k, "reference_labels")
    )
    kl = float((p * ((p + eps) / (q + eps)).log()).sum())
    return {"classes_found": int((p > 0).sum()), "label_kl": kl}


def resampled_label_kl(labels: torch.Tensor, k: int, n: int, draws: int = 10, seed: int = 0) -> tuple[float, float]:
    """KL(histogram || uniform) of ``n`` labels drawn with replacement from ``labels``: mean and spread over ``draws``.

    A histogram of n draws is never flat: from exactly uniform labels its KL is about (k - 1) / 2n (0.019 for 1,000
    classes at 26,000 samples, 0.05 at 10,000). So a generator's KL is comparable only with a reference read at the
    same n: drawn from the real labels, this is what a generator that drew exactly the real examples would read;
    drawn from ``torch.arange(k)``, what an exactly uniform one would.
    """
    y = labels.detach().long().flatten().cpu()
    rng = torch.Generator().manual_seed(seed)
    kls = torch.tensor(
        [label_coverage(y[torch.randint(0, len(y), (n,), generator=rng)], k)["label_kl"] for _ in range(draws)],
        dtype=torch.float64,
    )
    return float(kls.mean()), float(kls.std()) if draws > 1 else 0.0


def _histogram(labels: torch.Tensor, k: int, name: str) -> torch.Tensor:
    """Normalised counts of integer labels in 0..k-1: [k], float64."""
    y = labels.detach().long().flatten().cpu()
    if len(y) == 0 or y.min() < 0 or y.max() >= k:
        got = "no labels" if len(y) == 0 else f"labels in {int(y.min())}..{int(y.max())}"
        raise ValueError(f"label_coverage: {name} must be class indices in 0..{k - 1}, got {got}")
    counts = torch.bincount(y, minlength=k).double()
    return counts / counts.sum()


# -- Inception-v3 features, where they can be had -------------------------------------
_HOW_TO_GET = (
    "to get them: pip install torch-fidelity (or 'torchmetrics[image]', which uses it), then run once "
    "with internet access so the weights are cached under ~/.cache/torch/hub; "
    "offline, use the Frechet distance in the features of a classifier this toolkit trained: --metric fid_classifier"
)


def _inception() -> torch.nn.Module:
    """torch-fidelity's Inception-v3 (the TF-FID port that torchmetrics wraps too), or MetricUnavailable."""
    try:
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
    except Exception as error:  # not installed, or broken beside this torch
        raise MetricUnavailable(
            f"Inception-v3 weights could not be loaded: torch-fidelity is not importable ({type(error).__name__}: "
            f"{error}); {_HOW_TO_GET}"
        ) from None
    try:
        return FeatureExtractorInceptionV3(name="inception-v3-compat", features_list=["2048"]).eval()
    except Exception as error:  # no network and no cached copy, or a corrupt download
        raise MetricUnavailable(
            f"Inception-v3 weights could not be loaded (no network and no cached copy?): "
            f"{type(error).__name__}: {str(error)[:200]}; {_HOW_TO_GET}"
        ) from None


def inception_features(images: torch.Tensor, *, batch: int = 100) -> torch.Tensor:
    """Inception-v3 pool features of images in [0, 1]: [N, C, H, W] -> [N, 2048], float64 on the CPU.

    The standard FID/KID features (Heusel et al. 2017): images are quantised to uint8 and
    resized to 299x299 inside the network, as in the TensorFlow reference, so numbers
    compare with published ones. Grey images are repeated over three channels. Raises
    ``MetricUnavailable`` (never a deep traceback) when torch-fidelity or the weights
    cannot be had; the network runs on the images' device.
    """
    if images.dim() != 4 or images.shape[1] not in (1, 3):
        raise ValueError(
            f"inception_features: expected images [N, 1 or 3, H, W] in [0, 1], got shape {list(images.shape)}"
        )
    net = _inception().to(images.device)
    x = images.detach().float().expand(-1, 3, -1, -1)
    out = []
    with torch.no_grad():
        for i in range(0, len(x), batch):
            chunk = (x[i : i + batch].clamp(0, 1) * 255).round().to(torch.uint8)
            out.append(
                net(chunk)[0].reshape(len(chunk), -1).double().cpu()
            )  # the net returns one tensor per requested layer
    return torch.cat(out) if out else torch.zeros(0, 2048, dtype=torch.float64)


# -- k-nearest-neighbour manifolds: precision, recall, density, coverage ---------------
def _pairwise(a: torch.Tensor, b: torch.Tensor, chunk: int = 1024):
    """Distances of each row of ``a`` to all rows of ``b``, a block of rows at a time: yields (start, [n, M])."""
    for i in range(0, len(a), chunk):
        yield i, torch.cdist(a[i : i + chunk], b)


def _radii(x: torch.Tensor, k: int) -> torch.Tensor:
    """Distance of each point to its k-th nearest neighbour in its own set (itself left out): [N]."""
    if len(x) <= k:
        raise ValueError(f"k-NN radii: need more than k = {k} points, got {len(x)}")
    out = torch.empty(len(x), dtype=x.dtype)
    for i, d in _pairwise(x, x):
        out[i : i + len(d)] = d.kthvalue(k + 1, dim=1).values  # the 1st is the point itself, at distance 0
    return out


def _inside(points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor) -> torch.Tensor:
    """How many balls B(centre_j, radius_j) hold each point: [len(points)]."""
    out = torch.empty(len(points), dtype=torch.int64)
    for i, d in _pairwise(points, centres):
        out[i : i + len(d)] = (d <= radii[None, :]).sum(dim=1)
    return out


def precision_recall(real: torch.Tensor, fake: torch.Tensor, *, k: int = 3) -> dict[str, float]:
    """Improved precision and recall (Kynkaanniemi et al. 2019): the share of each set inside the other's manifold.

    A set's manifold is the union of balls around its points, each reaching the point's k-th
    nearest neighbour in the set. Precision: the share of generated points inside the real
    manifold (are samples realistic?). Recall: the share of real points inside the generated
    manifold (is the data's variety covered?). The authors use k = 3.

    >>> x = torch.randn(50, 4, generator=torch.Generator().manual_seed(0))
    >>> precision_recall(x, x), precision_recall(x, x + 100)
    ({'precision': 1.0, 'recall': 1.0}, {'precision': 0.0, 'recall': 0.0})
    """
    a, b = _feature_pair(real, fake, "precision_recall")
    precision = (_inside(b, a, _radii(a, k)) > 0).double().mean()
    recall = (_inside(a, b, _radii(b, k)) > 0).double().mean()
    return {"precision": float(precision), "recall": float(recall)}


def density_coverage(real: torch.Tensor, fake: torch.Tensor, *, k: int = 5) -> dict[str, float]:
    """Density and coverage (Naeem et al. 2020): precision and recall that outliers cannot inflate.

    Only the real set's k-NN balls are used (k = 5, as the authors). Density: how many real balls
    hold each generated point, over k, averaged (about 1 when the sets match; above 1 when samples
    crowd where the data is densest). Coverage: the share of real points whose ball holds at least
    one generated point.

    >>> x = torch.randn(50, 4, generator=torch.Generator().manual_seed(0))
    >>> density_coverage(x, x + 100)
    {'density': 0.0, 'coverage': 0.0}
    """
    a, b = _feature_pair(real, fake, "density_coverage")
    radii = _radii(a, k)
    density = _inside(b, a, radii).double().sum() / (k * len(b))
    covered = torch.zeros(len(a), dtype=torch.bool)
    for i, d in _pairwise(a, b):  # the nearest generated point of each real one, inside its ball?
        covered[i : i + len(d)] = d.min(dim=1).values <= radii[i : i + len(d)]
    return {"density": float(density), "coverage": float(covered.double().mean())}
