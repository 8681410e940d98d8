"""A hook's traceback shows the user's frames, not sftcheck's, under a header naming whose code raised."""
import textwrap

from sftcheck.checks.support import bounded

from sftcheck.user_traceback import HEADER, user_traceback


def test_user_frames_kept_runtime_frames_dropped(tmp_path, monkeypatch):
    (tmp_path / "myhooks.py").write_text(textwrap.dedent("""
        def format_example(q):
            return helper(q)

        def helper(q):
            raise ValueError(f"cannot format {q!r}")
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    import myhooks

    try:
        bounded.call(myhooks.format_example, "2+2", seconds=5, culprit="hook", fix="fix it")
    except ValueError as exc:
        tb = user_traceback(exc)
    assert tb.startswith(HEADER)
    assert "Traceback (most recent call last)" not in tb
    assert "myhooks.py" in tb and "in helper" in tb and "ValueError: cannot format '2+2'" in tb
    assert "bounded.py" not in tb


def test_sftcheck_own_error_keeps_every_frame():
    try:
        bounded.call(None, seconds=5, culprit="hook", fix="fix it")  # TypeError raised inside sftcheck
    except TypeError as exc:
        tb = user_traceback(exc.with_traceback(exc.__traceback__.tb_next))  # only sftcheck's frames left
    assert tb.startswith("Traceback (most recent call last)") and "bounded.py" in tb
