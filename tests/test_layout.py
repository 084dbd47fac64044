"""The layout's rules, read from the code: the pipeline runs one way (no import cycle between
modules, lazy imports inside functions included), the stages and the engine import no
adapter (I/O, devices, the CLI, model runtimes), importing the engine loads none of them, and
no module outgrows one concept (400 lines)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("animator", "keypoints", "benchmarks", "tests")
#: Third-party adapters: files, devices, video, model runtimes, trackers.
ADAPTER_LIBS = ("cv2", "av", "onnxruntime", "mediapipe", "sounddevice", "soundfile", "soxr",
                "PIL", "pyvirtualcam", "websockets", "matplotlib", "tqdm", "ray", "openai")
#: The project's own adapters: what a stage must never reach.
ADAPTER_MODULES = ("animator.cli", "animator.sinks", "animator.sources", "animator.live",
                   "animator.render", "animator.authoring", "keypoints.mappingnet",
                   "keypoints.visemenet", "keypoints.onnx_session", "keypoints.face",
                   "keypoints.audio")
MAX_LINES = 400


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for top in PACKAGES for p in (ROOT / top).rglob("*.py")}


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Every project module ``name`` imports, at the top or inside a function."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        targets = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        for t in targets:
            while t and t not in known:
                t = t.rpartition(".")[0]
            if t and t != name:
                found.add(t)
    return found


def _third_party(path: Path) -> set[str]:
    libs = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            libs |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            libs.add(node.module.split(".")[0])
    return libs


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    known = set(mods)
    return {name: _imports(name, path, known) for name, path in mods.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), a package with its
    own modules (an ``__init__`` re-exporting them) excepted."""
    index, low, on_stack, stack, cycles = {}, {}, set(), [], []
    counter = [0]

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            # a package's __init__ re-exporting its own modules is not a cycle of concepts
            if len(component) > 1 and not any(
                    all(c == top or c.startswith(top + ".") for c in component)
                    for top in component):
                cycles.append(sorted(component))

    sys.setrecursionlimit(10000)
    for v in graph:
        if v not in index:
            visit(v)
    return cycles


def test_no_import_cycle_even_through_lazy_imports():
    graph = _graph()
    assert "animator.authoring.latent.spaces" in graph  # the lazy import seen before
    assert not _cycles(graph), f"import cycles: {_cycles(graph)}"
    # the finder itself: a cycle through three modules is found, a package with its own
    # modules is not one
    assert _cycles({"a.x": {"b"}, "b": {"c"}, "c": {"a.x"}}) == [["a.x", "b", "c"]]
    assert _cycles({"p": {"p.m"}, "p.m": {"p"}}) == []


def test_stages_and_engine_import_no_adapter():
    graph = _graph()
    mods = _modules()
    core = [m for m in graph if m.startswith(("animator.stages", "animator.core"))
            or m == "animator.engine"]
    assert "animator.stages.speaking" in core and "animator.engine" in core
    for name in core:
        bad = sorted(t for t in graph[name]
                     if any(t == a or t.startswith(a + ".") for a in ADAPTER_MODULES))
        assert not bad, f"{name} imports adapters {bad}"
        libs = sorted(_third_party(mods[name]) & set(ADAPTER_LIBS))
        assert not libs, f"{name} imports {libs}"


def test_importing_the_engine_loads_no_adapter():
    code = ("import json, sys, animator.engine; "
            "print(json.dumps(sorted(m for m in sys.modules)))")
    loaded = set(json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True,
                                           text=True, check=True, cwd=ROOT).stdout))
    adapters = {m for m in loaded
                if m.split(".")[0] in ADAPTER_LIBS
                or any(m == a or m.startswith(a + ".") for a in ADAPTER_MODULES)}
    assert not adapters, sorted(adapters)


def test_every_module_holds_one_concept():
    long = {name: n for name, path in _modules().items()
            if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def test_tests_share_helpers_not_each_other():
    """Shared test code lives in helper modules (tests/cli.py, chromium.py, ...): a test module
    importing another runs that module's fixtures and tests' imports twice."""
    graph = _graph()
    crossing = {name: sorted(t for t in targets if t.startswith("tests.test_"))
                for name, targets in graph.items() if name.startswith("tests.")}
    assert not {k: v for k, v in crossing.items() if v}
