"""World 2 end to end, configured exactly as the README's GSM8K example says (the keys match:
``tests/test_world_chat.py``): every model test in ONE pytest subprocess (a module fixture,
shared by the assertions below) reads PASS with no false fail or warn."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sftcheck.checks.support.registry import load_all

REPO = Path(__file__).resolve().parent.parent

# Checks allowed to SKIP on healthy world 2, each with the reason its explanation must give:
# the README's GSM8K example configures no evaluation suites ([[suites]]), so the suite checks
# have nothing to evaluate (their parametrized tests skip before producing a result; the
# summary reports the skip).  Every other check has what it needs (adapter, base, data,
# scorer, human labels).
JUSTIFIED_SKIPS: dict[str, str] = {"models.tuned_vs_reference": "No model of role reference is configured",
                                   **{f"gap.{c}": "No model of role reference is configured" for c in (
                                       "reference_floor", "significance", "effect_size", "power", "verdict")}}
# World 2 configures one numeric suite: the checks of other suite kinds (and the conversation
# checks) are not run, each naming what is configured.
NOT_RUN_WITHOUT_SUITES = ("no [[suites]] of kind", "no [[suites]] in")


@pytest.fixture(scope="module")
def verdict2(world2, tmp_path_factory) -> dict:
    """Every model test against healthy world 2, once, as a user runs them."""
    from tests.test_report_zoo import tree_hash

    out = tmp_path_factory.mktemp("world2_e2e")
    before = tree_hash(world2.root)
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1",
           "SFTCHECK_CACHE_DIR": str(out / "generation-cache")}  # cold, and not in ~/.cache
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "sftcheck.plugin", "-p", "no:cacheprovider",
         str(REPO / "model_tests"), "-q", "-rA", "--sft-config", str(world2.config),
         "--sft-json", str(out / "verdict.json"), "--html", str(out / "report.html"), "--self-contained-html"],
        check=False, cwd=out, env=env, capture_output=True, text=True, timeout=1200)
    text = proc.stdout + proc.stderr
    assert "INTERNALERROR" not in text and "Traceback (most recent call last)" not in text, text[-4000:]
    verdict = json.loads((out / "verdict.json").read_text())
    verdict["_output"] = text
    verdict["_unchanged"] = tree_hash(world2.root) == before
    verdict["_page"] = (out / "report.html").read_text(encoding="utf-8")
    return verdict


def _not_passing(verdict: dict) -> list[str]:
    return [f"{c['id']}: {c['status']}: {c['explanation']}" for c in verdict["checks"]
            if c["status"] not in ("pass", "skip")]


def test_world2_configured_as_the_readme_says_reads_pass(verdict2):
    assert verdict2["verdict"] == "pass" and verdict2["complete"], "\n\n".join(_not_passing(verdict2))
    totals = {k: sum(stage[k] for stage in verdict2["counts"].values()) for k in ("fail", "warn", "error")}
    assert totals == {"fail": 0, "warn": 0, "error": 0}, totals
    unexplained = [t for t in verdict2["not_run"] if not any(w in t["message"] for w in NOT_RUN_WITHOUT_SUITES)]
    assert not [t for t in verdict2["not_run"] if "Skipped: " in t["message"]]  # said once: "skipped: <reason>"
    assert unexplained == [] and verdict2["pytest_exit_status"] == 0, verdict2["_output"][-4000:]
    assert verdict2["_unchanged"], "sftcheck wrote into world 2's checkpoint or data folder"


def test_world2_runs_every_registered_check(verdict2):
    """Every check but the per-suite ones (no suites configured) ran and produced a result."""
    ran = {c["id"] for c in verdict2["checks"]}
    missing = set(load_all()) - ran
    assert ran <= set(load_all()) and all(i.startswith(("suite.", "conversation.")) for i in missing), sorted(missing)
    assert {t["nodeid"].split("::")[0] for t in verdict2["not_run"]} <= {"model_tests/test_suite.py",
                                                                        "model_tests/test_conversation.py"}


def test_world2_skips_only_with_their_reasons(verdict2):
    for c in verdict2["checks"]:
        if c["status"] == "skip":
            assert c["id"] in JUSTIFIED_SKIPS, f"{c['id']} skipped on healthy world 2: {c['explanation']}"
            assert JUSTIFIED_SKIPS[c["id"]] in c["explanation"], c["explanation"]


def test_world2_outputs_stop_and_answer(verdict2):
    """What the verdict rests on: the tuned model stops on <|eot_id|> and its '#### N' is right."""
    by_id = {c["id"]: c for c in verdict2["checks"]}
    assert by_id["behaviour.stop_rate"]["status"] == "pass", by_id["behaviour.stop_rate"]["explanation"]
    assert by_id["behaviour.no_role_leak"]["status"] == "pass", by_id["behaviour.no_role_leak"]["explanation"]
    assert by_id["gate.tuned_floor"]["status"] == "pass", by_id["gate.tuned_floor"]["explanation"]


def test_world2_html_report_renders_its_evidence(verdict2):
    """The HTML verdict renders world 2's evidence (Llama-3 special tokens in token strips,
    '#### N' outputs) without a traceback, every special token escaped."""
    page = verdict2["_page"]
    assert "Traceback (most recent call last)" not in page
    assert "&lt;|eot_id|&gt;" in page and "<|eot_id|>" not in page
    assert "labels.eos_trained" in page and "behaviour.stop_rate" in page
