"""The ``sftcheck`` console script, the generated docs and the README's promises."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from sftcheck.checks.support.registry import load_all

from sftcheck import cli
from sftcheck import config as cfgmod
from sftcheck.config_reference import markdown, readme_block

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text(encoding="utf-8")

TESTS = '''
import pytest
from sftcheck.checks.support.registry import check
from sftcheck.checks.support.result import CheckResult, Status

@check("demo.good", stage="pretrain", title="good")
def good():
    return CheckResult(Status.PASS, 0, "== 0", "fine")

@check("demo.bad", stage="artifact", title="bad")
def bad():
    return CheckResult(Status.FAIL, 1, "== 0", "broken on purpose", "repair it")

@pytest.mark.pretrain
def test_good(sft_check, sft_config):
    print("CONFIG", sft_config.source)
    sft_check(good)

@pytest.mark.artifact
def test_bad(sft_check):
    sft_check(bad)
'''


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "sftcheck.cli", *args], check=False, cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "mytests").mkdir()
    (tmp_path / "mytests" / "test_mine.py").write_text(TESTS)
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "run.toml").write_text("[report]\nhtml = 'out/verdict.html'\n")
    return tmp_path


def test_run_passes_pytest_args_and_exit_code_and_writes_the_report(project):
    gate = _cli("run", "--config", "cfg/run.toml", "--tests", "mytests", "-m", "pretrain", "-s", cwd=project)
    report = project / "cfg" / "out" / "verdict.html"  # [report] html, relative to the config
    assert gate.returncode == 0, gate.stdout + gate.stderr
    assert "1 passed, 1 deselected" in gate.stdout
    assert f"sftcheck report: {report}" in gate.stdout
    assert f"CONFIG {project / 'cfg' / 'run.toml'}" in gate.stdout
    assert report.is_file() and "sft-verdict-pass" in report.read_text()

    full = _cli("run", "--config", "cfg/run.toml", "--tests", "mytests", "--html", "here.html",
                "--json", "here.json", cwd=project)
    assert full.returncode == 1, full.stdout + full.stderr  # pytest's exit code, passed through
    assert "FAIL demo.bad: measured 1 (threshold == 0)" in full.stdout
    assert "sft-verdict-fail" in (project / "here.html").read_text()
    assert '"verdict": "fail"' in (project / "here.json").read_text()


def test_run_bad_config_is_pytest_usage_error(project):
    (project / "cfg" / "run.toml").write_text("[model]\nadaptr = 'x'\n")
    proc = _cli("run", "--config", "cfg/run.toml", "--tests", "mytests", cwd=project)
    assert proc.returncode == 4
    assert "Did you mean 'adapter'?" in proc.stderr and "Traceback" not in proc.stderr


def test_run_without_config_names_the_fix(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["run"]) == cli.USAGE_ERROR
    assert "Fix: pass --config run.toml" in capsys.readouterr().err


def test_run_finds_pyproject_in_the_working_folder(project):
    (project / "pyproject.toml").write_text("[tool.sftcheck.report]\ntitle = 'mine'\n")
    proc = _cli("run", "--tests", "mytests", "-m", "pretrain", "-s", cwd=project)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"CONFIG {project / 'pyproject.toml'}" in proc.stdout


def test_catalog_lists_every_registered_check(capsys):
    assert cli.main(["catalog"]) == 0
    out = capsys.readouterr().out
    registry = load_all()
    for check_id, spec in registry.items():
        assert re.search(rf"^{re.escape(check_id)}\s+{spec.stage}\s+{re.escape(spec.title)}", out, re.MULTILINE)
    assert f"{len(registry)} checks" in out


def test_docs_checks_md_is_up_to_date():
    current = (REPO / "docs" / "CHECKS.md").read_text(encoding="utf-8")
    assert current == cli.catalog_markdown() + "\n", (
        "docs/CHECKS.md is stale. Fix: sftcheck catalog --markdown > docs/CHECKS.md")


def test_config_reference_is_up_to_date_in_docs_and_readme():
    reference = markdown()
    fix = "Fix: python -m sftcheck.config_reference (rewrites docs/CONFIG.md and the README block)"
    assert (REPO / "docs" / "CONFIG.md").read_text(encoding="utf-8") == reference + "\n", fix
    assert readme_block(reference) in README, fix
    for section, cls in cfgmod.SECTIONS.items():
        assert f"### `[{section}]`" in README
        for name in cls.__dataclass_fields__:
            if cls is not cfgmod.GatesSection or name == "skip":
                assert f"| `{name}` |" in README, (section, name)


def test_readme_sample_config_is_valid(tmp_path):
    sample = README.split("## Point it at your own checkpoint", 1)[1].split("```toml\n", 1)[1].split("```", 1)[0]
    raw = tomllib.loads(sample)
    for rel in (raw["model"]["adapter"],):
        (tmp_path / rel).mkdir(parents=True)
    for rel in (raw["data"]["train"], raw["data"]["eval"]):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("")
    (tmp_path / "run.toml").write_text(sample)
    cfg = cfgmod.load(tmp_path / "run.toml")
    assert cfg.thresholds("artifact.lora_b_nonzero") == {"warn_share": 0.2}


def test_readme_has_two_setup_commands_and_ci_runs_the_test_one():
    setup = README.split("## Set up on a fresh machine", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```bash\n(.*?)\n```", setup, re.DOTALL)
    assert commands == ["pip install torch==2.13.0 -e . && sftcheck demo",
                        ("(command -v chromium || (apt-get update && apt-get install -y chromium)) && "
                        'pip install torch==2.13.0 -e ".[dev]" && ruff check . && OMP_NUM_THREADS=1 python -m pytest')]
    ci = (REPO / ".ci" / "run").read_text()
    assert ci.startswith("#!/usr/bin/env bash\n") and "set -uo pipefail" in ci
    runs = [line for line in ci.splitlines() if line.startswith(("pip ", "(command -v chromium"))]
    assert runs == [commands[1]]
    # pytest's exit 5 (no tests collected) is handled explicitly: it fails with a message.
    assert '"$rc" -eq 5' in ci and "exit 1" in ci
    assert os.access(REPO / ".ci" / "run", os.X_OK)


def test_console_script_is_declared():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["sftcheck"] == "sftcheck.cli:main"
