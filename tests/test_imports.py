"""Layering: no import loop among sftcheck's modules (module- or function-level imports,
``import_module`` strings included), and the pure check library never imports the runtime."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"sftcheck": ROOT / "sftcheck", "sftcheck.checks": ROOT / "checks",
            "sftcheck.model_tests": ROOT / "model_tests", "sftcheck.fixtures": ROOT / "fixtures"}


def modules() -> dict[str, Path]:
    out = {}
    for prefix, folder in PACKAGES.items():
        for path in folder.rglob("*.py"):
            parts = path.relative_to(folder).with_suffix("").parts
            name = ".".join((prefix, *parts))
            out[name.removesuffix(".__init__")] = path
    return out


def imports(path: Path, known: set[str]) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            names = [node.value]  # a module named in a string (import_module, plugin lists)
        found.update(n for n in names if n in known)
    return found


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {name: imports(path, set(mods)) - {name} for name, path in mods.items()}


def test_no_import_loop() -> None:
    g = graph()
    state: dict[str, int] = {}
    stack: list[str] = []
    loops: list[list[str]] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for n in sorted(g[m]):
            if state.get(n) == 1:
                loops.append(stack[stack.index(n):] + [n])
            elif n not in state:
                visit(n)
        stack.pop()
        state[m] = 2

    for m in sorted(g):
        if m not in state:
            visit(m)
    assert not loops, "import loops:\n" + "\n".join(" -> ".join(loop) for loop in loops)


def test_checks_never_import_the_runtime() -> None:
    g = graph()
    bad = {m: sorted(d for d in deps if not d.startswith("sftcheck.checks"))
           for m, deps in g.items() if m.startswith("sftcheck.checks")}
    assert not {m: d for m, d in bad.items() if d}, bad


# (numpy is not on the list: the check library computes with it, and torch imports it anyway)
HEAVY = ("torch", "transformers", "peft", "matplotlib", "scipy", "statsmodels", "pandas", "hypothesis")


def test_plugin_and_cli_import_nothing_heavy() -> None:
    """``-p sftcheck.plugin`` and the console script start light: the libraries only some
    checks, the model or the report need are imported by the function that uses them (each
    costs 0.2-3 CPU-s to import; bench/README.md)."""
    import subprocess
    import sys

    code = ("import sys, sftcheck.plugin, sftcheck.cli; sftcheck.cli.parser(); sftcheck.plugin.area_plugins(); "
            f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "[]", f"imported at plugin / CLI start: {out.stdout.strip()} ({out.stderr[-500:]})"
