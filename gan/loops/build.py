"""The networks a config names, built from their specs, and started from another run's weights where ``init:`` says so.

A network is built from keywords alone (``networks.build``); what a run adds is ``init``
(weights of a network in another run folder: the body always, the head where it fits) and
``freeze_body``. A resumed run takes its weights from its own checkpoint instead.
"""

from __future__ import annotations

from pathlib import Path

from networks import Network, build

from ..config import Config
from ..runs.folder import RunDir, RunError, check_digest, check_network_name, load_state, read_network_info
from ..yamlfile import cut, shorten


def build_networks(cfg: Config, *, resume: bool, say=print) -> tuple[dict[str, Network], dict[str, dict]]:
    """Every network of ``cfg`` by name, and for each one started from another run, what was loaded and what is new."""
    nets, reports = {}, {}
    for name, spec in cfg.networks.items():
        spec = dict(spec)
        init = spec.pop("init", None)
        freeze = spec.pop("freeze_body", False)
        try:
            net = build(spec)
        except (ValueError, TypeError) as error:
            raise RunError(f"networks.{name}: {cut(error, 300)}") from None  # torch's own words can run to pages
        if init is not None and not resume:  # a resumed run's weights come from its checkpoint
            reports[name] = initialise_from(name, net, init, say=say)
        if freeze:
            net.body.requires_grad_(False)
        nets[name] = net
    return nets, reports


def initialise_from(name: str, net: Network, init, *, say=print) -> dict[str, list[str]]:
    """Start from another run's weights; the body always, the head where it fits. Returns the tensors loaded and those
    left new."""
    if (
        not isinstance(init, dict)
        or set(init) - {"run", "network", "ema"}
        or "run" not in init
        or "network" not in init
    ):
        raise RunError(f"networks.{name}.init: expected {{run: RUN_FOLDER, network: NAME}}, got {shorten(init)}")
    source = RunDir(Path(str(init["run"])).resolve())  # named absolute: a relative path depends on where gan runs
    if not source.path.is_dir():
        raise RunError(
            f"networks.{name}.init: run folder {shorten(str(init['run']))} not found (looked in {source.path})"
        )
    check_network_name(init["network"], f"networks.{name}.init.network")
    path = source.networks / f"{init['network']}{'.ema' if init.get('ema') else ''}.safetensors"
    if not (source.networks / f"{init['network']}.json").is_file():
        have = ", ".join(source.network_names()) or "none"
        raise RunError(
            f"networks.{name}.init: run {str(source.path)!r} has no network {shorten(init['network'])}; networks in "
            f"it: {have}"
        )
    info_path = source.networks / f"{init['network']}.json"
    check_digest(read_network_info(info_path), info_path, path)
    loaded, fresh = load_state(net, path, strict=False)
    unfit = [k for k in fresh if k.startswith("body.")]
    if unfit:  # a body half loaded is a random network under a trained one's name: its samples would be noise
        raise RunError(
            f"networks.{name}.init: the body of {path} does not fit {net.extra_repr()} "
            f"({_shapes(path, net, unfit[0])}); "
            f"the architectures differ: give this network the same family, width and spaces as {init['network']!r} in "
            "that run"
        )
    say(f"networks.{name}: loaded {len(loaded)} tensors from {path}; new: {', '.join(fresh) or 'none'}")
    return {"loaded": loaded, "new": fresh}


def _shapes(path: Path, net: Network, key: str) -> str:
    """``key`` in the weights file and in ``net``: what a user compares to see which setting differs."""
    from safetensors import safe_open

    with safe_open(str(path), "pt") as file:
        theirs = tuple(file.get_slice(key).get_shape()) if key in file.keys() else None
    ours = tuple(net.state_dict()[key].shape)
    return (
        f"{key} {theirs} in the file, {ours} here" if theirs is not None else f"{key} {ours} here, absent from the file"
    )
