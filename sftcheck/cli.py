"""The ``sftcheck`` console script: runs the model tests through pytest with the report set.

    sftcheck demo                          diagnose the built-in fixture world
    sftcheck run --config run.toml [pytest args]   diagnose your run (e.g. -m pretrain)
    sftcheck catalog [--markdown]          the check catalogue from the registry
    sftcheck config-reference              every config key, as Markdown

``demo`` and ``run`` write a self-contained HTML verdict (``[report] html``, default
``reports/sftcheck.html``), print its path and exit with pytest's exit code.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sftcheck import environment

DEFAULT_HTML = "reports/sftcheck.html"
USAGE_ERROR = 4  # pytest.ExitCode.USAGE_ERROR


def model_tests_dir() -> Path:
    from sftcheck import model_tests

    return Path(model_tests.__file__).resolve().parent


def _pytest(tests: Path, html: str, extra: list[str]) -> int:
    import pytest

    html_path = Path(html).expanduser().resolve()
    args = ["-p", "sftcheck.plugin", "-p", "no:cacheprovider", str(tests),
            f"--html={html_path}", "--self-contained-html",
            # the demo imports torch & co. before pytest starts: nothing to rewrite there
            "-W", "ignore:Module already imported so cannot be rewritten:pytest.PytestAssertRewriteWarning",
            *extra]
    code = int(pytest.main(args))
    if html_path.exists():
        print(f"sftcheck report: {html_path}")
    return code


def _config_html(config: str | None) -> str:
    """``[report] html`` of a config (resolved against its folder), else the default."""
    if config:
        from sftcheck import config as cfgmod
        try:
            return cfgmod.load(config).report.html
        except cfgmod.ConfigError:
            pass  # pytest reports the same problem as a usage error, naming the fix
    return DEFAULT_HTML


def cmd_demo(ns: argparse.Namespace, extra: list[str]) -> int:
    from sftcheck.fixtures.world import build_world

    world = build_world()
    print(f"sftcheck demo: fixture world at {world.root}", flush=True)
    args = ["--sft-world", *(["--sft-json", ns.json] if ns.json else []), *extra]
    return _pytest(Path(ns.tests) if ns.tests else model_tests_dir(), ns.html or DEFAULT_HTML, args)


def cmd_run(ns: argparse.Namespace, extra: list[str]) -> int:
    from sftcheck import config as cfgmod

    config = ns.config
    flags = tuple(o.flag for o in cfgmod.OVERRIDES if o.describes_run)
    described = any(a.split("=")[0] in flags for a in extra)
    if config is None and not described:
        found = cfgmod.find_pyproject(Path.cwd())
        if found is None:
            print("sftcheck run: no run config. Fix: pass --config run.toml (see README, "
                  "'Point it at your own checkpoint'), add [tool.sftcheck] to ./pyproject.toml, or "
                  "describe the run with --sft-adapter / --sft-base / --sft-train / --sft-eval.",
                  file=sys.stderr)
            return USAGE_ERROR
        config = str(found)
    html = ns.html or _config_html(config)
    cfg_args = [] if config is None else \
        ["--sft-config", str(Path(config).expanduser().resolve()) if Path(config).exists() else config]
    args = [*cfg_args, *(["--sft-json", ns.json] if ns.json else []), *extra]
    return _pytest(Path(ns.tests) if ns.tests else model_tests_dir(), html, args)


def catalog_markdown() -> str:
    from sftcheck.checks.support.registry import STAGES, load_all

    specs = sorted(load_all().values(),
                   key=lambda s: (STAGES.index(s.stage) if s.stage in STAGES else len(STAGES), s.id))
    lines = ["# Check catalogue", "",
             ("Generated from the check registry by `sftcheck catalog --markdown > docs/CHECKS.md`; "
             "do not edit by hand."), "",
             ("Skip a check with `[gates] skip = [\"<id>\"]`; re-threshold it with a "
             "`[gates.\"<id>\"]` table using the names below. The stage is the pytest marker "
             "(`sftcheck run --config run.toml -m pretrain`)."), "",
             "| id | stage | title | thresholds (defaults) |", "|---|---|---|---|"]
    for s in specs:
        defaults = ", ".join(f"`{k} = {v!r}`" for k, v in s.defaults.items()) or "—"
        lines.append(f"| [`{s.id}`](#{s.id.replace('.', '')}) | {s.stage} | {s.title} | {defaults} |")
    lines.append("")
    for s in specs:
        lines += [f"## {s.id}", "", f"*{s.title}* — stage `{s.stage}`", ""]
        if s.doc:
            lines += [s.doc, ""]
    return "\n".join(lines)


def cmd_catalog(ns: argparse.Namespace, extra: list[str]) -> int:
    if ns.markdown:
        print(catalog_markdown())
        return 0
    from sftcheck.checks.support.registry import STAGES, load_all

    specs = sorted(load_all().values(),
                   key=lambda s: (STAGES.index(s.stage) if s.stage in STAGES else len(STAGES), s.id))
    width = max((len(s.id) for s in specs), default=10)
    for s in specs:
        defaults = ", ".join(f"{k}={v!r}" for k, v in s.defaults.items())
        print(f"{s.id:<{width}}  {s.stage:<9}  {s.title}" + (f"  [{defaults}]" if defaults else ""))
    print(f"{len(specs)} checks")
    return 0


def cmd_config_reference(ns: argparse.Namespace, extra: list[str]) -> int:
    from sftcheck.config_reference import markdown

    print(markdown())
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sftcheck", allow_abbrev=False, description="Diagnose an SFT / LoRA run with pytest; "
                                "the HTML report is the verdict. Unknown options go to pytest.")
    sub = p.add_subparsers(dest="command", required=True)
    for name, help_text in (("demo", "diagnose the built-in fixture world (built once, cached)"),
                            ("run", "diagnose your run: sftcheck run --config run.toml [-m pretrain]")):
        s = sub.add_parser(name, help=help_text, allow_abbrev=False)
        if name == "run":
            s.add_argument("--config", metavar="PATH", default=None,
                           help="run config (TOML or pyproject.toml). Default: ./pyproject.toml "
                                "with [tool.sftcheck]")
        s.add_argument("--html", metavar="PATH", default=None,
                       help=f"HTML report path. Default: [report] html, else {DEFAULT_HTML}")
        s.add_argument("--json", metavar="PATH", default=None,
                       help="also write the JSON verdict here. Default: [report] json")
        s.add_argument("--tests", metavar="DIR", default=None,
                       help="model tests to run. Default: the installed model_tests package")
    c = sub.add_parser("catalog", help="list every check (id, stage, title, default thresholds)")
    c.add_argument("--markdown", action="store_true", help="print docs/CHECKS.md")
    sub.add_parser("config-reference", help="print every config key as Markdown (docs/CONFIG.md)")
    return p


COMMANDS = {"demo": cmd_demo, "run": cmd_run, "catalog": cmd_catalog,
            "config-reference": cmd_config_reference}


def main(argv: list[str] | None = None) -> int:
    environment.apply()
    ns, extra = parser().parse_known_args(sys.argv[1:] if argv is None else argv)
    if extra and ns.command in ("catalog", "config-reference"):
        parser().error(f"unrecognized arguments: {' '.join(extra)}")
    return COMMANDS[ns.command](ns, extra)


if __name__ == "__main__":
    sys.exit(main())
