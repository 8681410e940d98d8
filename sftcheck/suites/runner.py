"""Run one suite for base and tuned: prompts, one generation pass per variant through the
session's engine (``sftcheck.passes.Passes`` of the configured backend, cached like every
pass), the choices' log-likelihoods (multiple choice: the session's one loaded model), and
strict scoring -> ``SuiteRun``.  Suites differ only in rows, prompts and settings.
"""
from __future__ import annotations

from dataclasses import replace

from sftcheck.checks.support.answers import score_all
from sftcheck.checks.support.rows import Example
from sftcheck.checks.support.suites import LETTERS, SuiteRun, score_choice, score_loglik
from sftcheck.suites.loaders import SuiteFileError, SuiteRow, read_suite
from sftcheck.suites.spec import KIND_SHAPES, SuiteSpec

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


def choice_logprobs(model, tokenizer, prompts, rows, continuation: str, batch_size: int) -> list[list[float]]:
    """Sum of log-probabilities of each choice's continuation given the prompt (lm-eval's
    ``loglikelihood``), every (row, choice) pair in right-padded batches of ``batch_size``."""
    import torch

    from sftcheck.backends.hf import model_device, pad_id

    pairs = []  # (row index, context ids, continuation ids)
    for i, (p, r) in enumerate(zip(prompts, rows, strict=True)):
        ctx = list(p.input_ids) if p.input_ids is not None else tokenizer(p.text).input_ids
        for j, c in enumerate(r.choices):
            cont = tokenizer(continuation.format(letter=LETTERS[j], choice=c), add_special_tokens=False).input_ids
            pairs.append((i, ctx, list(cont)))
    sums: list[list[float]] = [[] for _ in rows]
    device, pad = model_device(model), pad_id(tokenizer)
    with torch.inference_mode():
        for start in range(0, len(pairs), batch_size):
            chunk = pairs[start:start + batch_size]
            seqs = [ctx + cont for _, ctx, cont in chunk]
            width = max(len(s) for s in seqs)
            ids = torch.full((len(seqs), width), pad, dtype=torch.long)
            mask = torch.zeros((len(seqs), width), dtype=torch.long)
            for k, s in enumerate(seqs):
                ids[k, :len(s)] = torch.tensor(s)
                mask[k, :len(s)] = 1
            logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits
            for k, (i, ctx, cont) in enumerate(chunk):
                if not cont:
                    sums[i].append(float("-inf"))
                    continue
                pos = torch.arange(len(ctx) - 1, len(ctx) + len(cont) - 1, device=logits.device)
                lp = torch.log_softmax(logits[k, pos].float(), dim=-1)
                target = torch.tensor(cont, device=logits.device)
                sums[i].append(float(lp.gather(1, target[:, None]).sum()))
    return sums


def choice_lengths(row: SuiteRow, continuation: str) -> list[int]:
    """Each choice's length for ``acc_norm``: the characters of its continuation without the
    leading space (lm-eval: ``len(choice)``, the delimiter kept apart)."""
    return [len(continuation.format(letter=LETTERS[j], choice=c).lstrip()) for j, c in enumerate(row.choices)]


def run_suite(spec: SuiteSpec, cfg, passes, tokenizer, hooks, loaded_model, models=None) -> SuiteRun:
    """One suite, base and tuned, generated by ``passes`` (``Passes.both``); ``loaded_model()``
    gives the loaded model for the choices' log-likelihoods (multiple choice only), or a
    string saying why there is none (then only the generated letter is scored). A suite
    that cannot be read or prompted becomes a ``SuiteRun`` with ``error`` (reported by
    ``suite.data``), not an exception.  A conversation suite runs every model of ``models``
    (``(name, role, opener)``; default: the session's base and tuned)."""
    limit = spec.generation.get("n_examples", cfg.generation.n_examples)
    pattern = spec.answer_regex(cfg.format.answer_pattern)
    blank = SuiteRun(spec.name, spec.kind, spec.shape, spec.data, pattern)
    if spec.kind == "conversation":
        from sftcheck.suites.conversation_runner import run_conversation_suite, session_models

        models = models or session_models(passes, tokenizer)
        return run_conversation_suite(spec, cfg, models, tokenizer, hooks, replace(blank, answer_pattern=""))
    if spec.kind in ("refusal", "winrate"):
        from sftcheck.hooks import HookError
        from sftcheck.suites.refusal import run_refusal
        from sftcheck.suites.winrate import run_winrate

        run = run_refusal if spec.kind == "refusal" else run_winrate
        try:
            return run(spec, cfg, passes, tokenizer, hooks, blank, limit)
        except (SuiteFileError, HookError) as exc:
            return replace(blank, error=str(exc))
    try:
        data = read_suite(spec, limit)
    except SuiteFileError as exc:
        return replace(blank, error=str(exc))
    blank = replace(blank, shape=data.shape, n_rows=data.n_read, problems=data.problems)
    if not data.rows:
        return blank
    if spec.kind == "multiple_choice" and data.shape != "mmlu":
        return replace(blank, error=f"kind multiple_choice needs rows with choices (shape mmlu), but the file "
                                    f"reads as shape {data.shape!r}. Fix: set kind to exact / numeric, or give "
                                    "each row question, choices and answer")
    if data.shape not in KIND_SHAPES[spec.kind]:
        return replace(blank, error=f"the file reads as shape {data.shape!r}, which kind {spec.kind!r} does not "
                                    f"score (it reads {' / '.join(KIND_SHAPES[spec.kind])}). Fix: set the kind that "
                                    "fits the file (mmlu: multiple_choice, simple_safety: refusal, alpaca_eval: "
                                    "winrate), or the shape")
    try:
        prompts = build_prompts(spec, cfg, tokenizer, data.rows, hooks)
    except SuiteFileError as exc:
        return replace(blank, error=str(exc))
    settings = settings_for(spec, cfg)
    generations = passes.both(prompts, settings)
    rows = {r.id: r for r in data.rows}
    if spec.kind == "multiple_choice":
        scored = {v: [score_choice(g.id, g.text, rows[g.id].choices, rows[g.id].gold, pattern)
                      for g in gs.items] for v, gs in generations.items()}
        loaded = loaded_model()
        if isinstance(loaded, str):  # the session has no local weights to score choices with
            return replace(blank, generations=generations, scored=scored, subjects={r.id: r.subject for r in data.rows},
                           loglik_note=loaded)
        loglik, norm = {}, {}
        lengths = [choice_lengths(r, spec.choice_continuation) for r in data.rows]
        for v in ("base", "tuned"):
            with loaded.variant(v) as model:
                sums = choice_logprobs(model, tokenizer, prompts, data.rows, spec.choice_continuation,
                                       settings.batch_size)
            loglik[v] = [score_loglik(r.id, s, r.gold) for r, s in zip(data.rows, sums, strict=True)]
            norm[v] = [score_loglik(r.id, s, r.gold, n) for r, s, n in zip(data.rows, sums, lengths, strict=True)]
        return replace(blank, generations=generations, scored=scored, loglik=loglik, loglik_norm=norm,
                       subjects={r.id: r.subject for r in data.rows})
    parser = hooks.answer_parser.fn if cfg.format.answer_parser and not spec.answer_pattern else None
    gold = {r.id: r.gold for r in data.rows}
    scored = {v: score_all(gs.items, gold, mode="strict", pattern=pattern, parser=parser,
                           rel_tol=spec.rel_tol, abs_tol=spec.abs_tol) for v, gs in generations.items()}
    return replace(blank, generations=generations, scored=scored)
