"""The config reference (every key of every section) as Markdown, generated from
``sftcheck/config.py``: types and defaults from the dataclasses, meanings from the
attribute docstrings (the string right under each field).
"""
from __future__ import annotations

import ast
import dataclasses
import inspect
import itertools
from pathlib import Path
from typing import Any, get_type_hints

from sftcheck import config as cfgmod
from sftcheck.hooks import HOOK_CONTRACTS, ROW_NAMES

GATES_DOC = {
    "skip": "Check ids not to run (skipped, shown as skipped in the report).",
    'thresholds': 'One table per check id, `[gates."artifact.lora_b_nonzero"]`, overriding '
                  "that check's thresholds by name (see docs/CHECKS.md for each check's names "
                  "and defaults); an unknown id or name is a usage error.",
}


def field_docs(cls: type) -> dict[str, str]:
    """Attribute docstrings of a dataclass: ``name: type = default`` then a string literal."""
    tree = ast.parse(inspect.getsource(cls))
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs: dict[str, str] = {}
    for node, nxt in itertools.pairwise(body):
        if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                and isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant)
                and isinstance(nxt.value.value, str)):
            docs[node.target.id] = " ".join(nxt.value.value.split())
    return docs


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        return f.default_factory()  # type: ignore[misc]
    return None


def _toml(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    if isinstance(value, str):
        return f"`{value!r}`" if "`" not in value else repr(value)
    if isinstance(value, (list, dict)):
        return f"`{value!r}`" if value else ("`[]`" if isinstance(value, list) else "`{}`")
    return f"`{value}`"


def _type(tp: Any) -> str:
    return cfgmod._type_name(tp).replace("NoneType", "None").replace("|", "\\|")


def markdown() -> str:
    lines = ["# Config reference", "",
             "Generated from `sftcheck/config.py` by `sftcheck config-reference`; do not edit by hand.",
             "",
             "A run config is a TOML file passed with `--sft-config PATH` (or `sftcheck run --config "
             "PATH`), or a `[tool.sftcheck]` table in your `pyproject.toml`. Relative paths are "
             "relative to the config file's folder. Every key is validated on load: an unknown key "
             "(with a did-you-mean), a wrong type or a missing path is a usage error naming the "
             "file, the key and the fix; so is a value outside a key's fixed choices (`device`, "
             "`dtype`, `schema`: the message lists the allowed values) or a negative count. "
             "Command-line overrides: "
             + ", ".join(f"`{o.flag}`" for o in cfgmod.OVERRIDES) + ".", ""]
    for name, cls in cfgmod.SECTIONS.items():
        lines += [f"## `[{name}]`", ""]
        class_doc = inspect.getdoc(cls)
        if class_doc and not class_doc.startswith(cls.__name__ + "("):
            lines += [class_doc, ""]
        lines += ["| key | type | default | meaning |", "|---|---|---|---|"]
        docs = GATES_DOC if cls is cfgmod.GatesSection else field_docs(cls)
        hints = get_type_hints(cls)
        for f in dataclasses.fields(cls):
            meaning = docs.get(f.name, "").replace("|", "\\|")
            if f.metadata.get("path"):
                meaning += " (path; must exist)"
            elif f.metadata.get("out_path"):
                meaning += " (output path)"
            key = f.name if cls is not cfgmod.GatesSection or f.name == "skip" else '"<check id>"'
            lines.append(f"| `{key}` | `{_type(hints[f.name])}` | {_toml(_default(f))} | {meaning.strip()} |")
        lines.append("")
    lines += _suites()
    lines += _models()
    lines += ["## Hooks", "",
              "Hook keys hold `\"module:function\"` (an importable module, or a `.py` file relative to "
              "the config). Each hook may take the whole data-file row (row form: a dict with every "
              "field of the row, e.g. `final` or `category`) or strings (text form); the form is read "
              "from the signature: a first parameter named " + ", ".join(
                  f"`{n}`" for n in sorted(ROW_NAMES)) + " selects the row form. A hook that "
              "raises on a row is a failed check naming the row (number and id) with the traceback.", "",
              "| hook | signature |", "|---|---|"]
    lines += [f"| `{key}` | {text.replace('|', chr(92) + '|')} |" for key, text in HOOK_CONTRACTS]
    lines.append("")
    return "\n".join(lines)


def _suites() -> list[str]:
    """``[[suites]]`` (``sftcheck.suites.spec.SuiteSpec``): one block per evaluation suite."""
    from sftcheck.suites.spec import REQUIRED, SuiteSpec

    lines = ["## `[[suites]]`", "",
             "One block per evaluation suite (README 'Evaluation suites'); each is scored for base and tuned "
             "with the run's one model load. Required: " + ", ".join(f"`{k}`" for k in REQUIRED) + ". "
             'Gates per suite: `[gates."suite.<name>.<metric>"]` (or `suite.<metric>` for every suite).', "",
             "| key | type | default | meaning |", "|---|---|---|---|"]
    docs, hints = field_docs(SuiteSpec), get_type_hints(SuiteSpec)
    for f in dataclasses.fields(SuiteSpec):
        default = "required" if f.name in REQUIRED else _toml(_default(f))
        lines.append(f"| `{f.name}` | `{_type(hints[f.name])}` | {default} | "
                     f"{docs.get(f.name, '').replace('|', chr(92) + '|')} |")
    return [*lines, ""]


def _models() -> list[str]:
    """``[models.<name>]`` (``sftcheck.nway.spec.ModelSpec``): one table per model."""
    from sftcheck.nway.spec import ModelSpec

    lines = ["## `[models.<name>]`", "",
             ("One table per model evaluated side by side (README 'N models in one run'): exactly one of "
             "`path`, `adapter` or `served`. Each is loaded once (one at a time) and generated once per eval "
             "set. `[model]` keeps its meaning: its base is the model of role `base` and its adapter / "
             "`finetuned` the model of role `tuned`, unless a `[models.*]` table has that role."), "",
             "| key | type | default | meaning |", "|---|---|---|---|"]
    docs, hints = field_docs(ModelSpec), get_type_hints(ModelSpec)
    for f in dataclasses.fields(ModelSpec):
        if f.name in ("name", "implied"):
            continue
        default = "required" if f.name == "role" else _toml(_default(f))
        lines.append(f"| `{f.name}` | `{_type(hints[f.name])}` | {default} | "
                     f"{docs.get(f.name, '').replace('|', chr(92) + '|')} |")
    return [*lines, ""]


START, END = "<!-- config-reference:start -->", "<!-- config-reference:end -->"


def readme_block(reference: str) -> str:
    """The reference as it sits in README.md (headings one level down)."""
    body = reference.split("\n", 3)[3].replace("\n## ", "\n### ")  # drop the title lines
    return f"{START}\n{body.strip()}\n{END}"


def with_reference(readme: str, reference: str) -> str:
    head, rest = readme.split(START, 1)
    _, tail = rest.split(END, 1)
    return head + readme_block(reference) + tail


def write_docs(repo: Path) -> None:
    """Regenerate docs/CONFIG.md and the README block: ``python -m sftcheck.config_reference``."""
    reference = markdown()
    (repo / "docs").mkdir(exist_ok=True)
    (repo / "docs" / "CONFIG.md").write_text(reference + "\n", encoding="utf-8")
    readme = repo / "README.md"
    readme.write_text(with_reference(readme.read_text(encoding="utf-8"), reference), encoding="utf-8")


if __name__ == "__main__":
    write_docs(Path(__file__).resolve().parent.parent)
