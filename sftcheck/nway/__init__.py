"""N models in one run (``[models.<name>]`` in the run config).

``spec``     the ``[models.<name>]`` tables and the ``[model]`` section's implied base / tuned:
             keys, roles, validation on load -> ``ModelSpec``
``runner``   one model at a time: load it, generate every eval set it is judged on (the eval
             file, each suite, the gap sentinel's cued prompts), score, free it -> ``ModelRuns``
``session``  the pytest fixtures (``sft_models``, ``sft_model_runs``)
"""
