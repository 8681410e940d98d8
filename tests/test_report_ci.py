"""CI-facing behaviour of the verdict, on small real pytest runs (subprocesses) of checks
defined here: ``--sft-fail-on warn``, JUnit properties, the Markdown summary, runs that do
not finish (interrupt, usage error) never reading PASS, path redaction, the config
repository's git provenance, and the ``sftcheck`` command's --version / --help / errors."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

CHECKS = r'''
import pytest
from sftcheck.checks.support.registry import check
from sftcheck.checks.support.result import CheckResult, Status

@check("demo.fine", stage="pretrain", title="fine")
def fine():
    return CheckResult(Status.PASS, 1.0, ">= 0.9", "every row is fine")

@check("demo.meh", stage="artifact", title="meh")
def meh():
    return CheckResult(Status.WARN, 0.2, "<= 0.1", "a few rows look odd", "look at them")

def test_fine(sft_check):
    sft_check(fine)

def test_meh(sft_check):
    sft_check(meh)
'''

INTERRUPTED = CHECKS + r'''
def test_interrupt():
    raise KeyboardInterrupt  # what Ctrl-C during the generation pass looks like to pytest

def test_after_1(sft_check):
    sft_check(fine)

def test_after_2(sft_check):
    sft_check(fine)
'''


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}


def pytest_run(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "sftcheck.plugin", "-p", "no:cacheprovider",
                           *args], cwd=root, env=_env(), capture_output=True, text=True, timeout=300, check=False)


def sftcheck_cmd(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sftcheck.cli", *args], cwd=root, env=_env(),
                          capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "test_demo.py").write_text(CHECKS)
    (tmp_path / "run.toml").write_text('[report]\ntitle = "ci"\n')
    return tmp_path


def test_warn_only_run_exits_0_and_1_with_fail_on_warn(project):
    plain = pytest_run(project, "test_demo.py", "--sft-config", "run.toml", "--junitxml", "a.xml")
    assert plain.returncode == 0, plain.stdout[-2000:]
    assert "sftcheck verdict: WARN" in plain.stdout and "  WARN  demo.meh: a few rows look odd" in plain.stdout
    strict = pytest_run(project, "test_demo.py", "--sft-config", "run.toml", "--junitxml", "b.xml",
                        "--sft-fail-on", "warn", "--sft-json", "v.json")
    assert strict.returncode == 1, strict.stdout[-2000:]
    assert "(failing: --sft-fail-on warn)" in strict.stdout
    assert json.loads((project / "v.json").read_text())["verdict"] == "warn"
    # JUnit: WARN is a property in both runs, and a failure under --sft-fail-on warn
    for name, failed in (("a.xml", False), ("b.xml", True)):
        cases = {c.get("name"): c for c in ET.parse(project / name).getroot().iter("testcase")}
        props = {p.get("name"): p.get("value") for p in cases["test_meh"].iter("property")}
        assert props["sftcheck_status"] == "warn" and props["sftcheck_check_id"] == "demo.meh"
        assert props["sftcheck_stage"] == "artifact" and props["sftcheck_threshold"] == "<= 0.1"
        assert props["sftcheck_value"] == "0.2"
        assert (cases["test_meh"].find("failure") is not None) is failed
        assert cases["test_fine"].find("failure") is None


def test_markdown_summary_names_the_warning(project):
    summary = project / "step_summary.md"
    summary.write_text("earlier step\n")
    proc = pytest_run(project, "test_demo.py", "--sft-config", "run.toml", "--sft-summary", str(summary))
    assert proc.returncode == 0
    text = summary.read_text()
    assert text.startswith("earlier step\n## ")  # appended, as $GITHUB_STEP_SUMMARY expects
    assert "sftcheck verdict: WARN" in text and "2 checks: 1 warn, 1 pass" in text
    assert "| WARN | `demo.meh` | artifact | 0.2 | <= 0.1 | a few rows look odd |" in text.replace("\\<", "<")


def test_missing_config_error_names_the_flag_typed(project):
    proc = sftcheck_cmd(project, "run", "--config", "missing.toml")
    assert proc.returncode == 4
    assert "--config missing.toml: no such file" in proc.stderr
    assert "--sft-config" not in proc.stderr and "Traceback" not in proc.stderr
    assert "sftcheck report:" not in proc.stdout


def test_version_and_run_help():
    version = sftcheck_cmd(REPO, "--version")
    import sftcheck
    assert version.returncode == 0 and version.stdout.strip() == f"sftcheck {sftcheck.__version__}"
    text = sftcheck_cmd(REPO, "run", "--help").stdout
    from sftcheck.checks.support.registry import STAGES
    for stage in STAGES:
        assert f"\n  {stage} " in text
    for flag in ("--sft-base", "--sft-adapter", "--sft-train", "--sft-eval", "--sft-device", "--sft-fail-on",
                 "--sft-summary", "--sft-redact-paths", "--fail-on", "--summary", "--redact-paths"):
        assert flag in text, flag
    assert "Every other option goes to pytest" in text


def test_provenance_is_the_config_repository_and_paths_redact(tmp_path):
    repo = tmp_path / "training-repo"
    repo.mkdir()
    (repo / "test_demo.py").write_text(CHECKS)
    (repo / "run.toml").write_text("")
    git = ["git", "-C", str(repo), "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "run.toml"], check=True)
    subprocess.run([*git, "commit", "-qm", "x"], check=True)
    sha = subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()
    index_before = (repo / ".git" / "index").read_bytes()
    proc = pytest_run(repo, "test_demo.py", "--sft-config", str(repo / "run.toml"), "--sft-json", "v.json",
                      "--html", "r.html", "--self-contained-html")
    assert proc.returncode == 0, proc.stdout[-2000:]
    prov = json.loads((repo / "v.json").read_text())["provenance"]
    assert prov["git commit"] == sha and prov["git repository"] == str(repo)
    (repo / "run.toml").write_text("# changed\n")
    pytest_run(repo, "test_demo.py", "--sft-config", str(repo / "run.toml"), "--sft-json", "v.json",
               "--sft-redact-paths", "--html", "r.html", "--self-contained-html", "--sft-summary", "s.md")
    verdict = json.loads((repo / "v.json").read_text())
    assert verdict["provenance"]["git commit"] == f"{sha} (uncommitted changes)"
    assert verdict["provenance"]["config source"] == "<config>/run.toml"
    assert str(repo) not in (repo / "v.json").read_text()
    page = (repo / "r.html").read_text()
    sft = page.split('<div class="sft-page">', 1)[1].split("<script>", 1)[0]
    assert str(repo) not in sft and "&lt;config&gt;/run.toml" in sft
    assert (repo / ".git" / "index").read_bytes() == index_before  # git status did not touch the index


def _docs_commands() -> list[str]:
    import shlex

    import yaml

    workflow = yaml.safe_load((REPO / "docs" / "github-actions.yml").read_text())
    runs = [step["run"] for job in workflow["jobs"].values() for step in job["steps"] if "run" in step]
    hook = yaml.safe_load((REPO / "docs" / "pre-commit-config.yaml").read_text())
    entries = [h["entry"] for r in hook["repos"] for h in r["hooks"]]
    return [shlex.split(c.replace('"$CONFIG"', "run.toml").replace('"$GITHUB_STEP_SUMMARY"', "s.md"))
            for c in [*runs, *entries] if c.startswith("sftcheck ")]


def test_ci_recipes_use_real_options():
    from sftcheck.cli import parser

    commands = _docs_commands()
    assert len(commands) == 3
    for argv in commands:
        ns, extra = parser().parse_known_args(argv[1:])
        assert ns.command == "run" and ns.config == "run.toml"
        assert ns.fail_on == "warn"
        for arg in extra:  # what goes on to pytest: markers, -q, junit
            assert arg in ("-m", "pretrain", "-q") or arg.startswith("--junitxml="), arg


def test_pre_commit_gate_passes_on_the_healthy_world(world, tmp_path):
    argv = next(a for a in _docs_commands() if "pretrain" in a and "--summary" not in a)
    argv = [a if a != "run.toml" else str(world.config) for a in argv]
    argv = [a if not a.startswith("reports/") else str(tmp_path / a) for a in argv]
    proc = sftcheck_cmd(tmp_path, *argv[1:])
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert (tmp_path / "reports" / "pretrain.html").is_file()
