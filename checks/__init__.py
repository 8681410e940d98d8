"""sftcheck's diagnostic library: pure check functions returning ``CheckResult``.

No pytest import and no model loading here: inputs are tokenizers, token ids, tensors,
configs, strings and file headers.  One module per area; a check with id
``<area>.<name>`` lives in ``checks/<area>.py`` as function ``<name>``.
"""
from checks.registry import REGISTRY, CheckSpec, check
from checks.result import CheckResult, Image, SideBySide, Status, Table, Text, TokenStrip

__all__ = ["REGISTRY", "CheckResult", "CheckSpec", "Image", "SideBySide", "Status", "Table",
           "Text", "TokenStrip", "check"]
