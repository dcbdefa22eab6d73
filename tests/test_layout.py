"""The layout keeps its promises: networks know nothing of GANs, training carries no benchmark,
imports run one way, and the command line starts without loading what it does not need."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

from .conftest import ROOT

PACKAGES = ("gan", "networks")


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _imports(name: str, path: Path, modules: dict) -> set[str]:
    """Modules of this project that ``name`` imports anywhere in its file, at its top or inside a function."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    named = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            named |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module
            named |= {f"{module}.{a.name}" if f"{module}.{a.name}" in modules else module for a in node.names}
    resolved = set()
    for module in named:  # "gan.config.Config" -> "gan.config"; outside modules resolve to nothing
        while module and module not in modules:
            module = module.rpartition(".")[0]
        if module and module != name:
            resolved.add(module)
    return resolved


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for module in graph[todo.pop()] - seen:
            seen.add(module)
            todo.append(module)
    return seen


def _is_benchmark(module: str) -> bool:
    return module == "gan.benchmark" or module.startswith("gan.benchmark.")


def _is_command_line(module: str) -> bool:
    """The front end that offers ``gan benchmark``: it may import the benchmark when that verb runs."""
    return module in ("gan.cli", "gan.__main__") or module.startswith("gan.cli.")


def test_the_graph_reader_sees_the_imports_it_must_judge():
    graph = _graph()
    assert "gan.config" in graph["gan.loops.setup"] and "networks" in graph["gan.loops.adversarial"]
    assert "gan.benchmark.speed.machine" in graph["gan.benchmark.speed.benchmark"]  # "from . import machine"
    assert "gan.benchmark.variants" in graph["gan.cli.benchmark"]  # an import inside a function counts


def test_training_imports_nothing_from_the_benchmark_even_indirectly():
    graph = _graph()
    leaks = {
        module: sorted(filter(_is_benchmark, _reachable(graph, module)))
        for module in graph
        if not _is_benchmark(module) and not _is_command_line(module)
    }
    assert not {m: b for m, b in leaks.items() if b}, "training modules reach gan.benchmark"


def test_the_import_graph_has_no_cycles():
    graph, state, cycles = _graph(), {}, []

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for other in sorted(graph[module]):
            if state.get(other) == "open":
                cycles.append(path[path.index(other) :] + [module, other] if other in path else [module, other])
            elif other not in state:
                visit(other, path + [module])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_networks_import_nothing_from_gan():
    graph = _graph()
    found = {
        m: sorted(i for i in imports if i == "gan" or i.startswith("gan."))
        for m, imports in graph.items()
        if m.split(".")[0] == "networks"
    }
    assert not {m: i for m, i in found.items() if i}


# The base: what a config is, what roles and losses are, the registries of loops and metrics. It sits under the data,
# the run folder, the loops, the measures and the command line, and reaches none of them, even through an import
# inside a function: a config is checked without opening a data set or building a loop.
BASE = (
    "gan.config",
    "gan.roles",
    "gan.objectives",
    "gan.yamlfile",
    "gan.loop_registry",
    "gan.measure.metric_registry",
    "gan.data_keys",
    "gan.words",
    "gan.eval_mode",
)
ABOVE_THE_BASE = (
    "gan.data",
    "gan.runs.folder",
    "gan.loops",
    "gan.cli",
    "gan.benchmark",
    "gan.measure.evaluation",
    "gan.measure.scoring",
    "gan.verbs.sampling",
    "gan.measure.regression",
    "gan.runs.resume",
)


def test_the_config_reaches_no_data_module_and_the_base_nothing_above_it():
    graph = _graph()
    assert not [m for m in _reachable(graph, "gan.config") if m == "gan.data" or m.startswith("gan.data.")]
    above = lambda m: any(m == a or m.startswith(a + ".") for a in ABOVE_THE_BASE)  # noqa: E731
    leaks = {base: sorted(filter(above, _reachable(graph, base))) for base in BASE}
    assert not {b: found for b, found in leaks.items() if found}, leaks


def test_building_the_parser_loads_neither_the_speed_benchmark_nor_the_metrics():
    code = (
        "import sys; from gan.cli import build_parser; build_parser(); "
        "print(' '.join(m for m in sys.modules if m.startswith(('gan.benchmark.speed', 'gan.measure.metrics'))))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == []


def test_a_verb_that_cannot_be_imported_stops_the_command_instead_of_vanishing():
    """A broken verb module fails loudly when the parser is built; the help never quietly loses a verb."""
    code = "import sys; sys.modules['gan.cli.evaluate'] = None; from gan.cli import build_parser; build_parser()"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode != 0 and "gan.cli.evaluate" in proc.stderr
    tree = ast.parse((ROOT / "gan" / "cli" / "__init__.py").read_text())
    caught = [
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.ExceptHandler) and "ImportError" in ast.unparse(n.type or ast.Name("bare"))
    ]
    called = [
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and ast.unparse(n.func) in ("__import__", "importlib.import_module")
    ]
    assert not caught and not called, "the command line imports its verbs by name"


def test_no_code_document_or_config_outside_the_tests_names_an_issue_number():
    """Targets belong to the benchmark report; what a user reads never cites a tracker number."""
    pattern = re.compile(r"issues?\s*#\s*\d|issues?\s+\d+\b", re.IGNORECASE)
    files = [
        p
        for folder in ("gan", "networks", "scripts", "configs")
        for p in sorted((ROOT / folder).rglob("*"))
        if p.suffix in (".py", ".yaml", ".md")
    ]
    files += [ROOT / name for name in ("README.md", "BENCHMARKS.md", "pyproject.toml") if (ROOT / name).is_file()]
    found = [
        f"{p.relative_to(ROOT)}:{n}: {line.strip()}"
        for p in files
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert not found, "\n".join(found)


def test_each_training_loop_module_is_short_and_says_why_it_exists():
    """The session is split by concern: a newcomer opens one file per concern, none of them a wall of code."""
    too_long, silent = [], []
    for path in sorted([*(ROOT / "gan" / "loops").glob("*.py"), *(ROOT / "gan" / "session").glob("*.py")]):
        text = path.read_text()
        if len(text.splitlines()) > 300:
            too_long.append(f"{path.name}: {len(text.splitlines())} lines")
        if not ast.get_docstring(ast.parse(text)):
            silent.append(path.name)
    assert not too_long and not silent, (too_long, silent)
    assert len((ROOT / "gan" / "session" / "session.py").read_text().splitlines()) <= 250


def test_a_run_is_set_up_in_one_place_and_the_loops_only_step():
    """Networks, the run folder, optimizers, prepare and restore are called from setup.py alone, in that order."""
    setup_steps = ("build_networks", "open_folder", "make_optimizer", "prepare", "restore")
    callers = {}
    for path in sorted((ROOT / "gan").rglob("*.py")):
        if "benchmark" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
                if name in setup_steps and not (name == "prepare" and "accelerator" in ast.unparse(node.func)):
                    callers.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    allowed = {"gan/loops/setup.py", "gan/session/session.py", "gan/loops/build.py"}
    assert all(files <= allowed for files in callers.values()), callers
    source = (ROOT / "gan" / "loops" / "setup.py").read_text()
    for loop in ("def adversarial_loop", "def likelihood_loop"):
        body = source[source.index(loop) :]
        body = body[: body.index("\ndef ", 1)]
        order = [
            body.index(step)
            for step in (
                "networks(session)",
                "open_folder()",
                "make_optimizer(",
                "session.prepare(",
                "session.restore(",
            )
        ]
        assert order == sorted(order), loop


def test_the_examples_in_the_loops_docstrings_run():
    import doctest
    import importlib

    for name in ("gan.session.optim", "gan.session.progress", "gan.session.guard", "networks.text", "networks.spaces"):
        assert doctest.testmod(importlib.import_module(name)).failed == 0, name
