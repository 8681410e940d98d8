"""Evaluation suites (``[[suites]]`` in the run config): several eval files of different kinds
(``exact``, ``numeric``, ``multiple_choice``, ``refusal``, ``winrate``, ``conversation``) scored
for base and tuned with one model load.

``spec``     the ``[[suites]]`` table: keys, fixed choices, validation on load
``loaders``  the public file shapes (MMLU, GSM8K, SimpleSafetyTests, AlpacaEval, plain QA) -> ``SuiteRow``
``runner``   one generation pass per suite and variant through the engine, choice log-likelihoods
             (acc and acc_norm), scoring -> ``sftcheck.checks.support.suites.SuiteRun``
``refusal``  refusal suites: harmful + benign prompts, the refusal classifier and its calibration
``winrate``  win-rate suites: the pairwise judge in both orders, the human-labelled pairs
``conversation_runner`` / ``conversations``  multi-turn conversation suites
``session``  the pytest fixtures and the per-suite parametrisation of ``model_tests/test_suite.py``
             (each check only over the suites of the kinds it scores, ``checks.suite.KINDS_OF``)
"""
