"""The switches the speed benchmark measures, each a set of config overrides.

Plain data with no imports, so that ``gan benchmark speed --variants`` can offer its choices
without loading the benchmark (or torch) when the command line is parsed.
"""

NEVER = 10**9  # an interval that never falls due within a benchmark

# Each switch a user can turn, measured against the same hand-written reference.
VARIANTS: dict[str, list[str]] = {
    "default": [],
    "quiet": [
        f"run.log_every={NEVER}",
        f"run.sample_every={NEVER}",
        f"run.checkpoint_every={NEVER}",
        "objective.ema=0.0",
        "metrics.every=null",
    ],
    "channels_last": ["run.channels_last=true"],
    "channels_first": ["run.channels_last=false"],  # the default on a GPU; on a CPU the layout "auto" turns off
    "compile": ["run.compile=true"],
    "bf16": ["run.mixed_precision=bf16"],
    "foreach": ["optimizers.generator.implementation=foreach", "optimizers.discriminator.implementation=foreach"],
    "fused": ["optimizers.generator.implementation=fused", "optimizers.discriminator.implementation=fused"],
    "for_loop": ["optimizers.generator.implementation=for_loop", "optimizers.discriminator.implementation=for_loop"],
    "data_on_host": ["data.on_device=false"],
    # what differentiable augmentation costs: every transform on every image (p = 1), and ADA's adaptive p
    "augment": ["objective.augment={policy: [translation, cutout, color], p: 1.0}"],
    "augment_adaptive": ["objective.augment={adaptive: true}"],
}
# Switches that may be combined into "best"; one of each group at most.
COMBINABLE = (("channels_last",), ("compile",), ("bf16",), ("foreach", "fused", "for_loop"))
# The combined variants: "best_fp32" for runs that must keep full precision.
COMBINED = {"best": COMBINABLE, "best_fp32": tuple(g for g in COMBINABLE if g != ("bf16",))}
# What a combined variant sets whatever was picked: full precision even where the config says auto (bf16 on AMX).
COMBINED_FIXED = {"best_fp32": ["run.mixed_precision=no"]}
