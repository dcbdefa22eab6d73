"""Run under torchrun by test_augment: train (or resume) with adaptive augmentation; each process writes its p and
weights."""

import sys
from pathlib import Path

from safetensors.torch import save_file

from gan import config as C
from gan.loops.setup import adversarial_loop
from gan.session.session import Session

cfg = C.load(sys.argv[1], sys.argv[4:])
out, resume = Path(sys.argv[2]), sys.argv[3] == "resume"
with Session(cfg, resume=resume) as session:
    loop = adversarial_loop(session)
    loop.run()
    rank = session.accelerator.process_index
    state = {f"G.{k}": v for k, v in loop.G_net.state_dict().items()} | {
        "p": loop.augment.p.reshape(1),
        "calls": loop.augment.p.new_tensor([loop.augment.calls]),
    }
    out.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in state.items()}, str(out / f"rank{rank}.safetensors"))
