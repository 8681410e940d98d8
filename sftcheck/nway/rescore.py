"""Rescore every model's outputs at another length (``scoring.length_flip``): each output cut
right after its answer and padded past ``PAD_TO`` characters, scored by the very scoring the
eval set uses (the configured scorer or the answer parse against the gold answer), the verdicts
compared.  Pure data out (``LengthFlips`` per model and eval set)."""
from __future__ import annotations

from dataclasses import replace

from sftcheck.checks.support.nway import CUED, MAIN, ModelRuns
from sftcheck.checks.support.samples import Scored
from sftcheck.checks.support.score_length import Flip, LengthFlips, padded, truncated
from sftcheck.nway.runner import Session, eval_sets


def verdict(s: Scored) -> str:
    """The scorer's value when one is configured, else the outcome of the answer parse."""
    return f"score {s.score:g}" if s.score is not None else s.outcome.value


def length_flips(runs: ModelRuns, s: Session) -> list[LengthFlips]:
    from sftcheck.hooks import HookError
    from sftcheck.scorers import describe
    from sftcheck.session_model import ScoringError

    sets = {es.name: es for es in eval_sets(s)[0]}
    cfg = s.cfg
    scorer = describe(cfg)
    out = []
    for (model, name), run in runs.runs.items():
        if name == CUED or name not in sets or not sets[name].answers:  # the cued pass is the base again;
            continue                                                       # a refusal set has no answer to cut
        es = sets[name]
        pattern = cfg.format.answer_pattern if name == MAIN else next(
            (x.answer_regex(cfg.format.answer_pattern) for x in cfg.suites if x.name == name), cfg.format.answer_pattern)
        by = {x.id: x for x in run.scored}
        gens = run.generations.items
        cut = {g.id: t for g in gens if (t := truncated(g.text, pattern)) is not None}
        what = (scorer or "the answer parse + gold answer") if name == MAIN else "the suite's answer parse + gold answer"
        flips: list[Flip] = []
        try:
            for how, texts in (("padded", {g.id: padded(g.text) for g in gens}), ("truncated", cut)):
                if not texts:
                    continue
                items = tuple(replace(g, text=texts[g.id]) for g in gens if g.id in texts)
                again = {x.id: x for x in es.score(model, replace(run.generations, items=items))}
                for g in items:
                    if g.id in by and g.id in again and verdict(by[g.id]) != verdict(again[g.id]):
                        flips.append(Flip(g.id, how, verdict(by[g.id]), verdict(again[g.id]),
                                          len(next(x.text for x in gens if x.id == g.id)), len(g.text), g.text))
        except (HookError, ScoringError, ValueError) as exc:
            out.append(LengthFlips(model, name, what, len(gens), len(cut), error=str(exc)))
            continue
        out.append(LengthFlips(model, name, what, len(gens), len(cut), tuple(flips)))
    return out

