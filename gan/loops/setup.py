"""Setting up a run, top to bottom, in the same order for every loop.

    session    the Accelerator, the seed, the run folder's checks (``Session``)
    roles      which network plays which role, and that each can
    networks   built from their specs (``init:`` from another run)
    data       opened for the spaces the roles read; batches made (a batch larger than the data stops here)
    folder     created or reopened: everything a user can get wrong has been checked by now
    training   memory layout, optimizers, ``accelerator.prepare``, EMA
    resume     the newest checkpoint that loads, or a new run's hyper-parameters into TensorBoard

Each ``*_loop`` function does this for one loop and hands the loop what it trains; the loop then
only steps, checkpoints and logs. ``train`` runs a config from start to end.
"""

from __future__ import annotations

from pathlib import Path

import torch

from networks import Text, writes_functions

from .. import data as datasets
from ..config import Config, default_optimizer
from ..data import generated
from ..data import text as text_data
from ..data.tables import Table
from ..device import channels_last
from ..ema import averaged
from ..loop_registry import loop as registered
from ..roles import RoleError, check_conditions, check_role, check_roles_named
from ..runs.folder import keep_units
from ..session.logs import write_hparams
from ..session.optim import make_optimizer
from ..session.session import Session
from ..words import command
from .adversarial import Adversarial
from .build import build_networks
from .contrastive import Contrastive, Scaled, contrastive_data
from .inputs import augmenter, data_space_of, open_labelled, open_text
from .likelihood import Likelihood
from .sample import Sample


def train(cfg: Config, *, resume: bool = False, overwrite: bool = False, loop: str | None = None) -> Path:
    """Train ``cfg`` with its ``loop:`` (or the one named) as a new run, or from the latest checkpoint of its
    run folder; returns the run folder."""
    with Session(cfg, resume=resume, overwrite=overwrite) as session:
        trainer = registered(loop or cfg.loop).set_up(session)
        if trainer is not None:
            trainer.run()
        return session.run.path


def adversarial_loop(session: Session) -> Adversarial:
    """A generator and a discriminator, ready to train against each other."""
    cfg, acc = session.cfg, session.accelerator
    check_roles_named("adversarial", cfg.roles)
    nets = networks(session)
    g_name, d_name, data_space = _adversarial_pair(cfg, nets)
    G, D = nets[g_name], nets[d_name]
    # data
    source = datasets.open_examples(cfg.data, data_space)
    classes = getattr(source, "classes", None)
    check_conditions(nets, cfg.roles, classes, cfg.data.labels)
    augment = augmenter(cfg, data_space, acc)  # None unless objective.augment is set
    batches = datasets.batches(
        cfg.data, source, seed=cfg.run.seed, rank=acc.process_index, world=acc.num_processes, device=acc.device
    )
    # folder
    session.open_folder()
    # training
    layout = channels_last(cfg.run, session.device, data_space)
    if layout:
        G, D = G.to(memory_format=torch.channels_last), D.to(memory_format=torch.channels_last)
    opts = {
        role: cfg.optimizers.get(role) or default_optimizer(cfg.loop, role) for role in ("generator", "discriminator")
    }
    g_params, d_params = trainable(G), trainable(D)
    opt_g, opt_d = make_optimizer(g_params, opts["generator"]), make_optimizer(d_params, opts["discriminator"])
    fast_g, fast_d = _compiled(cfg, G, D)
    G_ddp, D_ddp, opt_g, opt_d = session.prepare(fast_g, fast_d, opt_g, opt_d)
    ema = averaged(G, cfg, session.accelerator.num_processes)
    loop = Adversarial(
        session,
        g_name,
        d_name,
        G_net=G,
        D_net=D,
        G=fast_g,
        D=fast_d,
        G_ddp=G_ddp,
        D_ddp=D_ddp,
        opt_g=opt_g,
        opt_d=opt_d,
        g_params=g_params,
        d_params=d_params,
        batches=batches,
        data_space=data_space,
        classes=classes,
        augment=augment,
        ema=ema,
        channels_last=layout,
    )
    # resume
    if session.resume:
        extra = {"ema": ema.module} if ema else {}
        trainer = session.restore(dict(extra, **({"augment": augment} if augment else {})))
        batches.position = trainer["data_position"]
        loop.d_updates = trainer["d_updates"]
    elif session.writer is not None:
        write_hparams(session.writer, cfg)
    return loop


def _compiled(cfg: Config, G, D):
    """``run.compile``: both networks compiled, except a penalised discriminator: a penalty differentiates it twice,
    which compiled graphs do not support, so then only the generator's step compiles."""
    obj = cfg.objective
    penalised = obj.r1 > 0 or obj.r2 > 0 or obj.gradient_penalty > 0
    compile_ = cfg.run.compile
    return (torch.compile(G) if compile_ else G), (torch.compile(D) if compile_ and not penalised else D)


def _adversarial_pair(cfg: Config, nets: dict) -> tuple[str, str, object]:
    """The two networks the roles name, and the space of the data, checked against one another."""
    g_name, d_name = cfg.roles["generator"], cfg.roles["discriminator"]
    if g_name == d_name:
        raise RoleError(
            f"roles: network {g_name!r} cannot be both generator and discriminator; give each role its own network"
        )
    G, D = nets[g_name], nets[d_name]
    data_space = data_space_of(D, G, cfg)
    check_role("discriminator", d_name, D, data_space)
    draw_on_reader(g_name, G, d_name, D)
    check_role("generator", g_name, G, data_space)
    return g_name, d_name, data_space


def draw_on_reader(g_name: str, G, d_name: str, D) -> None:
    """The one adapter between a network that writes functions and one that reads images: the functions are drawn
    on the reader's grid, so to the loop the writer is one more painter of images; no loop knows more of functions."""
    if not writes_functions(G):
        return
    space, reads = G.function_space, D.source
    if not reads.is_image or reads.channels != space.channels:
        raise RoleError(
            f"role 'generator': network {g_name!r} writes {space}, drawn as images of {space.channels} channel(s), "
            f"but network {d_name!r} in the role 'discriminator' reads {reads}; give them the same number of "
            f"channels (function[2->{reads.channels}] for {reads})"
            if reads.is_image
            else f"role 'generator': network {g_name!r} writes {space}, drawn as images, but network {d_name!r} in "
            f"the role 'discriminator' reads {reads}; a function is read on a grid: give it a reader of images"
        )
    G.draw_on(reads.height, reads.width)


def likelihood_loop(session: Session) -> Likelihood:
    """One network from data to a distribution (labels, strings, reals), ready to train by maximum likelihood."""
    cfg, acc = session.cfg, session.accelerator
    # roles
    check_roles_named("likelihood", cfg.roles, also=generated.ROLES if cfg.data.name == "generated" else ())
    name = cfg.roles["classifier"]
    # networks
    nets = networks(session)
    net = nets[name]
    check_role("classifier", name, net, net.source)
    if net.condition is not None:
        raise RoleError(
            f"role 'classifier': network {name!r} is conditioned on {net.condition}; a classifier reads data only"
        )
    # data
    train_set, batches, held_out, text = _likelihood_data(session, nets, name, net)
    # folder
    session.open_folder()
    if session.is_main and isinstance(train_set, Table):  # its means and scales, for gan.load and gan predict
        keep_units(session.run, name, train_set.units())
    # training
    layout = channels_last(cfg.run, session.device, net.source)
    if layout:
        net = net.to(memory_format=torch.channels_last)
    frozen = not all(p.requires_grad for p in net.body.parameters())
    params = trainable(net)
    opt = make_optimizer(params, cfg.optimizers.get("classifier") or default_optimizer(cfg.loop, "classifier"))
    fast = torch.compile(net) if cfg.run.compile else net
    net_ddp, opt = session.prepare(fast, opt)
    if frozen:  # a probe reads fixed features: keep the body's batch statistics as they were
        net.body.eval()
    loop = Likelihood(
        session,
        name,
        net=net,
        net_ddp=net_ddp,
        opt=opt,
        params=params,
        train_set=train_set,
        batches=batches,
        held_out=held_out.to(acc.device),
        text=text,
        channels_last=layout,
    )
    # resume
    if session.resume:
        trainer = session.restore({})
        batches.position = trainer["data_position"]
    return loop


def _likelihood_data(session: Session, nets: dict, name: str, net) -> tuple:
    """(training examples, their endless batches, held-out examples, whether they are strings) for the network
    ``name``; pairs drawn from a frozen network (``data.name: generated``) are their own batches."""
    cfg, acc = session.cfg, session.accelerator
    if cfg.data.name == "generated":
        pairs, held_out = generated.open_pairs(session, nets, name, net)
        return pairs, pairs, held_out, False
    text = isinstance(net.source, Text)
    train_set, held_out = open_text(cfg, name, net) if text else open_labelled(cfg, name, net)
    where = dict(seed=cfg.run.seed, rank=acc.process_index, world=acc.num_processes, device=acc.device)
    if text:
        batches = text_data.TextBatches(
            train_set, cfg.data.view, cfg.data.batch_size, on_device=cfg.data.on_device, **where
        )
    else:
        batches = datasets.batches(cfg.data, train_set, **where)
    return train_set, batches, held_out, text


def contrastive_loop(session: Session) -> Contrastive:
    """One network from data to sphere[D], ready to learn which examples match (``contrastive.py``)."""
    cfg, acc = session.cfg, session.accelerator
    check_roles_named("contrastive", cfg.roles)
    name = cfg.roles["embedder"]
    net = networks(session)[name]
    check_role("embedder", name, net, net.source)
    train_set, held_out, augment = contrastive_data(cfg, name, net, acc)
    batches = datasets.batches(
        cfg.data, train_set, seed=cfg.run.seed, rank=acc.process_index, world=acc.num_processes, device=acc.device
    )
    session.open_folder()
    frozen = not all(p.requires_grad for p in net.body.parameters())
    scaled = Scaled(net, cfg.objective.temperature)  # a learned temperature steps with the weights
    params = trainable(scaled)
    opt = make_optimizer(params, cfg.optimizers.get("embedder") or default_optimizer(cfg.loop, "embedder"))
    model, opt = session.prepare(scaled, opt)
    if frozen:  # a new head on fixed features: keep the body's batch statistics as they were
        net.body.eval()
    loop = Contrastive(session, name, net, model, opt, params, train_set, batches, held_out, augment)
    if session.resume:
        batches.position = session.restore({"augment": augment} if augment else {})["data_position"]
    elif session.writer is not None:
        write_hparams(session.writer, cfg)
    return loop


def sample_loop(session: Session) -> Sample | None:
    """A trained network, ready to draw; None when a resumed sample run has drawn already."""
    cfg = session.cfg
    done = session.run.path / "samples.npz"
    if session.resume and (
        done.is_file() or done.with_suffix(".txt").is_file()
    ):  # a requeued job succeeds; nothing is deleted or redrawn
        session.accelerator.print(
            f"nothing to resume: a run of the sample loop draws once and {done} is there; "
            f"to draw again: {command('gan', 'train', session.run.config, '--overwrite')}"
        )
        return None
    # roles and networks
    check_roles_named("sample", cfg.roles)
    name = cfg.roles["sampler"]
    net = networks(session, checkpointed=False)[name]
    check_role("sampler", name, net, net.target)
    if "init" not in cfg.networks[name]:
        raise RoleError(
            f"role 'sampler': network {name!r} has no init: {{run: RUN, network: NAME}}; it would draw from "
            "untrained weights"
        )
    # folder
    session.open_folder()
    return Sample(session, name, net.to(session.device).eval())


# -- what setting up a loop asks, named ---------------------------------------------
def networks(session: Session, *, checkpointed: bool = True) -> dict:
    """The config's networks; those started from another run say what they loaded (``session.init_reports``).

    ``checkpointed``: a resumed run takes its weights from its checkpoint, not from ``init:``; a sample run
    keeps none, so it reads ``init:`` again when it is resumed.
    """
    nets, session.init_reports = build_networks(
        session.cfg, resume=session.resume and checkpointed, say=session.accelerator.print
    )
    return nets


def trainable(net: torch.nn.Module) -> list[torch.nn.Parameter]:
    """The parameters an optimizer steps: a frozen body's are left out."""
    return [p for p in net.parameters() if p.requires_grad]
