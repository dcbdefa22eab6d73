"""Run under torchrun by test_adversarial: train, then each process writes the weights it ends with."""

import sys
from pathlib import Path

from safetensors.torch import save_file

from gan import config as C
from gan.loops.setup import adversarial_loop
from gan.session.session import Session

cfg = C.load(sys.argv[1])
out = Path(sys.argv[2])
if "--inf-loss-on-rank-1" in sys.argv:  # the second process alone sees a non-finite loss at its third update
    import os

    from gan.loops import adversarial

    calls, real_loss = {"n": 0}, adversarial.generator_loss

    def loss_on_this_rank(name, fake, *real):
        calls["n"] += 1
        bump = float("inf") if os.environ.get("RANK") == "1" and calls["n"] == 3 else 0.0
        return real_loss(name, fake, *real) + bump  # the gradient stays finite: only this process's loss says so

    adversarial.generator_loss = loss_on_this_rank
if "--lose-rank-1-random-state" in sys.argv:  # what a node without the shared file system would leave
    import os

    from accelerate import Accelerator

    save_state = Accelerator.save_state

    def save_then_lose(self, output_dir=None, **kwargs):
        save_state(self, output_dir, **kwargs)
        if self.process_index == 1:
            os.remove(Path(output_dir) / "random_states_1.pkl")

    Accelerator.save_state = save_then_lose
try:
    with Session(cfg) as session:
        acc = session.accelerator
        loop = adversarial_loop(session)
        if "--fail-in-training" in sys.argv:  # a way out of the session other than its end

            def fail(*args, **kwargs):
                raise RuntimeError("failed in training")

            loop.step = fail
        loop.run()
        state = {f"G.{k}": v for k, v in loop.G_net.state_dict().items()} | {
            f"D.{k}": v for k, v in loop.D_net.state_dict().items()
        }
        out.mkdir(parents=True, exist_ok=True)
        save_file({k: v.contiguous() for k, v in state.items()}, str(out / f"rank{acc.process_index}.safetensors"))
        (out / f"skipped{acc.process_index}").write_text(str(session.settle_guard()))
        if acc.is_main_process:
            (out / "world_size").write_text(str(acc.num_processes))
except RuntimeError as error:
    assert "--fail-in-training" in sys.argv and str(error) == "failed in training", error
import torch.distributed as dist  # noqa: E402

out.mkdir(parents=True, exist_ok=True)
(out / f"groups_left{acc.process_index}").write_text(str(dist.is_initialized()))
