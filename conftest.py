"""Top-level pytest wiring for sftcheck.

The plugin itself lives in ``sftcheck.plugin`` so the installed console script can load
it with ``-p sftcheck.plugin`` outside this checkout; loading it here makes plain
``pytest`` in the repository behave the same:

* options: one group, ``--sft-*`` (``pytest --help``);
* config loading: ``--sft-config`` / ``[tool.sftcheck]`` / ``--sft-world``;
* session fixtures: tokenizer, model (loaded once), generations (computed once);
* report hooks: the verdict banner, check columns, evidence, ``--sft-json``.
"""
# Environment defaults (one thread, hub offline) are set by sftcheck.environment when the
# plugin is imported.
pytest_plugins = ["sftcheck.plugin"]
