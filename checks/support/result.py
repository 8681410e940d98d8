"""The one result type every check returns.

A check computes first and decides second (compare safetensors' ``load_model`` returning
``(missing, unexpected)``): the measured value, the threshold it was held to and the
evidence are data; the status is the verdict.  Results are frozen and JSON-serialisable
(``to_dict``), and carry no HTML: the report layer escapes every string it renders.
"""
from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class Status(str, enum.Enum):
    PASS = "pass"
    FAIL = "fail"
    WARN = "warn"
    ERROR = "error"   # the check itself could not run (bad input it does not own, a hook raised)
    SKIP = "skip"     # not applicable (e.g. no training log configured)

    @property
    def is_bad(self) -> bool:
        return self in (Status.FAIL, Status.ERROR)


@dataclass(frozen=True)
class Table:
    """Tabular evidence: rows of plain values (strings are escaped when rendered).

    ``row_tags`` (optional, one tuple per row) makes the table filterable in the report:
    one collapsible view per tag (e.g. "discordant", "tuned incorrect") plus "all rows".
    """
    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    row_tags: tuple[tuple[str, ...], ...] = ()
    kind: str = field(default="table", init=False)

    def __post_init__(self) -> None:
        if self.row_tags and len(self.row_tags) != len(self.rows):
            raise ValueError(f"Table {self.title!r}: {len(self.row_tags)} row_tags for {len(self.rows)} rows")


@dataclass(frozen=True)
class Text:
    """Preformatted text evidence (a traceback, a rendering, a diff)."""
    title: str
    body: str
    kind: str = field(default="text", init=False)


@dataclass(frozen=True)
class TokenStrip:
    """One row's tokens with their training mask, rendered as a coloured strip.

    ``trained[i]`` is True where ``labels[i] != -100``; ``special[i]`` marks EOS/EOT/BOS.
    """
    title: str
    tokens: tuple[str, ...]
    token_ids: tuple[int, ...]
    trained: tuple[bool, ...]
    special: tuple[bool, ...]
    kind: str = field(default="tokens", init=False)


@dataclass(frozen=True)
class SideBySide:
    """Two renderings to compare (training vs inference prompt, base vs tuned output).

    ``context`` (optional): labelled texts shown above the pair, e.g. the prompt and the gold
    answer both outputs answer.
    """
    title: str
    left_label: str
    left: str
    right_label: str
    right: str
    context: tuple[tuple[str, str], ...] = ()
    kind: str = field(default="side_by_side", init=False)


class PlotError(RuntimeError):
    """A plot could not be drawn (the report shows this message in its place)."""


@dataclass(frozen=True, eq=False)
class Image:
    """A PNG (matplotlib) embedded in the report.  ``source`` is the PNG's bytes or a pending
    drawing (``plot_render.render``: anything with ``result() -> bytes``); ``png`` waits for
    it and raises ``PlotError`` when it could not be drawn."""
    title: str
    source: Any
    kind: str = field(default="image", init=False)

    @property
    def png(self) -> bytes:
        src = self.source
        if isinstance(src, (bytes, bytearray)):
            return bytes(src)
        if isinstance(src, PlotError):
            raise src
        try:
            data = bytes(src.result())
        except Exception as exc:  # any failure of the plot code: one clear message
            error = PlotError(f"plot {self.title!r} could not be drawn: {type(exc).__name__}: {exc}")
            object.__setattr__(self, "source", error)
            raise error from exc
        object.__setattr__(self, "source", data)
        return data

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Image):
            return NotImplemented
        return self.title == other.title and self._bytes() == other._bytes()

    def __hash__(self) -> int:
        return hash(self.title)

    def _bytes(self) -> bytes | str:
        try:
            return self.png
        except PlotError as exc:
            return str(exc)


Evidence = Table | Text | TokenStrip | SideBySide | Image


def _plain(value: Any) -> Any:
    """JSON-friendly copy of a measured value."""
    if isinstance(value, float) and math.isnan(value):  # NaN stays visible in JSON as a string
        return "nan"
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item"):  # numpy / torch scalars
        return _plain(value.item())
    return str(value)


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check.

    ``value`` is the headline measurement, ``threshold`` the rule it was held to in words
    (``"<= 0.05"``), ``metrics`` any further measurements, ``explanation`` what was seen
    and its most likely cause, ``fix`` what to do about it.  A check never writes its own
    ``id``: the registry (``@check``) attaches it to the result the check returns.
    """
    status: Status
    value: Any
    threshold: str | None
    explanation: str
    fix: str = ""
    metrics: Mapping[str, Any] = field(default_factory=dict)
    evidence: tuple[Evidence, ...] = ()
    id: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.status, Status):
            try:
                object.__setattr__(self, "status", Status(self.status))
            except ValueError:
                if isinstance(self.status, str) and "." in self.status:
                    raise TypeError(f"CheckResult({self.status!r}, ...): a check no longer passes its id; "
                                    "the registry attaches it. Drop the first argument.") from None
                raise
        from sftcheck.checks.support import caps  # bounded report / JSON whatever the data

        object.__setattr__(self, "evidence", tuple(caps.evidence(e) for e in self.evidence))
        object.__setattr__(self, "explanation", caps.text(self.explanation, caps.MAX_MESSAGE_CHARS))
        object.__setattr__(self, "fix", caps.text(self.fix, caps.MAX_MESSAGE_CHARS))
        object.__setattr__(self, "metrics", caps.value(self.metrics))
        object.__setattr__(self, "value", caps.value(self.value))

    def summary(self) -> str:
        """One paragraph that reads as the diagnosis (used as the pytest failure text)."""
        parts = [f"{self.status.value.upper()} {self.id}: measured {_fmt(self.value)}"]
        if self.threshold:
            parts[0] += f" (threshold {self.threshold})"
        parts.append(self.explanation)
        if self.fix and self.status is not Status.PASS:
            parts.append(f"Fix: {self.fix}")
        return "\n".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "status": self.status.value, "value": _plain(self.value),
            "threshold": self.threshold, "explanation": self.explanation, "fix": self.fix,
            "metrics": _plain(dict(self.metrics)),
            "evidence": [_evidence_dict(e) for e in self.evidence],
        }


def _evidence_dict(e: Evidence) -> dict[str, Any]:
    if isinstance(e, Image):
        try:
            return {"kind": e.kind, "title": e.title, "png_bytes": len(e.png)}
        except PlotError as exc:
            return {"kind": e.kind, "title": e.title, "png_bytes": 0, "error": str(exc)}
    out = {"kind": e.kind}
    for name in e.__dataclass_fields__:
        out[name] = _plain(getattr(e, name))
    return out


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
