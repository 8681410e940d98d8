"""The one place sftcheck sets environment defaults (``os.environ.setdefault``: a value the
user set wins).  Applied by the pytest plugin at import, by the ``sftcheck`` console script,
and by the fixture world's builder, before transformers / torch read them.
"""
from __future__ import annotations

import os

# sftcheck makes no network calls: hub ids resolve from the local cache only.
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
# One thread: with two threads and another busy process, generation slowed ~100x on a
# 2-core machine; tokenizers' own thread pool warns (and can deadlock) after a fork.
THREADS = {"OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
DEFAULTS = {**OFFLINE, **THREADS}


def apply(*, threads: bool = True) -> None:
    """Set the defaults that are not set yet (``threads=False``: only the offline ones)."""
    for key, value in (DEFAULTS if threads else OFFLINE).items():
        os.environ.setdefault(key, value)
