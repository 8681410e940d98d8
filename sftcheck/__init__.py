"""sftcheck: pytest checks that diagnose SFT / LoRA fine-tuning runs.

``checks`` is the pure diagnostic library; this package is the runtime around it: the
run config, model and data loading, the generation engine, the pytest plugin and the
HTML/JSON verdict.
"""
__version__ = "0.1.0"
