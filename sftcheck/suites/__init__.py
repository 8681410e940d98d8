"""Evaluation suites (``[[suites]]`` in the run config): several eval files of different kinds
(``exact``, ``numeric``, ``multiple_choice``) scored for base and tuned with one model load.

``spec``     the ``[[suites]]`` table: keys, fixed choices, validation on load
``loaders``  the public file shapes (MMLU, GSM8K, plain QA) -> ``SuiteRow``
``runner``   one generation pass per suite and variant through the engine, choice log-likelihoods,
             scoring -> ``sftcheck.checks.support.suites.SuiteRun``
``session``  the pytest fixtures and the per-suite parametrisation of ``model_tests/test_suite.py``
"""
