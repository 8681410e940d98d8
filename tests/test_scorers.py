"""Scorer backends against real servers on loopback: the fixture HTTP scorer (stdlib
http.server subprocess) and the fixture MCP scorer (the mcp SDK's server over stdio),
healthy and faulty (down, slow, malformed, dies mid-run): every fault is a clear error,
and the scores received before it are kept (partial)."""
from __future__ import annotations

import time
from pathlib import Path

import pytest
from sftcheck.checks import scoring
from sftcheck.checks.support.result import Status

from sftcheck import config as cfgmod
from sftcheck.scorers import Reward, ScoreRequest, parse_reward
from sftcheck.scorers.http_scorer import HttpScorer
from sftcheck.scorers.inprocess import InProcessScorer
from sftcheck.scorers.mcp_scorer import McpScorer
from sftcheck.scorers.records import RewardFormatError
from tests.scorer_servers import MCP_MODULE, free_port_url, http_server


def requests(n: int = 12) -> list[ScoreRequest]:
    """Half right, a quarter wrong, a quarter untagged."""
    out = []
    for i in range(n):
        text = [" <answer>7</answer>", " <answer>7</answer>", " <answer>8</answer>", " 7"][i % 4]
        out.append(ScoreRequest(f"e{i}", "Question: q\nAnswer:", text, {"id": f"e{i}", "answer": "7"}))
    return out


def check_healthy(run, n: int) -> None:
    assert not run.partial and not run.errors and run.fatal is None
    assert len(run.rewards) == n
    assert run.rewards["e0"] == Reward(3.0, {"format": 1.0, "correctness": 1.0, "safety": 1.0}, "")
    assert run.rewards["e2"].components["correctness"] == 0.0 and run.rewards["e2"].total == 2.0
    assert run.rewards["e3"].components["format"] == 0.0


# ------------------------------------------------------------------ reward parsing

def test_parse_reward_forms():
    assert parse_reward(2) == Reward(2.0)
    assert parse_reward({"score": 1, "format": 1, "message": "ok"}) == Reward(1.0, {"format": 1.0}, "ok")
    assert parse_reward({"components": {"a": 1, "b": 0.5}}).total == 1.5
    assert parse_reward({"reward": -10, "errors": ["Assistant start token not found"]}).message == \
        "Assistant start token not found"
    for bad in ("high", None, float("nan"), {"message": "no number"}, {"components": [1, 2]}, True):
        with pytest.raises(RewardFormatError):
            parse_reward(bad)


def test_inprocess_text_and_row_forms():
    def text_form(output_text, example):
        return {"correct": float(example["answer"] in output_text)}

    def row_form(row, output):
        return float(row["answer"] in output)

    def raises(output_text, example):
        raise KeyError("gold")

    assert InProcessScorer(text_form, "t").score(requests(4)).rewards["e0"].components == {"correct": 1.0}
    rf = InProcessScorer(row_form, "r")
    assert rf.row_form and rf.score(requests(4)).rewards["e2"].total == 0.0
    run = InProcessScorer(raises, "x").score(requests(4))
    assert not run.rewards and "KeyError" in run.errors["e0"] and "every call failed" in run.fatal


# ------------------------------------------------------------------ HTTP

def test_http_healthy():
    with http_server() as url:
        run = HttpScorer(url, batch_size=5, concurrency=2).score(requests(12))
    check_healthy(run, 12)
    assert url in run.backend


def test_http_down_names_the_url():
    url = free_port_url()
    run = HttpScorer(url, retries=1).score(requests(6))
    assert not run.rewards and run.partial
    assert "cannot connect" in run.fatal and url in run.backend


def test_http_slow_times_out():
    with http_server("--fault", "slow", "--delay", "3") as url:
        run = HttpScorer(url, timeout=0.5, retries=0, batch_size=6).score(requests(6))
    assert not run.rewards and "timeout" in run.fatal


@pytest.mark.parametrize("fault, words", [("malformed", "not JSON"), ("wrong_shape", "expected"),
                                          ("http500", "HTTP 500")])
def test_http_malformed_reply(fault, words):
    with http_server("--fault", fault) as url:
        run = HttpScorer(url, retries=1).score(requests(6))
    assert not run.rewards and words in run.fatal


def test_http_dies_mid_run_keeps_scores():
    with http_server("--fault", "die_after", "--after", "2") as url:
        run = HttpScorer(url, batch_size=3, concurrency=1, retries=1).score(requests(12))
    assert len(run.rewards) == 6 and len(run.errors) == 6 and run.partial
    assert run.rewards["e0"].total == 3.0
    result = scoring.reward_components({"tuned": run}, run.backend)
    assert result.status is Status.FAIL
    assert "6 of 12 outputs got no score" in result.explanation and "partial" in result.explanation
    assert result.metrics["components"]["reward"]["tuned"]["n"] == 6


def test_http_api_key_from_env(monkeypatch):
    scorer = HttpScorer("http://127.0.0.1:9/score", api_key_env="SFTCHECK_TEST_KEY")
    monkeypatch.delenv("SFTCHECK_TEST_KEY", raising=False)
    from sftcheck.scorers import ScorerError
    with pytest.raises(ScorerError, match="SFTCHECK_TEST_KEY"):
        scorer.score(requests(1))
    monkeypatch.setenv("SFTCHECK_TEST_KEY", "s3cret")
    assert scorer._headers()["Authorization"] == "Bearer s3cret"


# ------------------------------------------------------------------ MCP (stdio)

def mcp(*args: str, **kw) -> McpScorer:
    return McpScorer(command=MCP_MODULE + list(args), **kw)


def test_mcp_healthy():
    run = mcp().score(requests(12))
    check_healthy(run, 12)
    assert "MCP tool 'score'" in run.backend


def test_mcp_dies_mid_run_keeps_scores():
    run = mcp("--fault", "die_after", "--after", "5", concurrency=1).score(requests(12))
    assert len(run.rewards) == 5 and run.partial
    assert "connection" in run.fatal.lower() or "closed" in run.fatal.lower()
    assert set(run.errors) == {f"e{i}" for i in range(5, 12)}


def test_mcp_slow_times_out():
    run = mcp("--fault", "slow", "--delay", "3", timeout=0.5, retries=0, concurrency=2).score(requests(2))
    assert not run.rewards and all("timeout" in e for e in run.errors.values())


@pytest.mark.parametrize("fault, words", [("malformed", "not a number"), ("tool_error", "reported an error")])
def test_mcp_bad_results(fault, words):
    run = mcp("--fault", fault).score(requests(3))
    assert not run.rewards and all(words in e for e in run.errors.values())


def test_mcp_unknown_tool_and_bad_command():
    run = mcp(tool="grade").score(requests(2))
    assert "no tool 'grade'" in run.fatal and "score" in run.fatal
    run = McpScorer(command=["/nonexistent/scorer-server"]).score(requests(2))
    assert "cannot connect" in run.fatal and len(run.errors) == 2


def test_mcp_batch_tool_scores_the_same_in_fewer_round_trips(tmp_path):
    """``batch_tool``: records go batch_size at a time in one call each; the rewards are the
    single tool's, record for record (the server counts its calls with --started + die_after)."""
    single = mcp().score(requests(12))
    batched = mcp(batch_tool="score_batch", batch_size=5).score(requests(12))
    check_healthy(batched, 12)
    assert batched.rewards == single.rewards and "MCP tool 'score_batch'" in batched.backend
    # three calls for 12 records in fives: a server that dies after 2 calls keeps the first 10
    run = mcp("--fault", "die_after", "--after", "2", batch_tool="score_batch", batch_size=5,
              concurrency=1).score(requests(12))
    assert len(run.rewards) == 10 and set(run.errors) == {"e10", "e11"} and run.partial


def test_mcp_batch_tool_that_answers_the_wrong_count_is_each_records_error():
    run = mcp("--fault", "short_batch", batch_tool="score_batch", batch_size=4).score(requests(8))
    assert not run.rewards and len(run.errors) == 8
    assert all("returned 3 results for 4 items" in e and "one reward answer per item" in e
               for e in run.errors.values()), run.errors


def test_mcp_batch_tool_missing_on_the_server_names_the_key():
    run = mcp(batch_tool="score_many").score(requests(2))
    assert "no tool 'score_many'" in run.fatal and "score_batch" in run.fatal and "[scoring.mcp] batch_tool" in run.fatal


def _alive(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status")  # Linux: a zombie counts as ended
    try:
        return "State:\tZ" not in status.read_text()
    except OSError:
        return False


def test_mcp_keep_alive_scores_every_pass_in_one_server_session(tmp_path):
    started = tmp_path / "started"
    scorer = mcp("--started", str(started), keep_alive=True)
    try:
        check_healthy(scorer.score(requests(12)), 12)
        check_healthy(scorer.score(requests(12)), 12)
        pids = [int(x) for x in started.read_text().split()]
        assert len(pids) == 1 and _alive(pids[0]), pids  # one server for both passes
    finally:
        scorer.close()
    deadline = time.monotonic() + 10
    while _alive(pids[0]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pids[0]), "close() left the server running"


def test_mcp_keep_alive_connects_again_after_the_server_died(tmp_path):
    started = tmp_path / "started"
    scorer = mcp("--fault", "die_after", "--after", "5", "--started", str(started), concurrency=1, keep_alive=True)
    try:
        first = scorer.score(requests(12))
        assert len(first.rewards) == 5 and first.fatal
        second = scorer.score(requests(3))  # a new server: its first 3 calls are scored
        assert len(second.rewards) == 3 and not second.fatal, second.fatal
        assert len(started.read_text().split()) == 2
    finally:
        scorer.close()


def test_a_run_config_builds_one_shared_mcp_scorer(tmp_path):
    from sftcheck.scorers import spec

    path = tmp_path / "c.toml"
    path.write_text('[scoring.mcp]\ncommand = ["python", "-m", "sftcheck.fixtures.scorer_mcp"]\n')
    cfg = cfgmod.load(path)
    try:
        assert spec.build(cfg) is spec.build(cfg) and spec.build(cfg).keep_alive
    finally:
        spec.close_all()
    assert not spec._MCP  # closed and forgotten: a later run connects again


# ------------------------------------------------------------------ config

@pytest.mark.parametrize("scoring, words", [
    ('scorer = "m:f"\nserver = "http://127.0.0.1:1/score"', "can't have more than one scorer"),
    ('server = "ftp://host/score"', "not an http(s) URL"),
    ('server = "http://user:pw@127.0.0.1/score"', "credentials"),
    ('api_key_env = "sk-123abc!"', "NAME of an environment variable"),
    ('timeout = 0', "timeout"),
    ('[scoring.mcp]\ntool = "score"', "exactly one of command"),
    ('[scoring.mcp]\ncommand = ["x"]\nbatch_tool = 3', "batch_tool = 3 must be the batch tool's name"),
    ('[scoring.mcp]\ncommand = ["x"]\ntols = "s"', "Did you mean 'tool'"),
    ('[scoring.mcp]\ncommand = ["x"]\narguments = {text = "answer"}', "not a record field"),
    ('[scoring.mcp]\ncommand = ["x"]\narguments = {q = "example.question"}', "never pass the model's output"),
])
def test_scoring_config_errors(tmp_path, scoring, words):
    path = tmp_path / "run.toml"
    path.write_text(f"[scoring]\n{scoring}\n")
    with pytest.raises(cfgmod.ConfigError, match=None) as info:
        cfgmod.load(path)
    assert words in str(info.value) and str(path) in str(info.value)


def test_scoring_config_ok(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('[scoring]\ntimeout = 5\n[scoring.mcp]\ncommand = ["python", "-m", "x"]\n'
                    'arguments = {output = "output", answer = "example.answer"}\n')
    cfg = cfgmod.load(path)
    from sftcheck.scorers import build, describe
    backend = build(cfg)
    assert backend.timeout == 5 and backend.arguments == {"output": "output", "answer": "example.answer"}
    assert describe(cfg) == "MCP tool 'score' on python -m x"
