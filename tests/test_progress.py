"""Live progress reaches the terminal under pytest's (fd) capture, and nowhere else: not
into the captured output of the test (so not into the report's log either)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

TEST = r'''
import sys
from sftcheck.progress import LiveProgress

def test_long_work():
    with LiveProgress(8, "tuned: generating", unit="ex") as bar:
        for _ in range(8):
            bar.update(1)
    print("ordinary stdout, captured")
    sys.stderr.write("ordinary stderr, captured\n")
'''


def test_progress_is_on_the_terminal_not_in_captured_output(tmp_path):
    (tmp_path / "test_work.py").write_text(TEST)
    (tmp_path / "run.toml").write_text("")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "sftcheck.plugin", "-p", "no:cacheprovider", "test_work.py",
         "--sft-config", "run.toml", "--capture=fd", "-rP"],
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"},
        capture_output=True, text=True, timeout=300, check=False)
    out = proc.stdout
    assert proc.returncode == 0, out[-2000:]
    # not a TTY here: start, each quarter, end — written live, before the test's result line
    lines = [ln for ln in out.splitlines() if "sftcheck tuned: generating:" in ln]
    assert [ln.split(": generating: ", 1)[1].split(" ", 1)[0] for ln in lines] == \
        ["0/8", "2/8", "4/8", "6/8", "8/8"], out
    # the captured sections (what -rP and the report would show) hold only the test's own output
    captured = out.split("Captured stdout call", 1)[1]
    assert "ordinary stdout, captured" in captured and "generating" not in captured
    assert "generating" not in out.split("Captured stderr call", 1)[1]
