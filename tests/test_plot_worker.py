"""sftcheck.plot_worker: a run's plots are drawn in a worker process, byte-identical to the
ones drawn in the run's own process, and any failure of the worker falls back to drawing
them there (a plot never goes missing, and a plot's own error is reported, not raised)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from sftcheck.checks import conversation, training
from sftcheck.checks.support import plot_render, plots, reward_plots, suites_table
from sftcheck.checks.support.metric_rows import MetricRow
from sftcheck.checks.support.result import CheckResult, Image, PlotError, Status

from sftcheck import plot_server
from sftcheck.plot_worker import Pending, PlotWorker
from sftcheck.report_render import render_image

REPO = Path(__file__).resolve().parent.parent


def _row(suite: str, metric: str, change: float, significant: bool) -> MetricRow:
    return MetricRow(suite=suite, metric=metric, base=0.4, tuned=0.4 + change, change=change,
                     change_kind="difference", base_ci=(0.3, 0.5), tuned_ci=(0.3 + change, 0.5 + change),
                     change_ci=(change - 0.1, change + 0.1), pvalue=0.01 if significant else 0.5,
                     test="paired bootstrap", flags=())


PLOTS = {
    "accuracy_ci": lambda: plots.accuracy_ci({"base": 0.3, "tuned": 0.8}, {"base": (0.2, 0.4), "tuned": (0.7, 0.9)},
                                             floor=0.5, ceiling=0.6),
    "rate_bars": lambda: plots.rate_bars({"base": {"answer": 0.5, "stop": 0.1}, "tuned": {"answer": 0.9, "stop": 1.0}}),
    "histogram": lambda: plots.histogram({"base": [1.0, 2.0, float("nan"), 2.5], "tuned": [3.0, 3.5]},
                                         title="reward", xlabel="reward"),
    "radar": lambda: reward_plots.radar({"base": {"a": 0.1, "b": 0.5, "c": 2.0}, "tuned": {"a": 0.9, "b": 0.4, "c": 3.0}},
                                        {"a": (0.0, 1.0), "b": (0.0, 1.0), "c": (1.0, 4.0)}),
    "hist_and_box": lambda: reward_plots.hist_and_box("format", {"base": [0.0, 1.0, 1.0], "tuned": [1.0, 1.0]}),
    "components_grid": lambda: reward_plots.components_grid({"format": {"base": [0.0, 1.0], "tuned": [1.0, 1.0]},
                                                             "length": {"base": [10.0, 30.0], "tuned": [12.0, 14.0]}}),
    "suites_table": lambda: suites_table.plot([_row("gsm8k", "accuracy", 0.3, True), _row("mmlu", "accuracy", -0.02, False)]),
    "training_curve": lambda: training._curve([(1, 2.0), (2, 1.5), (3, 1.2)], [(1, 3.0), (2, 2.0), (3, 1.0)]),
}


@pytest.fixture
def worker():
    w = PlotWorker()
    previous = plot_render.install(w)
    yield w
    plot_render.install(previous)
    w.close()


def test_without_a_worker_plots_are_drawn_at_once():
    assert plot_render._RENDERER is None  # the self-tests' own session installs none
    image = PLOTS["accuracy_ci"]()
    assert isinstance(image.source, bytes) and image.png.startswith(b"\x89PNG")


@pytest.mark.parametrize("name", sorted(PLOTS))
def test_the_worker_draws_each_plot_byte_identical_to_drawing_it_here(worker, name):
    plot_render.install(None)
    inline = PLOTS[name]()
    assert isinstance(inline.source, bytes)  # drawn here
    plot_render.install(worker)
    drawn = PLOTS[name]()
    pending = drawn.source
    assert isinstance(pending, Pending), "the plot was not sent to the worker"
    png = drawn.png
    assert pending.failed is None, pending.failed  # drawn by the worker, not here after all
    assert png == inline.png and png.startswith(b"\x89PNG")


def _pid_png() -> bytes:  # not a plot function: the worker refuses it, the run draws it itself
    return str(os.getpid()).encode()


def test_the_worker_only_runs_plot_functions_of_sftcheck_checks():
    for ref in ("os:system", "sftcheck.checks.support.plots:to_png", "builtins:eval", "sftcheck.cli:main_png"):
        with pytest.raises(ValueError, match="not a plot function"):
            plot_server.resolve(ref)
    assert plot_server.resolve("sftcheck.checks.support.plots:_accuracy_ci_png") is plots._accuracy_ci_png


def test_a_refused_function_is_drawn_here_and_says_why(worker):
    pending = worker(_pid_png, (), {})
    assert int(pending.result()) == os.getpid()
    assert "not a plot function" in pending.failed


def test_data_that_is_not_plain_json_is_drawn_here_at_once(worker):
    class Opaque:
        pass

    out = worker(_opaque_png, (Opaque(),), {})
    assert out == b"drawn here" and worker._proc is None  # no worker started for it


def _opaque_png(_obj) -> bytes:
    return b"drawn here"


def test_a_worker_that_dies_mid_run_falls_back_to_drawing_here(worker):
    first = PLOTS["accuracy_ci"]()
    assert first.png.startswith(b"\x89PNG") and first.source is not None
    worker._proc.kill()
    worker._proc.wait()
    second = PLOTS["rate_bars"]()
    assert second.png.startswith(b"\x89PNG")  # drawn here: the worker is gone
    assert worker.given_up
    third = PLOTS["histogram"]()
    assert isinstance(third.source, bytes)  # given up: later plots are drawn here at once


def test_a_plot_that_fails_is_reported_in_the_report_and_json_not_raised(worker):
    image = Image("broken plot", plot_render.render(plots._histogram_png, {"base": [1.0, 2.0]}, "t", "x", "not-bins"))
    with pytest.raises(PlotError, match="'broken plot' could not be drawn"):
        _ = image.png
    assert "could not be drawn" in render_image(image)
    result = CheckResult(Status.PASS, 1, None, "fine", evidence=(image,))
    ev = result.to_dict()["evidence"][0]
    assert ev["png_bytes"] == 0 and "could not be drawn" in ev["error"]


def test_at_report_time_a_busy_worker_leaves_later_plots_to_the_run(worker):
    """The report reads a plot the worker has not reached (it is drawing earlier ones): the run's
    own process draws it rather than wait, so both cores draw the queue from either end."""
    first, second = PLOTS["components_grid"](), PLOTS["accuracy_ci"]()
    pending_first, pending_second = first.source, second.source
    assert second.png.startswith(b"\x89PNG") and "still drawing earlier plots" in pending_second.failed
    assert first.png.startswith(b"\x89PNG") and pending_first.failed is None  # the oldest: waited for


def test_images_compare_by_their_pngs(worker):
    a, b = PLOTS["accuracy_ci"](), PLOTS["accuracy_ci"]()
    assert a == b and a != PLOTS["rate_bars"]()


def test_a_run_draws_in_the_worker_and_ends_it(pytester, world):
    """A diagnosis run installs the worker for its plots (here training.log_sane's curve), the
    report carries the PNG, and when the run ends the worker has exited and no renderer is left."""
    probe = pytester.path / "probe.json"
    pytester.syspathinsert()
    pytester.makepyfile(probe_plugin=f"""
import json
from sftcheck.checks.support import plot_render

def pytest_sessionfinish(session):
    w = plot_render._RENDERER
    json.dump({{"worker": type(w).__name__, "pid": w._proc.pid if w is not None and w._proc else None}},
              open({str(probe)!r}, "w"))
""")
    out = pytester.path / "out"
    result = pytester.runpytest_inprocess(
        "-p", "sftcheck.plugin", "-p", "probe_plugin", "-p", "no:cacheprovider", str(REPO / "model_tests"),
        "-m", "training",
        "--sft-world", "--html", str(out / "r.html"), "--self-contained-html", "--sft-json", str(out / "v.json"))
    assert result.ret == 0, result.stdout.str()[-2000:]
    seen = json.loads(probe.read_text())
    assert seen["worker"] == "PlotWorker" and seen["pid"], seen
    assert plot_render._RENDERER is None
    assert not Path(f"/proc/{seen['pid']}").exists() or "Z" in Path(f"/proc/{seen['pid']}/stat").read_text().split()[2]
    verdict = json.loads((out / "v.json").read_text())
    log = next(c for c in verdict["checks"] if c["id"] == "training.log_sane")
    assert any(e["kind"] == "image" and e["png_bytes"] > 0 for e in log["evidence"]), log
    assert 'src="data:image/png;base64,' in (out / "r.html").read_text()


def test_the_worker_is_off_on_one_core_or_when_asked(monkeypatch):
    from sftcheck import plot_worker

    monkeypatch.setenv("SFTCHECK_PLOT_WORKER", "0")
    assert not plot_worker.wanted()
    monkeypatch.setenv("SFTCHECK_PLOT_WORKER", "1")
    assert plot_worker.wanted()
    monkeypatch.delenv("SFTCHECK_PLOT_WORKER")
    monkeypatch.setattr(plot_worker, "usable_cores", lambda: 1)
    assert not plot_worker.wanted()
    monkeypatch.setattr(plot_worker, "usable_cores", lambda: 2)
    assert plot_worker.wanted()


def test_conversation_plot_draws_in_the_worker(worker):
    png = conversation._plot_png("chat", [(0, "memory", "tuned", [1, 2], [1.0, 0.5]),
                                          (0, "memory", "base", [1, 2], [0.5, 0.0])])
    sent = plot_render.render(conversation._plot_png, "chat", [(0, "memory", "tuned", [1, 2], [1.0, 0.5]),
                                                               (0, "memory", "base", [1, 2], [0.5, 0.0])])
    assert isinstance(sent, Pending) and sent.result() == png
