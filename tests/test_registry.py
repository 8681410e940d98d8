"""Check ids are written once: the registry attaches them, cross-references go through
``see()`` and point at registered checks, and no prose names a check by a loose string."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from sftcheck.checks.support.registry import REGISTRY, check, load_all
from sftcheck.checks.support.result import CheckResult, Status

CHECKS_DIR = Path(__file__).resolve().parents[1] / "checks"
AREAS = sorted(p.stem for p in CHECKS_DIR.glob("*.py") if p.stem != "__init__") + ["gate", "pretrain"]
ID_LIKE = re.compile(rf"(?<![\w.])((?:{'|'.join(AREAS)})\.[a-z_]*[a-z])(?!\w|\.\w)")
OWN_GATE = re.compile(r'\[gates\."([a-z_]+\.[a-z_]+)"\]')


def _sources() -> list[Path]:
    return sorted(CHECKS_DIR.rglob("*.py"))


def _check_id(fn: ast.FunctionDef) -> str | None:
    for dec in fn.decorator_list:
        if isinstance(dec, ast.Call) and getattr(dec.func, "id", None) == "check":
            return dec.args[0].value
    return None


def _scan(path: Path):
    """Yield (kind, id, own check id, line) for every check id written in a source file."""
    tree = ast.parse(path.read_text())
    owner: dict[int, str | None] = {}
    docstrings: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.Module, ast.ClassDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                docstrings.add(id(body[0].value))
        if isinstance(node, ast.FunctionDef) and (cid := _check_id(node)):
            for sub in ast.walk(node):
                owner[id(sub)] = cid
    named = set()  # the literal arguments of see() / @check(): ids by design
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("see", "check"):
            named.update(id(a) for a in node.args[:1])
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "see":
            arg = node.args[0]
            assert isinstance(arg, ast.Constant), f"{path}:{node.lineno}: see() takes a literal id"
            yield "see", arg.value, owner.get(id(node)), node.lineno
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in named:
            kind = "doc" if id(node) in docstrings else "prose"
            for m in OWN_GATE.finditer(node.value):
                yield "gates", m.group(1), owner.get(id(node)), node.lineno
            for m in ID_LIKE.finditer(OWN_GATE.sub("", node.value)):
                yield kind, m.group(1), owner.get(id(node)), node.lineno


def test_every_reference_names_a_registered_check() -> None:
    registry = load_all()
    refs = [(p, *r) for p in _sources() for r in _scan(p)]
    seen = [r for r in refs if r[1] == "see"]
    assert len(seen) >= 20, f"expected the explanations' cross-references to go through see(): {seen}"
    bad = [f"{p.relative_to(CHECKS_DIR.parent)}:{line}: {kind} {ref!r}"
           for p, kind, ref, _, line in refs if ref not in registry]
    assert not bad, "references to checks that do not exist:\n" + "\n".join(bad)


def test_prose_names_other_checks_only_through_see() -> None:
    """A loose id in an explanation is not checked against the registry: use see(); the only
    id written out is a check's own, in its ``[gates."<id>"]`` re-threshold hint."""
    loose, foreign_gates = [], []
    for p in _sources():
        for kind, ref, own, line in _scan(p):
            where = f"{p.relative_to(CHECKS_DIR.parent)}:{line}: {ref}"
            if kind == "prose":
                loose.append(where)
            if kind == "gates" and ref != own:
                foreign_gates.append(where)
    assert not loose, "write see(\"<id>\") instead of the id in prose:\n" + "\n".join(loose)
    assert not foreign_gates, "a [gates.\"<id>\"] hint for another check:\n" + "\n".join(foreign_gates)


@pytest.fixture
def scratch_registry():
    """Demo checks registered by a test are removed again."""
    before = dict(REGISTRY)
    yield
    REGISTRY.clear()
    REGISTRY.update(before)


def test_the_registry_attaches_the_id(scratch_registry) -> None:
    @check("demo.attached", stage="pretrain", title="attached")
    def attached() -> CheckResult:
        return CheckResult(Status.PASS, 1, None, "fine")

    assert attached().id == "demo.attached"


def test_a_result_naming_another_check_is_refused(scratch_registry) -> None:
    @check("demo.liar", stage="pretrain", title="liar")
    def liar() -> CheckResult:
        return CheckResult(Status.PASS, 1, None, "fine", id="demo.other")

    with pytest.raises(TypeError, match="demo.liar"):
        liar()


def test_the_old_positional_id_is_a_teaching_error() -> None:
    with pytest.raises(TypeError, match="registry attaches it"):
        CheckResult("labels.demo", Status.PASS, 1, None, "fine")  # type: ignore[arg-type]
