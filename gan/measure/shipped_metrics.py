"""The metrics this toolkit ships, one registered function each (the registry: ``metric_registry.py``).

Toy mixtures get the PacGAN protocol (modes, high-quality share, reverse KL). Images get Frechet and
kernel distances in the feature space of a classifier this toolkit trained on the same data (works
offline), that classifier's label coverage, k-NN precision/recall and density/coverage in its features,
and Inception-v3 FID/KID where torch-fidelity and its weights are available; stacked digits get their
1,000 modes counted. Each function reads what it needs from ``inputs`` (``gan.measure.scoring.Inputs``), which
draws the samples and makes each kind of features once.

Importing this module must stay cheap and low in the layering: gan.config imports it to check
``metrics.names`` and the CLI to offer ``--metric``, so torch and ``gan.measure.metrics`` are imported inside
the functions, and nothing here imports ``gan.data``.
"""

from __future__ import annotations

from .metric_registry import register_metric

IMAGES = ("images", "stacked_digits")


def _modes(inputs) -> dict:
    return inputs.cached("modes", lambda: _metrics().mode_metrics(inputs.fake, inputs.mixture))


@register_metric("modes", fits=("mixture",), default=("mixture",), samples=2500)  # PacGAN draws 2,500 samples
def modes(inputs) -> dict:
    """Modes of the mixture with at least one high-quality sample, of ``total_modes``."""
    scores = _modes(inputs)
    return {"modes": scores["modes"], "total_modes": scores["total_modes"]}


@register_metric("high_quality", fits=("mixture",), default=("mixture",), samples=2500)
def high_quality(inputs) -> dict:
    """Share of samples within 3 standard deviations of their nearest mean."""
    return {"high_quality": _modes(inputs)["high_quality"], "total_modes": _modes(inputs)["total_modes"]}


@register_metric("reverse_kl", fits=("mixture",), default=("mixture",), samples=2500)
def reverse_kl(inputs) -> dict:
    """KL(histogram of high-quality samples over modes || uniform), in nats."""
    return {"reverse_kl": _modes(inputs)["reverse_kl"], "total_modes": _modes(inputs)["total_modes"]}


@register_metric("fid_classifier", needs=("real", "classifier"), fits=IMAGES, default=("images",))
def fid_classifier(inputs) -> dict:
    """Frechet distance in the classifier's features; the floor is the distance between two halves of the real data.

    The estimator's bias grows as the samples shrink, so the whole sets' distance can fall below a floor measured on
    halves. ``fid_classifier_half`` is measured as the floor is: as many generated images as a half holds, against
    the real half the floor compares with, so its ratio to the floor compares like with like. With fewer samples
    than that it would not be, and is left out.
    """
    import torch

    M = _metrics()
    f_real, f_fake = inputs.classifier_features
    half = len(f_real) // 2
    perm = torch.randperm(len(f_real), generator=torch.Generator().manual_seed(inputs.seed))
    reference, other_half = f_real[perm[half:]], f_real[perm[:half]]
    out = {"fid_classifier": M.frechet_distance(f_real, f_fake)}
    if len(f_fake) >= half:
        out["fid_classifier_floor"], out["fid_classifier_half"] = M.frechet_distances(
            reference, other_half, f_fake[:half]
        )
    else:
        out["fid_classifier_floor"] = M.frechet_distances(reference, other_half)[0]
    return out


@register_metric("kid_classifier", needs=("real", "classifier"), fits=IMAGES, default=("images",))
def kid_classifier(inputs) -> dict:
    """Kernel (MMD) distance in the classifier's features, with its standard error."""
    import torch

    mean, std = _metrics().kernel_distance(
        *inputs.classifier_features, generator=torch.Generator().manual_seed(inputs.seed)
    )
    return {"kid_classifier": mean, "kid_classifier_std": std}


@register_metric("label_coverage", needs=("real", "classifier", "labels"), fits=IMAGES, default=("images",))
def label_coverage(inputs) -> dict:
    """Classes the classifier finds among the samples, and KL of their histogram to the real labels'."""
    import torch

    reader, fake = inputs.classifier, inputs.fake
    with torch.no_grad():
        labels = torch.cat([reader(fake[i : i + 500]).argmax(-1) for i in range(0, len(fake), 500)])
    found = _metrics().label_coverage(labels, reader.target.k, inputs.real.y)
    out = {k if k.startswith("label") else f"label_{k}": v for k, v in found.items()}
    if len(labels) > 1000:  # what a reader of one sample grid of 1,000 would find
        out["label_classes_found_in_1000"] = int(labels[:1000].unique().numel())
    return out


@register_metric("fid_inception", needs=("real", "inception"), fits=IMAGES)
def fid_inception(inputs) -> dict:
    """Frechet distance in Inception-v3's pool features (comparable with published FIDs)."""
    return {"fid_inception": _metrics().frechet_distance(*inputs.inception_features)}


@register_metric("kid_inception", needs=("real", "inception"), fits=IMAGES)
def kid_inception(inputs) -> dict:
    """Kernel distance in Inception-v3's pool features, with its standard error."""
    mean, std = _metrics().kernel_distance(*inputs.inception_features)
    return {"kid_inception": mean, "kid_inception_std": std}


@register_metric("precision_recall", needs=("real", "classifier"), fits=IMAGES, default=("images",))
def precision_recall(inputs) -> dict:
    """k-NN precision and recall in the classifier's features, beside the same real-vs-real."""
    inputs.say("precision and recall (k-nearest neighbours)")
    return manifold_scores("precision_recall", *inputs.classifier_features, inputs.seed)


@register_metric("density_coverage", needs=("real", "classifier"), fits=IMAGES, default=("images",))
def density_coverage(inputs) -> dict:
    """k-NN density and coverage in the classifier's features, beside the same real-vs-real."""
    inputs.say("density and coverage (k-nearest neighbours)")
    return manifold_scores("density_coverage", *inputs.classifier_features, inputs.seed)


@register_metric(
    "stacked_modes", needs=("real", "classifier"), fits=("stacked_digits",), default=("stacked_digits",), samples=26_000
)
def stacked_modes_metric(inputs) -> dict:
    """Modes of stacked digits found among 26,000 samples (PacGAN, Table 3): the digits classifier on each channel."""
    reader, fake = inputs.reader, inputs.fake
    channel = reader.source
    if fake.shape[1] != 3 or (channel.channels, channel.height, channel.width) != (1, *fake.shape[2:]):
        inputs.refuse(
            f"stacked_modes: the classifier reads {channel}, but the generator writes {list(fake.shape[1:])}; "
            "it needs a classifier of one channel of the same size"
        )
    inputs.say("counting modes: the digits classifier on each channel")
    return stacked_modes(reader, fake, inputs.real)


def _metrics():
    from . import metrics

    return metrics


def stacked_modes(reader, fake, real=None) -> dict:
    """Modes of stacked digits found among ``fake`` [N, 3, H, W]: each channel read by the digits classifier.

    Mode = 100a + 10b + c for the classes a, b, c of the three channels; ``stacked_modes`` counts the
    modes seen, ``stacked_kl`` is KL(mode histogram || uniform over 1,000) in nats (PacGAN, Table 3).
    The same count on the real pictures (``stacked_modes_real``) shows that the classifier finds every mode; their
    KL (``stacked_kl_real``, 0.053 on the 10,000 bundled ones) is nearly all their own count's, not its errors.

    A histogram's KL grows as its samples shrink (see ``resampled_label_kl``), and the real pictures (10,000) are
    fewer than the samples (26,000), so ``stacked_kl_real`` is not the generator's reference.
    ``stacked_kl_real_resampled`` is: as many draws from the real pictures as there are samples, what a generator
    that drew exactly its training pictures would read (mean of 10 draws; ``_sd`` their spread).
    ``stacked_kl_uniform`` is what an exactly uniform one would read at that count.
    """
    import torch

    M = _metrics()

    def modes(x):
        with torch.no_grad():
            digits = [
                torch.cat([reader(x[i : i + 500, c : c + 1]).argmax(-1) for i in range(0, len(x), 500)])
                for c in range(3)
            ]
        return digits[0] * 100 + digits[1] * 10 + digits[2]

    found = M.label_coverage(modes(fake), 1000)
    uniform, _ = M.resampled_label_kl(torch.arange(1000), 1000, len(fake))
    out = {
        "stacked_modes": found["classes_found"],
        "stacked_kl": found["label_kl"],
        "total_modes": 1000,
        "stacked_kl_uniform": uniform,
    }
    if real is not None:
        real_modes = modes(real.x)
        seen = M.label_coverage(real_modes, 1000)
        resampled, spread = M.resampled_label_kl(real_modes, 1000, len(fake))
        out.update(
            {
                "stacked_modes_real": seen["classes_found"],
                "stacked_kl_real": seen["label_kl"],
                "stacked_kl_real_resampled": resampled,
                "stacked_kl_real_resampled_sd": spread,
                "real_samples": len(real),
            }
        )
    return out


def manifold_scores(name: str, f_real, f_fake, seed: int) -> dict:
    """Precision/recall or density/coverage, generated and real-vs-real, at equal set sizes.

    k-NN radii shrink as a set grows, so both comparisons use the same sizes: one random half of the
    real features is the reference; the other half (real-vs-real, suffix ``_real``) and as many
    generated samples are compared with it.
    """
    import torch

    M = _metrics()
    fn = {"precision_recall": M.precision_recall, "density_coverage": M.density_coverage}[name]
    perm = torch.randperm(len(f_real), generator=torch.Generator().manual_seed(seed))
    half = len(f_real) // 2
    reference, other = f_real[perm[:half]], f_real[perm[half : 2 * half]]
    out = fn(reference, f_fake[: len(other)])
    out.update({f"{k}_real": v for k, v in fn(reference, other).items()})
    return out
