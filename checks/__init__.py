"""sftcheck's diagnostic library: pure check functions returning ``CheckResult``.

No pytest import and no model loading here: inputs are tokenizers, token ids, tensors,
configs, strings and file headers.  One module per area; a check with id
``<area>.<name>`` lives in ``checks/<area>.py`` as function ``<name>``; shared helpers
(result types, registry, parsers, statistics, evidence builders) live in ``checks/support/``.
Installed as ``sftcheck.checks`` (see ``pyproject.toml``: one top-level import name).
"""
from sftcheck.checks.support.registry import REGISTRY, CheckSpec, check
from sftcheck.checks.support.result import CheckResult, Image, SideBySide, Status, Table, Text, TokenStrip

__all__ = ["REGISTRY", "CheckResult", "CheckSpec", "Image", "SideBySide", "Status", "Table",
           "Text", "TokenStrip", "check"]
