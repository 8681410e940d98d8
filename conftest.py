"""Top-level pytest wiring for sftcheck.

The plugin itself lives in ``sftcheck.plugin`` so the installed console script can load
it with ``-p sftcheck.plugin`` outside this checkout; loading it here makes plain
``pytest`` in the repository behave the same:

* options: one group, ``--sft-*`` (``pytest --help``);
* config loading: ``--sft-config`` / ``[tool.sftcheck]`` / ``--sft-world``;
* session fixtures: tokenizer, model (loaded once), generations (computed once);
* report hooks: the verdict banner, check columns, evidence, ``--sft-json``.
"""
import os

# One thread: with two threads and another busy process, generation slowed ~100x here.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

pytest_plugins = ["sftcheck.plugin"]
