"""YAML configs -> frozen, validated dataclasses.

Every mistake stops here, before any output is written, with one message naming the
key path (``run.steps``, ``networks.painter.width``) and what was expected. Command-line
overrides (``--set run.steps=100``) go through the same checks.
"""

from __future__ import annotations

import dataclasses
import os
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from . import loop_registry
from .objectives import LOSSES
from .yamlfile import YamlError, cut, parse, read, shorten


class ConfigError(ValueError):
    """A config the user must fix; the message names the key and what was expected."""


DIFF_AUGMENT = ("translation", "cutout", "color")  # DiffAugment's transforms: the policy when none is named
# objective.augment.policy: gan/augment.py applies them in this order; the first two are ADA's geometric and colour
# matrices (gan/augment_affine.py), the pipeline R3GAN's presets ramp up
AUGMENTATIONS = ("geometric", "color_matrix", *DIFF_AUGMENT)
SCHEDULE_SHAPES = ("constant", "linear", "cosine")  # gan/schedules.py
LOSS_NAMES = tuple(LOSSES)  # objective.loss: each name is a pair of losses in gan/objectives.py


@dataclass(frozen=True)
class Optimizer:
    name: Literal["adam", "adamw", "sgd", "rmsprop"] = "adam"
    lr: float = 2e-4  # DCGAN's learning rate
    betas: tuple[float, float] = (0.5, 0.999)  # beta1 = 0.5 steadies adversarial training (DCGAN)
    weight_decay: float = 0.0
    # auto: fused kernels where torch has them (adam, adamw, sgd)
    implementation: Literal["auto", "foreach", "fused", "for_loop"] = "auto"


@dataclass(frozen=True)
class Augment:
    """Random differentiable transforms of what the discriminator reads (gan/augment.py); 0 <= p <= 1."""

    policy: Any = DIFF_AUGMENT  # any names of AUGMENTATIONS, a list (colour suits colour images best)
    # chance each transform hits each image; default 1 (DiffAugment), or the start of adaptive p (ADA: 0)
    p: float | None = None
    adaptive: bool = False  # steer p by r_t = E[sign(D(real))] towards ``target`` (Karras et al. 2020)
    target: float = 0.6  # ADA's target for r_t: above it the discriminator overfits and p rises
    interval: int = 4  # discriminator updates between moves of p
    speed: float = 100_000  # images over which p could move from 0 to 1 (ADA: 500,000, for runs of millions)


@dataclass(frozen=True)
class Schedule:
    """Values that move from the configured ones to these over ``steps`` (gan/schedules.py); null = held.

    e.g. R3GAN's CIFAR-10: {shape: cosine, gamma: 0.005, lr: 5.0e-5, beta2: 0.99} from r1 = r2 = 0.05,
    lr 2e-4 and betas [0, 0.9].
    """

    shape: Literal[SCHEDULE_SHAPES] = "cosine"
    steps: int | None = None  # steps the values take to reach their end; null = run.steps
    warmup: int = 0  # steps over which the learning rate first rises from 0
    gamma: float | None = None  # final weight of R1 and of R2, each from its own (objective.r1, objective.r2)
    lr: float | None = None  # final learning rate of every optimizer
    beta2: float | None = None  # final beta2 of every Adam optimizer
    augment: float | None = None  # final augmentation p, from objective.augment.p (R3GAN: 0 -> 0.55 on CIFAR-10)
    # the moving average's half-life in images at the end, from 0 (R3GAN: 5M images on CIFAR-10); replaces
    # objective.ema_rampup's ramp and the configured decay
    ema_images: float | None = None


@dataclass(frozen=True)
class Objective:
    loss: Literal[LOSS_NAMES] = "non_saturating"
    r1: float = 0.0  # R1 weight gamma (Mescheder et al. 2018); 0 = off
    r2: float = 0.0  # R2 weight: the same penalty on generated data (Roth et al. 2017; R3GAN uses r2 = r1); 0 = off
    r1_every: int = 1  # lazy R1 and R2: penalise every k-th step with weight k*gamma (StyleGAN2 uses 16)
    gradient_penalty: float = 0.0  # WGAN-GP weight lambda (Gulrajani et al. 2017); 0 = off
    d_steps: int = 1  # discriminator updates per generator update
    ema: float = 0.999  # decay of the moving average of the generator's weights; 0 = off
    clip_grad_norm: float = 0.0  # clip each update's gradient norm; 0 = off
    label_smoothing: float = 0.0  # one-sided: real targets 1 - s (Salimans et al. 2016); 0 = off
    # share of the generated batch the generator learns from, best-rated first (Sinha et al. 2020); 1 = all
    top_k: float = 1.0
    top_k_decay: float = 0.99  # the share starts at 1 and is multiplied by this every 100 steps, down to top_k
    schedule: Schedule | None = None  # gamma, lr and beta2 moving over the run; null = fixed
    augment: Augment | None = None  # e.g. {policy: [translation, cutout], p: 0.2} or {adaptive: true}; null = off
    # the average's half-life is at most this share of the steps taken (StyleGAN2-ADA); 0 = off
    ema_rampup: float = 0.05
    # contrastive loop: similarities are divided by it before the softmax over the batch; "learned" starts at 0.07
    # (CLIP) and is trained with the network (kept at 0.01 or more)
    temperature: float | Literal["learned"] = 0.1


@dataclass(frozen=True)
class Data:
    # digits | sklearn_digits | ring | grid | stacked_digits | numbers | diabetes | table | text | mnist | fashion_mnist
    # | cifar10 | celeba | folder
    name: str = "digits"
    path: str | None = None  # where torchvision datasets / image folders live
    batch_size: int = 64  # per process
    labels: bool = False  # feed class labels to conditioned networks
    # x-flips: every training image also read mirrored left to right, doubling the set (StyleGAN's and R3GAN's
    # --mirror); evaluation reads the images as they are
    mirror: bool = False
    resize: bool = False  # resize images to the networks' image space instead of refusing a mismatch
    holdout: float = 0.1  # share kept aside for evaluation (likelihood loop)
    workers: int = 2  # DataLoader workers, for datasets too large to hold in memory
    on_device: bool = True  # hold in-memory data on the training device (no per-step copies)
    # made-up data and fixed splits (numbers, diabetes, table); apart from run.seed, so runs with other seeds meet the
    # same split
    seed: int = 0
    # numbers: held out of training entirely, {rule: middle_equals_last} or {share: 0.2}; {} = none
    unseen: dict = field(default_factory=dict)
    size: int = 20000  # numbers: images to compose; data.holdout of them (and of the digit images) form the test split
    # text: whole strings, or every prefix labelled with its next character, or (contrastive loop) cloze pairs: a
    # sentence and the passage it was cut from (gan/data/cloze.py)
    view: Literal["sentences", "prefixes", "cloze"] = "sentences"
    # cloze pairs: the share of training pairs whose query sentence is left in its passage. 0 (always taken out) is
    # what held-out queries meet, and scored best (docs/benchmarks/embeddings.md, "Text"); Lee et al. (2019) keep 0.1
    keep: float = 0.0
    # bundled digits: the class labels as targets, or each image as its own target (its 8-bit pixels), for a network
    # that writes function[2->C] (an encoder into function space, configs/digits_function_encoder.yaml)
    targets: Literal["labels", "images"] = "labels"


@dataclass(frozen=True)
class Run:
    name: str | None = None  # run folder name; default: the config file's stem
    output: str = "runs"  # parent folder of run folders
    steps: int = 2000  # generator updates (adversarial) or updates (likelihood)
    seed: int = 0
    log_every: int = 50  # scalars to TensorBoard and the progress bar
    sample_every: int = 500  # image grid from fixed noise
    checkpoint_every: int = 1000
    keep_checkpoints: int = 3  # the last K complete checkpoints are kept
    sample_count: int = 64  # images in each grid
    # auto: bf16 where it is native and fast (a GPU with bf16; a CPU with AMX, where a digits step costs 0.65x and
    # scores level: BENCHMARKS.md), fp32 elsewhere
    mixed_precision: Literal["no", "bf16", "fp16", "auto"] = "no"
    grad_accum: int = 1  # micro-batches per update
    cpu: bool = False  # force the CPU even where a GPU exists
    # NHWC memory format for convolutions. auto: on a CPU, where oneDNN's kernels are faster in it (every
    # CPU measured; BENCHMARKS.md), off on a GPU until measured there
    channels_last: bool | Literal["auto"] = "auto"
    compile: bool = False  # torch.compile the networks
    cudnn_benchmark: bool = True  # let cuDNN pick the fastest kernels (fixed shapes)
    keep_freed_memory: bool = True  # glibc keeps freed host memory for the next step (gan/device.py)
    # learning rates fall to 0 by the last step; a function of the step, so resume is exact. sqrt: 1 - sqrt(t), steep
    # at first and slow at the end (Hagele et al. 2024's best cool-down)
    lr_decay: Literal["none", "linear", "cosine", "sqrt"] = "none"
    # the fall spans this share of the run's last steps, the rate held before it: 1 = the whole run; e.g. 0.2 = held
    # for 80% of the steps, then falling (warmup-stable-decay without the warm-up: Hagele et al. 2024)
    lr_decay_share: float = 1.0
    max_bad_steps: int = 5  # consecutive non-finite steps skipped before the run stops
    progress: bool = True  # progress bar on the terminal
    # CPU threads for the computation. auto: one for toy mixtures, whose steps are too short for threads to pay back
    # their synchronisation (two runs at once on one machine collapsed while idle OpenMP threads spun waiting for
    # work: scripts/benchmark_shared.py, BENCHMARKS.md), PyTorch's default (one per core) for images
    threads: int | Literal["auto"] = "auto"


@dataclass(frozen=True)
class Config:
    networks: dict[str, dict]
    roles: dict[str, str]
    loop: str = "adversarial"  # a name registered in gan/loop_registry.py
    objective: Objective = field(default_factory=Objective)
    optimizers: dict[str, Optimizer] = field(default_factory=dict)
    data: Data = field(default_factory=Data)
    run: Run = field(default_factory=Run)
    # {every: N, names: [...], samples: N, classifier: RUN}: scored during training
    metrics: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return _plain(dataclasses.asdict(self))


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


# -- reading -------------------------------------------------------------------------
def load(path: str | Path, overrides: list[str] = ()) -> Config:
    """Read a YAML config (strictly: gan/yamlfile.py), apply ``key.path=value`` overrides, validate; ``data.path`` made
    absolute.

    >>> cfg = load("configs/ring.yaml", ["run.steps=10"])  # doctest: +SKIP
    """
    path = locate(path)
    try:
        raw = read(path)  # duplicate keys, anchors and aliases refused (gan/yamlfile.py)
    except YamlError as error:
        raise ConfigError(str(error)) from None
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{path}: a config must be a mapping with sections networks, roles, ...; got {type(raw).__name__}"
        )
    raw = apply_overrides(raw, overrides)
    raw.setdefault("run", {})
    if isinstance(raw["run"], dict) and raw["run"].get("name") is None:
        raw["run"]["name"] = path.stem
    return resolve_paths(from_dict(raw))


def resolve_paths(cfg: Config) -> Config:
    """``data.path`` made absolute (``~`` expanded), against the folder the command runs in.

    The run's config.yaml then names the data wherever it is read from: stored as typed, a relative
    path made ``gan evaluate RUN`` from another folder look for the data in the wrong place.
    """
    path = cfg.data.path
    if not path or os.path.isabs(path):
        return cfg
    return dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, path=os.path.abspath(os.path.expanduser(path))))


def shipped_folder() -> Path:
    """Where the shipped configs are: inside the installed package, or the source tree's ``configs/``."""
    here = Path(__file__).resolve().parent
    installed = here / "configs"  # a wheel maps the top-level configs/ to gan/configs (pyproject.toml)
    return installed if installed.is_dir() else here.parent / "configs"


def shipped() -> list[str]:
    """The names of the configs that ship with the toolkit: ``gan train NAME`` finds them from any folder."""
    return sorted(p.stem for p in shipped_folder().glob("*.yaml"))


def locate(path: str | Path) -> Path:
    """A config file as given, else the shipped config of that name (``ring``, ``ring.yaml``, ``configs/ring.yaml``)."""
    path = Path(path)
    if path.is_file():
        return path
    name = path.name if path.suffix in (".yaml", ".yml") else path.name + ".yaml"
    if path.parent in (Path("."), Path("configs")):  # a bare name, or the source tree's spelling of one
        candidate = shipped_folder() / name
        if candidate.is_file():
            return candidate
    names = shipped()
    have = f"shipped configs (gan train NAME): {', '.join(names)}" if names else "no shipped configs were found"
    raise ConfigError(f"config file {shorten(str(path), 160)} not found; {have}")


def default_optimizer(loop: str, role: str) -> Optimizer:
    """The optimizer a loop gives a role that the config leaves out (its one home: the loop's registration)."""
    return Optimizer(**loop_registry.loop(loop).optimizers.get(role, {}))


def from_dict(raw: dict) -> Config:
    """Validate a plain mapping (as read from YAML) into a Config; the loop's default optimizers are filled in,
    so that a run's config.yaml holds what it used."""
    cfg = check_values(_build(Config, raw, ""))
    wanted = loop_registry.LOOPS[cfg.loop].optimizers
    defaults = {
        role: default_optimizer(cfg.loop, role) for role in wanted if role in cfg.roles and role not in cfg.optimizers
    }
    return dataclasses.replace(cfg, optimizers={**cfg.optimizers, **defaults}) if defaults else cfg


def apply_overrides(raw: dict, overrides: list[str]) -> dict:
    """``run.steps=100`` sets raw["run"]["steps"] = 100; values are read as YAML scalars."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set {shorten(item)}: expected key.path=value, e.g. run.steps=100")
        key, text = item.split("=", 1)
        parts = key.strip().split(".")
        try:
            value = parse(text, f"--set {shorten(item)}")  # as in a config: no aliases, no key twice
        except YamlError as error:
            raise ConfigError(str(error)) from None
        node = raw
        for i, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"--set {shorten(item)}: {_part('.'.join(parts[: i + 1]))} is not a section")
            node = child
        node[parts[-1]] = value
    return raw


def _part(key) -> str:
    """A user's key as it appears in a key path (``networks.NAME``), cut short for messages."""
    return cut(key, 40)


def _build(cls, raw, path: str):
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{path or 'config'}: expected a mapping of {', '.join(f.name for f in dataclasses.fields(cls))}, got "
            f"{shorten(raw)}"
        )
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted((set(raw) - set(fields)), key=str)
    if unknown:
        where = f"{path}." if path else ""
        raise ConfigError(
            f"unknown key {where}{_part(unknown[0])}; accepted keys{' in ' + path if path else ''}: {', '.join(fields)}"
        )
    values = {}
    for name, f in fields.items():
        key = f"{path}.{name}" if path else name
        if name in raw:
            values[name] = _check(hints[name], raw[name], key)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"missing key {key}")
    return cls(**values)


def _describe(tp) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(map(repr, typing.get_args(tp)))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(tp))
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    if origin is not None:
        return {dict: "a mapping", tuple: "a list", list: "a list"}.get(origin, str(tp))
    return {type(None): "null", float: "a number", int: "an integer", bool: "true or false", str: "a string"}.get(
        tp, tp.__name__
    )


def _check_scalar(tp, value, bad: ConfigError):
    """``value`` as the plain type ``tp`` (None, bool, int, float, str), or ``bad``; never a bool for a number."""
    if tp is type(None):
        if value is not None:
            raise bad
        return None
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            # YAML reads 2e-4 as a string (YAML 1.1 wants 2.0e-4); accept it as the number it means.
            if isinstance(value, str):
                try:
                    return float(value)
                except ValueError:
                    pass
            raise bad
        return float(value)
    if tp is int and isinstance(value, bool) or not isinstance(value, tp):
        raise bad
    return value


YAML_BOOLEANS = {False: ("no", "off", "false"), True: ("yes", "on", "true")}  # what PyYAML reads as booleans


def _check(tp, value, key: str):
    """Return ``value`` as type ``tp`` or raise ConfigError naming ``key``."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    bad = ConfigError(f"{key}: expected {_describe(tp)}, got {shorten(value)}")
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, key)
    if tp is Any:
        return value
    if tp is dict:
        if not isinstance(value, dict):
            raise bad
        return dict(value)
    if origin is Literal:
        if isinstance(value, bool):  # YAML 1.1 reads an unquoted no/off/false (yes/on/true) as a boolean
            spelt = [a for a in args if isinstance(a, str) and a.lower() in YAML_BOOLEANS[value]]
            if len(spelt) == 1:
                return spelt[0]
        if value not in args or isinstance(value, bool) != any(isinstance(a, bool) for a in args):
            raise bad
        return value
    if origin in (typing.Union, types.UnionType):
        mapping = next((a for a in args if dataclasses.is_dataclass(a)), None)
        if mapping is not None and isinstance(value, dict):  # its own message names the wrong key inside
            return _build(mapping, value, key)
        for option in args:
            try:
                return _check(option, value, key)
            except ConfigError:
                pass
        raise bad
    if origin is dict:
        if not isinstance(value, dict):
            raise bad
        return {str(k): _check(args[1], v, f"{key}.{_part(k)}") for k, v in value.items()}
    if origin is tuple:
        if not isinstance(value, (list, tuple)) or len(value) != len(args):
            raise ConfigError(f"{key}: expected a list of {len(args)} numbers, got {shorten(value)}")
        return tuple(_check(a, v, f"{key}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
    if tp in (type(None), bool, int, float, str):
        return _check_scalar(tp, value, bad)
    raise TypeError(f"config type {tp} of {key} is not handled")  # a bug in this module, not a user error


# -- values that type-check but make no sense ------------------------------------------
_RULES = [
    # (key path, test, what was expected)
    ("data.batch_size", lambda v: v >= 1, "an integer >= 1"),
    ("data.holdout", lambda v: 0.0 <= v < 1.0, "a share in [0, 1)"),
    ("data.workers", lambda v: v >= 0, "an integer >= 0"),
    ("data.size", lambda v: v >= 2, "an integer >= 2"),
    ("run.steps", lambda v: v >= 1, "an integer >= 1"),
    ("run.log_every", lambda v: v >= 1, "an integer >= 1"),
    ("run.sample_every", lambda v: v >= 1, "an integer >= 1"),
    ("run.checkpoint_every", lambda v: v >= 1, "an integer >= 1"),
    ("run.keep_checkpoints", lambda v: v >= 1, "an integer >= 1"),
    ("run.sample_count", lambda v: v >= 1, "an integer >= 1"),
    ("run.grad_accum", lambda v: v >= 1, "an integer >= 1"),
    ("run.max_bad_steps", lambda v: v >= 0, "an integer >= 0"),
    ("run.lr_decay_share", lambda v: 0.0 < v <= 1.0, "a share in (0, 1]"),
    ("run.seed", lambda v: 0 <= v < 2**32, "an integer in 0..4294967295 (NumPy's generator takes 32 bits)"),
    ("run.threads", lambda v: v == "auto" or v >= 1, "an integer >= 1 or auto"),
    ("objective.r1", lambda v: v >= 0, "a number >= 0"),
    ("objective.r1_every", lambda v: v >= 1, "an integer >= 1"),
    ("objective.r2", lambda v: v >= 0, "a number >= 0 (0 = off)"),
    ("objective.gradient_penalty", lambda v: v >= 0, "a number >= 0"),
    ("objective.d_steps", lambda v: v >= 1, "an integer >= 1"),
    ("objective.ema", lambda v: 0.0 <= v < 1.0, "a decay in [0, 1)"),
    ("objective.clip_grad_norm", lambda v: v >= 0, "a number >= 0"),
    ("objective.label_smoothing", lambda v: 0.0 <= v < 0.5, "a number in [0, 0.5)"),
    ("objective.top_k", lambda v: 0.0 < v <= 1.0, "a share in (0, 1]"),
    ("objective.top_k_decay", lambda v: 0.0 < v <= 1.0, "a factor in (0, 1]"),
    ("objective.ema_rampup", lambda v: v >= 0, "a number >= 0"),
    ("objective.temperature", lambda v: v == "learned" or v > 0, "a number > 0 or learned"),
]


NAME = re.compile(r"[A-Za-z0-9_-]+")
# characters: a network name becomes file names (NAME.ema.safetensors), which hold at most 255 bytes
MAX_NETWORK_NAME = 100
MAX_FOLDER_NAME = 255  # bytes of run.name, a folder name


def is_plain_name(text) -> bool:
    """Letters, digits, ``_`` and ``-``: a name that becomes a file name and can never be a path."""
    return isinstance(text, str) and NAME.fullmatch(text) is not None


def is_one_component(text) -> bool:
    """One non-empty path component (a folder inside ``run.output``): no separator, no ``.`` or ``..``."""
    return (
        isinstance(text, str)
        and text not in ("", ".", "..")
        and not any(c in text for c in "/\\\0")
        and not Path(text).is_absolute()
    )


def check_metrics(metrics: dict, data: str) -> None:
    """The metrics scored during training, checked now: a wrong name found at the first scoring would stop a run
    mid-way.

    A name is accepted if and only if a registered metric scores this data (gan/measure/metric_registry.py).
    The registry decides that from the data set's name alone (its kind table), so this check imports no
    ``gan.data`` module: gan.data reads this module's ``Data``, and asking it here would be an import running the
    wrong way.
    """
    # Registers the metrics this toolkit ships; imports neither torch nor gan.data.
    from .measure import shipped_metrics  # noqa: F401
    from .measure.metric_registry import misfit

    names = metrics.get("names")
    if names is not None:
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ConfigError(f"metrics.names: expected a list of metric names, got {shorten(names)}")
        for name in names:
            why = misfit(name, data)
            if why:
                raise ConfigError(f"metrics.names: {shorten(name)} {why}")
    samples = metrics.get("samples")
    if samples is not None and (isinstance(samples, bool) or not isinstance(samples, int) or samples < 2):
        raise ConfigError(f"metrics.samples: expected an integer >= 2, got {shorten(samples)}")
    if metrics.get("classifier") is not None and not isinstance(metrics["classifier"], str):
        raise ConfigError(
            "metrics.classifier: expected a run folder such as runs/digits_classifier, got "
            f"{shorten(metrics['classifier'])}"
        )


def check_data_keys(data: Data) -> None:
    """Refuse a data key the chosen data set does not read (``data.path`` on diabetes): it would be ignored without a
    word.

    Only a value other than the key's default is refused, so a run's config.yaml, which writes out every key,
    reads back. A data set gan/data_keys.py does not know is left to gan.data, which names the accepted ones.
    """
    from .data_keys import COMMON, READS

    reads = READS.get(data.name)
    if reads is None:
        return
    default = Data()
    for f in dataclasses.fields(Data):
        value = getattr(data, f.name)
        if f.name in COMMON or f.name in reads or value == getattr(default, f.name):
            continue
        own = f"data.{', data.'.join(reads)} and" if reads else "only"
        raise ConfigError(
            f"data.{f.name}: data set {data.name} does not read it, so {shorten(value, 60)} would be ignored; "
            f"{data.name} reads {own} the keys every data set reads ({', '.join(COMMON)})"
        )


def check_values(cfg: Config) -> Config:
    """Refuse values of the right type but no meaning (batch size 0, a negative learning rate)."""
    if cfg.loop not in loop_registry.LOOPS:
        raise ConfigError(f"loop: expected one of {', '.join(map(repr, loop_registry.LOOPS))}, got {shorten(cfg.loop)}")
    _check_names(cfg)
    for key, test, expected in _RULES:
        section, name = key.split(".")
        value = getattr(getattr(cfg, section), name)
        if not test(value):
            raise ConfigError(f"{key}: expected {expected}, got {shorten(value)}")
    _check_roles(cfg)
    unknown = sorted(set(cfg.metrics) - {"every", "names", "samples", "classifier"})
    if unknown:
        raise ConfigError(
            f"unknown key metrics.{unknown[0]}; accepted keys in metrics: every, names, samples, classifier"
        )
    if cfg.metrics.get("every") is not None and (not isinstance(cfg.metrics["every"], int) or cfg.metrics["every"] < 1):
        raise ConfigError(f"metrics.every: expected an integer >= 1, got {shorten(cfg.metrics['every'])}")
    check_metrics(cfg.metrics, cfg.data.name)
    check_data_keys(cfg.data)
    if cfg.objective.augment is not None:
        check_augment(cfg.objective.augment)
    _check_pairing(cfg)
    if cfg.objective.schedule is not None:
        check_schedule(cfg.objective.schedule, cfg)
    return cfg


def _check_pairing(cfg: Config) -> None:
    """The relativistic loss pairs the i-th real example with the i-th generated one: nothing may reorder either."""
    obj = cfg.objective
    if obj.loss == "relativistic" and obj.top_k < 1.0:
        raise ConfigError(
            "objective.top_k: Top-k keeps the best-rated generated samples, which breaks the relativistic loss's "
            "pairs of real and generated examples; set top_k: 1 or another loss"
        )
    if obj.loss == "relativistic" and obj.label_smoothing:
        raise ConfigError("objective.label_smoothing: the relativistic loss has no targets to smooth; set it to 0")


def check_schedule(sch: Schedule, cfg: Config) -> None:
    """objective.schedule: each end value in its range, and something for each to move."""
    where = "objective.schedule"
    if sch.steps is not None and sch.steps < 1:
        raise ConfigError(f"{where}.steps: expected an integer >= 1 or null (run.steps), got {shorten(sch.steps)}")
    if sch.warmup < 0:
        raise ConfigError(f"{where}.warmup: expected an integer >= 0, got {shorten(sch.warmup)}")
    if sch.gamma is not None and not sch.gamma >= 0:
        raise ConfigError(f"{where}.gamma: expected a penalty weight >= 0, got {shorten(sch.gamma)}")
    if sch.gamma is not None and not (cfg.objective.r1 or cfg.objective.r2):
        raise ConfigError(f"{where}.gamma: no penalty to move; set objective.r1 or objective.r2 to its start")
    if sch.lr is not None and not sch.lr > 0:
        raise ConfigError(f"{where}.lr: expected a learning rate > 0, got {shorten(sch.lr)}")
    if (sch.lr is not None or sch.warmup) and cfg.run.lr_decay != "none":
        raise ConfigError(
            f"{where}.lr: run.lr_decay ({cfg.run.lr_decay}) already moves the learning rate; "
            "use one of them (run.lr_decay: none)"
        )
    if sch.beta2 is not None and not 0.0 <= sch.beta2 < 1.0:
        raise ConfigError(f"{where}.beta2: expected a number in [0, 1), got {shorten(sch.beta2)}")
    aug = cfg.objective.augment
    if sch.augment is not None and not 0.0 <= sch.augment <= 1.0:
        raise ConfigError(f"{where}.augment: expected a probability in [0, 1], got {shorten(sch.augment)}")
    if sch.augment is not None and (aug is None or aug.adaptive):
        raise ConfigError(
            f"{where}.augment: moves objective.augment.p, so it needs objective.augment with a fixed p "
            "(adaptive: false), e.g. {policy: [geometric, color_matrix, cutout], p: 0}"
        )
    if sch.ema_images is not None and not sch.ema_images > 0:
        raise ConfigError(f"{where}.ema_images: expected a half-life in images > 0, got {shorten(sch.ema_images)}")
    if sch.ema_images is not None and not cfg.objective.ema > 0:
        raise ConfigError(f"{where}.ema_images: no moving average to move; objective.ema is 0 (off)")


def _check_names(cfg: Config) -> None:
    """run.name and the network names become file names in the run folder."""
    if cfg.run.name is not None and not is_one_component(cfg.run.name):
        raise ConfigError(
            "run.name: expected one folder name inside run.output (no '/', '\\', '.' or '..'), "
            f"got {shorten(cfg.run.name)}"
        )
    size = len(cfg.run.name.encode("utf-8", "surrogatepass")) if cfg.run.name is not None else 0
    if size > MAX_FOLDER_NAME:
        raise ConfigError(
            f"run.name: a folder name holds at most {MAX_FOLDER_NAME} bytes, got {size}: {shorten(cfg.run.name, 40)}"
        )
    for name in cfg.networks:
        if not is_plain_name(name):
            raise ConfigError(
                f"networks.{_part(name)}: a network name may hold only letters, digits, '_' and '-' "
                "(it names files in the run folder)"
            )
        if len(name) > MAX_NETWORK_NAME:
            raise ConfigError(
                f"networks.{_part(name)}: a network name holds at most {MAX_NETWORK_NAME} characters "
                f"(it names files in the run folder), got {len(name)}"
            )


def _check_roles(cfg: Config) -> None:
    """Networks, the roles that name them and the optimizers that name roles point at each other."""
    for role, opt in cfg.optimizers.items():
        if not opt.lr > 0:
            raise ConfigError(f"optimizers.{_part(role)}.lr: expected a learning rate > 0, got {shorten(opt.lr)}")
        if not all(0.0 <= b < 1.0 for b in opt.betas):
            raise ConfigError(f"optimizers.{_part(role)}.betas: expected two numbers in [0, 1), got {list(opt.betas)}")
    if not cfg.networks:
        raise ConfigError(
            "networks: expected at least one network, "
            "e.g. painter: {family: conv, source: noise[64], target: image[1,28,28]}"
        )
    for name, spec in cfg.networks.items():
        if not isinstance(spec, dict) or "family" not in spec:
            raise ConfigError(f"networks.{_part(name)}: expected a mapping with a 'family' key (mlp, conv, resnet)")
    for role, network in cfg.roles.items():
        if network not in cfg.networks:
            raise ConfigError(
                f"roles.{_part(role)}: no network named {shorten(network)}; "
                f"networks in this config: {', '.join(cfg.networks)}"
            )
    for role in cfg.optimizers:
        if role not in cfg.roles:
            raise ConfigError(
                f"optimizers.{_part(role)}: no role {shorten(role)} in roles; "
                f"roles in this config: {', '.join(cfg.roles) or '(none)'}"
            )


def check_augment(aug: Augment) -> None:
    """objective.augment: known transform names, p in [0, 1], target in (0, 1)."""
    names = [aug.policy] if isinstance(aug.policy, str) else aug.policy
    if not isinstance(names, (list, tuple)) or not names or not all(isinstance(n, str) for n in names):
        raise ConfigError(
            f"objective.augment.policy: expected a list of names from {', '.join(AUGMENTATIONS)}, got "
            f"{shorten(aug.policy)}"
        )
    unknown = [n for n in names if n not in AUGMENTATIONS]
    if unknown:
        raise ConfigError(
            f"objective.augment.policy: unknown augmentation {shorten(unknown[0])}; accepted: "
            f"{', '.join(AUGMENTATIONS)}"
        )
    if aug.p is not None and not 0.0 <= aug.p <= 1.0:
        raise ConfigError(f"objective.augment.p: expected a probability in [0, 1], got {shorten(aug.p)}")
    if not 0.0 < aug.target < 1.0:
        raise ConfigError(f"objective.augment.target: expected a number in (0, 1), got {shorten(aug.target)}")
    if aug.interval < 1:
        raise ConfigError(f"objective.augment.interval: expected an integer >= 1, got {shorten(aug.interval)}")
    if not aug.speed > 0:
        raise ConfigError(f"objective.augment.speed: expected a number of images > 0, got {shorten(aug.speed)}")
