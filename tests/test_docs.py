"""What a newcomer checks first in the README and the configs holds: the example is a shipped config, the
snippet defines what it uses, every config says what it costs, and the default run's time is told once."""

from __future__ import annotations

import ast
import builtins
import re

from .conftest import ROOT

README = (ROOT / "README.md").read_text()


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, re.DOTALL)


def test_the_readme_config_example_is_a_shipped_config_word_for_word():
    shipped = {p.read_text().strip() for p in (ROOT / "configs").glob("*.yaml")}
    assert _blocks("yaml") and all(block.strip() in shipped for block in _blocks("yaml"))


def test_the_readme_python_snippet_defines_every_name_it_uses():
    for block in _blocks("python"):
        tree = ast.parse(block)
        defined = {
            alias.asname or alias.name.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, (ast.Import, ast.ImportFrom))
            for alias in node.names
        }
        defined |= {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
        used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
        assert not used - defined - set(dir(builtins)), block


def test_every_shipped_config_says_in_its_first_lines_what_it_costs_on_2_cpu_cores():
    for path in sorted((ROOT / "configs").glob("*.yaml")):
        header = []
        for line in path.read_text().splitlines():
            if not line.startswith("#"):
                break
            header.append(line)
        cost = " ".join(header)
        assert "Cost:" in cost and "2 CPU cores" in cost, path.name


def test_the_readme_and_the_default_config_agree_on_the_time_of_the_default_run():
    said = re.search(r"Cost: ([^;(]*?minutes)", (ROOT / "configs" / "digits.yaml").read_text()).group(1)
    quick_start = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert said.split(" on ")[0] in " ".join(quick_start.split())


def test_the_readme_says_how_to_install_the_cpu_only_pytorch_build():
    assert "pip install torch torchvision --index-url https://download.pytorch.org/whl/cpu" in README
