"""Freed host memory is kept for the next step instead of being faulted back in page by page."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from gan import device
from gan.session import accelerator as session_module
from gan.session.session import Session

from .conftest import ROOT, TINY_DIGITS

# A freed 24 MiB activation: does the process keep its pages for the next step, or give them
# back to the OS (and fault them in again, zeroed, on the next allocation)?
FREE = """
import os, sys, torch
from gan.device import keep_freed_memory
if sys.argv[1] == "keep":
    assert keep_freed_memory()
rss = lambda: int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
x = torch.empty(6 << 20).fill_(1.0)
held = rss()
del x
print((held - rss()) / 2**20)
"""


def _mib_returned_on_free(mode: str) -> float:
    out = subprocess.run([sys.executable, "-c", FREE, mode], cwd=ROOT, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_freed_activations_stay_with_the_process_for_the_next_step():
    assert _mib_returned_on_free("plain") > 20  # glibc's default: the block goes back to the OS
    assert _mib_returned_on_free("keep") < 1


@pytest.mark.parametrize("keep", [True, False])
def test_the_session_keeps_freed_memory_unless_the_config_says_no(write_config, monkeypatch, keep):
    from gan import config as C

    calls = []
    monkeypatch.setattr(session_module, "keep_freed_memory", lambda: calls.append(1) or True)
    cfg = C.load(write_config(TINY_DIGITS), [f"run.keep_freed_memory={str(keep).lower()}"])
    with Session(cfg, overwrite=True):
        pass
    assert calls == ([1] if keep else [])


def test_other_c_libraries_are_left_alone(monkeypatch):
    monkeypatch.setattr(device.platform, "libc_ver", lambda: ("", ""))
    assert device.keep_freed_memory() is False
