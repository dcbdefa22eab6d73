"""Run under torchrun by test_adversarial: train, then each process writes the weights it ends with."""

import sys
from pathlib import Path

from safetensors.torch import save_file

from gan import config as C
from gan.loops.adversarial import Adversarial
from gan.loops.session import Session

cfg = C.load(sys.argv[1])
out = Path(sys.argv[2])
with Session(cfg) as session:
    loop = Adversarial(cfg, session, resume=False)
    loop.run()
    acc = session.accelerator
    state = {f"G.{k}": v for k, v in loop.G_net.state_dict().items()} | {f"D.{k}": v for k, v in loop.D_net.state_dict().items()}
    out.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in state.items()}, str(out / f"rank{acc.process_index}.safetensors"))
    if acc.is_main_process:
        (out / "world_size").write_text(str(acc.num_processes))
