"""The ``sftcheck`` console script: runs the model tests through pytest with the report set.

    sftcheck demo [--backend openai]       diagnose the built-in fixture world
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
# Installed pytest plugins the model tests never use, not loaded by the console script: their
# imports (and pytest's assertion rewriting of their packages) cost ~1 CPU-s a run (bench/README.md).
# (plain ``pytest model_tests --sft-config run.toml`` loads every installed plugin.)
UNUSED_PLUGINS = ("-p", "no:hypothesispytest", "-p", "no:anyio", "-p", "no:benchmark")


def model_tests_dir() -> Path:
    from sftcheck import model_tests

    return Path(model_tests.__file__).resolve().parent


def _pytest(tests: Path, html: str, extra: list[str], json_path: str | None = None) -> int:
    import time

    import pytest

    from sftcheck.gc_freeze import ProcessEnds

    html_path = Path(html).expanduser().resolve()
    args = ["-p", "sftcheck.plugin", "-p", "no:cacheprovider", str(tests),
            f"--html={html_path}", "--self-contained-html",
            # the demo imports torch & co. before pytest starts: nothing to rewrite there
            "-W", "ignore:Module already imported so cannot be rewritten:pytest.PytestAssertRewriteWarning",
            *UNUSED_PLUGINS, *extra]
    started = time.time()
    code = int(pytest.main(args, plugins=[ProcessEnds()]))
    fresh = html_path.exists() and html_path.stat().st_mtime >= started - 1
    if code == USAGE_ERROR or not fresh:
        # pytest wrote no report this time: an older one at this path must not pass for it.
        from sftcheck.report_stale import mark_not_run
        replaced = mark_not_run(html_path, json_path, f"pytest exit status {code}: the run did not start "
                                "(see the error above).", code)
        note = f"; the earlier report at {html_path} now says so" if replaced else ""
        print(f"sftcheck: no report written (pytest exit status {code}){note}.", file=sys.stderr)
    else:
        print(f"sftcheck report: {html_path}")
    return code


def _usage_error(message: str, html: str | None = None, json_path: str | None = None) -> int:
    """A usage error of the sftcheck command itself: say it (naming the flag typed) and mark any
    earlier report at the report paths, which this run did not write."""
    print(message, file=sys.stderr)
    from sftcheck.report_stale import mark_not_run
    mark_not_run(Path(html or DEFAULT_HTML).expanduser().resolve(), json_path, message, USAGE_ERROR)
    return USAGE_ERROR


def _report_flags(ns: argparse.Namespace) -> list[str]:
    """The report options of ``demo`` / ``run`` as the plugin's ``--sft-*`` flags."""
    return [*(["--sft-json", ns.json] if ns.json else []),
            *(["--sft-fail-on", ns.fail_on] if ns.fail_on else []),
            *(["--sft-summary", ns.summary] if ns.summary else []),
            *(["--sft-redact-paths"] if ns.redact_paths else [])]


def cmd_demo(ns: argparse.Namespace, extra: list[str]) -> int:
    from sftcheck.fixtures.world import build_world

    world = build_world()
    print(f"sftcheck demo: fixture world at {world.root}", flush=True)
    tests = Path(ns.tests) if ns.tests else model_tests_dir()
    html = ns.html or DEFAULT_HTML
    if ns.backend == "transformers":
        return _pytest(tests, html, ["--sft-world", *_report_flags(ns), *extra], ns.json)
    import tempfile

    from sftcheck.fixtures.broken.run_config import variant_config
    from sftcheck.fixtures.openai_server import running

    print("sftcheck demo: starting the fixture OpenAI-compatible server on 127.0.0.1 "
          "(base and base + adapter as 'base' and 'tuned')", flush=True)
    with running(world.root) as url, tempfile.TemporaryDirectory(prefix="sftcheck-demo-") as tmp:
        print(f"sftcheck demo: [generation] backend = \"openai\", base_url = \"{url}\"", flush=True)
        cfg = variant_config(world, Path(tmp), generation={
            "backend": "openai", "base_url": url, "base_model_name": "base", "tuned_model_name": "tuned"})
        return _pytest(tests, html, ["--sft-config", str(cfg), *_report_flags(ns), *extra], ns.json)


def cmd_run(ns: argparse.Namespace, extra: list[str]) -> int:
    from sftcheck import config as cfgmod

    config = ns.config
    flags = tuple(o.flag for o in cfgmod.OVERRIDES if o.describes_run)
    described = any(a.split("=")[0] in flags for a in extra)
    html = ns.html
    if config is not None:
        if not Path(config).expanduser().is_file():
            return _usage_error(f"sftcheck run --config {config}: no such file. Fix: pass the path of your "
                                "run config (a TOML file, or a pyproject.toml with [tool.sftcheck]).",
                                html, ns.json)
        try:
            html = html or cfgmod.load(config).report.html
        except cfgmod.ConfigError as exc:
            # the loader names the pytest flag; this user typed --config
            return _usage_error(f"sftcheck run --config {config}: " + str(exc).replace("--sft-config", "--config"),
                                html, ns.json)
    elif not described:
        found = cfgmod.find_pyproject(Path.cwd())
        if found is None:
            return _usage_error(
                "sftcheck run: no run config. Fix: pass --config run.toml (see README, 'Point it at "
                "your own checkpoint'), add [tool.sftcheck] to ./pyproject.toml, or describe the run "
                "with --sft-adapter / --sft-base / --sft-train / --sft-eval.", html, ns.json)
        config = str(found)
        try:
            html = html or cfgmod.load(config).report.html
        except cfgmod.ConfigError:
            pass  # pytest reports it as a usage error naming the file and the fix
    cfg_args = [] if config is None else ["--sft-config", str(Path(config).expanduser().resolve())]
    return _pytest(Path(ns.tests) if ns.tests else model_tests_dir(), html or DEFAULT_HTML,
                   [*cfg_args, *_report_flags(ns), *extra], ns.json)


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
    from sftcheck import __version__
    from sftcheck.cli_help import run_epilog

    p = argparse.ArgumentParser(prog="sftcheck", allow_abbrev=False, description="Diagnose an SFT / LoRA run with pytest; "
                                "the HTML report is the verdict. Unknown options go to pytest.")
    p.add_argument("--version", action="version", version=f"sftcheck {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    for name, help_text in (("demo", "diagnose the built-in fixture world (built once, cached)"),
                            ("run", "diagnose your run: sftcheck run --config run.toml [-m pretrain]")):
        s = sub.add_parser(name, help=help_text, allow_abbrev=False, description=help_text,
                           epilog=run_epilog(), formatter_class=argparse.RawDescriptionHelpFormatter)
        if name == "run":
            s.add_argument("--config", metavar="PATH", default=None,
                           help="run config (TOML or pyproject.toml). Default: ./pyproject.toml "
                                "with [tool.sftcheck]")
        s.add_argument("--html", metavar="PATH", default=None,
                       help=f"HTML report path. Default: [report] html, else {DEFAULT_HTML}")
        s.add_argument("--json", metavar="PATH", default=None,
                       help="also write the JSON verdict here. Default: [report] json")
        s.add_argument("--summary", metavar="PATH", default=None,
                       help="also append a Markdown summary here (e.g. $GITHUB_STEP_SUMMARY)")
        s.add_argument("--fail-on", choices=("fail", "warn"), default=None,
                       help="exit 1 on FAIL/ERROR (fail, the default) or also on WARN (warn)")
        s.add_argument("--redact-paths", action="store_true",
                       help="shorten paths in the report: config folder -> <config>, home -> ~")
        s.add_argument("--tests", metavar="DIR", default=None,
                       help="model tests to run. Default: the installed model_tests package")
        if name == "demo":
            s.add_argument("--backend", choices=("transformers", "openai"), default="transformers",
                           help="openai: generate through the fixture OpenAI-compatible server, started on "
                                "127.0.0.1 for the demo. Default: %(default)s")
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
