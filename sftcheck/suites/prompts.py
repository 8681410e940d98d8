"""A suite's prompts and generation settings: the suite's template, the run's prompt builder,
or lm-eval's MMLU layout; the run's [generation] with the suite's overrides."""
from __future__ import annotations

from dataclasses import replace

from sftcheck.checks.support.rows import Example
from sftcheck.checks.support.suites import LETTERS
from sftcheck.suites.loaders import SuiteFileError, SuiteRow
from sftcheck.suites.spec import SuiteSpec

# lm-eval's MMLU prompt, without the few-shot block.
MC_TEMPLATE = ("The following is a multiple choice question about {subject}.\n\n{question}\n{choices}\n"
               "Answer:")


def settings_for(spec: SuiteSpec, cfg):
    from sftcheck.generation import GenerationSettings

    over = {k: v for k, v in spec.generation.items() if k != "n_examples"}
    return replace(GenerationSettings.from_config(cfg), **over)


def _lettered(choices) -> str:
    return "\n".join(f"{LETTERS[i]}. {c}" for i, c in enumerate(choices))


def build_prompts(spec: SuiteSpec, cfg, tokenizer, rows: tuple[SuiteRow, ...], hooks) -> list:
    """The prompt of each row: the suite's template, else (exact / numeric) the run's prompt
    builder on the question, else (multiple choice) lm-eval's MMLU layout."""
    from sftcheck.generation import Prompt

    template = spec.prompt_template or (MC_TEMPLATE if spec.kind == "multiple_choice" else None)
    out = []
    for r in rows:
        if template is not None:
            text = template.format(question=r.question, choices=_lettered(r.choices),
                                   subject=(r.subject or "general knowledge").replace("_", " "))
            out.append(Prompt(r.id, text, tuple(int(i) for i in tokenizer(text).input_ids)))
            continue
        ex = Example(file=spec.data, row=r.row, id=r.id, question=r.question, answer=r.gold,
                     raw={"id": r.id, "question": r.question, "answer": r.gold})
        try:
            text, ids = hooks.prompt(ex, tokenizer)
        except Exception as exc:  # the user's builder raised: the suite's finding
            raise SuiteFileError(f"the run's prompt builder {hooks.prompt_builder.label} raised "
                                 f"{type(exc).__name__}: {exc} on row {r.row} ({r.id!r}). Fix: set a "
                                 "prompt_template for this suite, or fix the builder") from exc
        out.append(Prompt(r.id, text, tuple(ids)))
    return out
