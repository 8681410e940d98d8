"""Multi-turn conversation suites (``[[suites]] kind = "conversation"``): does the tuned model keep
what was said earlier — entities, a constraint and its update, a preference, the topic — turn
after turn, and does its format hold across turns?

Per-conversation success (tuned vs base, exact McNemar, Wilson) is ``suite.accuracy`` of the
suite; here: the turn at which success drops (``conversation.turn_success``), the format of
every turn (``conversation.turn_format``) and the judge's agreement with human labels
(``conversation.judge_calibrated``).  Gates per suite: ``[gates."conversation.<suite>.<metric>"]``.
"""
from __future__ import annotations

import math
import statistics
from collections import Counter

from sftcheck.checks.support.conversations import (
    ConversationRun,
    categories,
    drop_pvalue,
    paired_turns,
    success_table_rows,
    turn_cells,
)
from sftcheck.checks.support.outputs import find_leak
from sftcheck.checks.support.plot_render import drawing, render
from sftcheck.checks.support.registry import check, see
from sftcheck.checks.support.result import CheckResult, Image, Status, Table
from sftcheck.checks.support.samples import FinishReason
from sftcheck.checks.support.stops import run_on_note
from sftcheck.checks.support.suites import SuiteRun


def _not_run(run: SuiteRun | None) -> CheckResult | None:
    if run is None:
        return CheckResult(Status.SKIP, None, None, 'No conversation suite: add a [[suites]] block with kind = '
                           '"conversation" (README "Multi-turn conversations").')
    if run.error:
        return CheckResult(Status.SKIP, None, None, f"Conversation suite {run.name!r} could not be run "
                           f"({run.error}); see {see('suite.data')}.")
    conv = run.conversation
    if conv is None or not any(r.passed is not None for r in conv.results.get(conv.tuned, ())):
        return CheckResult(Status.SKIP, 0, None, f"Conversation suite {run.name!r}: no turn was scored; see "
                           f"{see('suite.data')}.")
    return None


def _table(conv: ConversationRun) -> Table:
    return Table(f"suite {conv.suite}: success per category and turn (Wilson 95 %)",
                 ("category", "turn", "n", *conv.models), tuple(success_table_rows(conv)))


def _plot(conv: ConversationRun) -> Image | None:
    lines = []  # (category index, category, model, turns, success rates)
    for i, cat in enumerate(categories(conv)):
        for m in conv.models:
            cells = {t: c for (c_cat, t), c in turn_cells(conv, m).items() if c_cat == cat}
            if cells:
                xs = sorted(cells)
                lines.append((i, cat, m, xs, [float(cells[t].rate) for t in xs]))
    if not lines:
        return None
    return Image(f"suite {conv.suite}: success by turn", render(_plot_png, conv.suite, lines))


@drawing
def _plot_png(suite: str, lines: list[tuple[int, str, str, list[int], list[float]]]) -> bytes:
    from matplotlib.figure import Figure
    from sftcheck.checks.support.plots import to_png

    fig = Figure(figsize=(6.4, 3.4))
    ax = fig.add_subplot(1, 1, 1)
    styles = {"tuned": "-", "base": ":"}
    for i, cat, m, xs, rates in lines:
        ax.plot(xs, rates, styles.get(m, "--"), marker="o", color=f"C{i}", label=f"{cat} ({m})")
    ax.set_ylim(-0.05, 1.05)
    ax.set_xlabel("turn")
    ax.set_ylabel("success")
    ax.set_title(f"{suite}: success by turn")
    ax.legend(fontsize=7, loc="best")
    return to_png(fig)


def _transcripts(conv: ConversationRun, keys: list[tuple[str, int]], title: str) -> Table:
    """The failing replies at their turn, with what the model saw before (its own replies)."""
    model = conv.tuned
    by = {(r.conversation, r.turn): r for r in conv.results.get(model, ())}
    convs = {c.id: c for c in conv.conversations}
    rows = []
    for cid, turn in keys[:8]:
        c = convs[cid]
        earlier = " | ".join(f"{j}. user: {c.turns[j - 1].user} / {model}: {by[(cid, j)].reply}"
                             for j in range(1, turn) if (cid, j) in by)
        r = by[(cid, turn)]
        rows.append((cid, c.category, turn, earlier, c.turns[turn - 1].user, r.reply, "; ".join(r.failures)))
    return Table(title, ("conversation", "category", "turn", "earlier turns", "user", "reply", "broken"), tuple(rows))


def _miss_kind(failure: str) -> str:
    """``"constraint: 'grams' missing (set at turn 1)"`` -> ``"constraint: a required term missing (set at turn 1)"``."""
    kind, _, rest = failure.partition(": ")
    since = rest[rest.index(" (set at"):] if " (set at" in rest else ""
    if kind == "judge":
        return "judge: expectation not met"
    what = ("a required term missing" if " missing" in rest else "a forbidden term present" if " present" in rest
            else "none of the topic's words")
    return f"{kind}: {what}{since}"


def _metrics(conv: ConversationRun) -> dict:
    out: dict = {"suite": conv.suite, "models": list(conv.models), "prompt_via": conv.prompt_via,
                 "conversations": len(conv.conversations), "per_turn": {}, "notes": list(conv.notes)}
    for m in conv.models:
        per: dict = {}
        for (cat, turn), cell in turn_cells(conv, m).items():
            per.setdefault(cat, {})[str(turn)] = {"k": cell.k, "n": cell.n, "rate": cell.rate,
                                                   "ci": list(cell.ci) if cell.ci else None}
        out["per_turn"][m] = per
    return out


@check("conversation.turn_success", stage="gate", title="Conversation success holds turn after turn")
def turn_success(run: SuiteRun | None, *, min_turn_success: float = 0.5, max_drop: float = 0.2,
                 alpha: float = 0.05) -> CheckResult:
    """For each category, the tuned model's success at every turn is >= ``min_turn_success`` and
    not significantly below its first scored turn (paired exact McNemar p < ``alpha``) by more
    than ``max_drop``; a failure names the first turn where success drops and the category."""
    skipped = _not_run(run)
    if skipped:
        return skipped
    conv: ConversationRun = run.conversation
    model = conv.tuned
    cells = turn_cells(conv, model)
    thr = (f"per (category, turn): tuned success >= {min_turn_success:g} and no significant drop (exact McNemar "
           f"p < {alpha:g}) of more than {max_drop:g} from the category's first scored turn")
    problems: list[tuple[int, str, str]] = []  # (turn, category, why)
    for cat in categories(conv):
        turns = sorted(t for (c, t) in cells if c == cat)
        if not turns:
            continue
        first = cells[(cat, turns[0])]
        for t in turns:
            cell = cells[(cat, t)]
            why = []
            if cell.rate < min_turn_success:
                why.append(f"{cell.rate:.2f} < {min_turn_success:g}")
            if t != turns[0] and first.rate - cell.rate > max_drop:
                p = drop_pvalue(paired_turns(conv, model, cat, turns[0], t))
                if p < alpha:
                    why.append(f"down {first.rate - cell.rate:.2f} from {first.rate:.2f} at turn {turns[0]} "
                               f"(exact McNemar p = {p:.3g})")
            if why:
                problems.append((t, cat, f"{cat}: {cell.text()} at turn {t} ({'; '.join(why)})"))
                break
    table, plot = _table(conv), _plot(conv)
    evidence: tuple = (table, *((plot,) if plot else ()))
    metrics = _metrics(conv)
    n_scored = sum(c.n for c in cells.values())
    if not problems:
        worst = min(cells.values(), key=lambda c: c.rate)
        return CheckResult(Status.PASS, worst.rate, thr,
                           f"Suite {conv.suite!r}: tuned success holds across {conv.n_turns} turns in "
                           f"{len(categories(conv))} categories ({n_scored} scored replies; lowest cell {worst.text()}); "
                           f"prompts rendered by {conv.prompt_via}." + "".join(f" Note: {n}." for n in conv.notes),
                           metrics=metrics, evidence=evidence)
    turn = min(t for t, _, _ in problems)
    at = [p for p in problems if p[0] == turn]
    cats = [c for _, c, _ in at]
    failing = [r for r in conv.results[model] if r.turn == turn and r.category in cats and r.passed is False]
    common = Counter(_miss_kind(f) for r in failing for f in r.failures).most_common(1)
    lost = [r for r in failing if r.history_lost]
    base_note = ""
    base_model = next((m for m in conv.models if conv.roles.get(m, m) == "base"), None)
    if base_model is not None:
        base = turn_cells(conv, base_model)
        base_note = " Base at that turn: " + ", ".join(f"{c} {base[(c, turn)].text()}" for c in cats
                                                        if (c, turn) in base) + "."
    metrics.update({"drop_turn": turn, "drop_categories": cats, "history_lost": len(lost)})
    head = (f"Suite {conv.suite!r}: tuned success drops at turn {turn} in {', '.join(cats)}: "
            f"{'; '.join(w for _, _, w in at)}.{base_note}"
            + (f" Most common miss: {common[0][0]} ({common[0][1]} of {len(failing)})." if common else ""))
    evidence = (table, *((plot,) if plot else ()),
                _transcripts(conv, [(r.conversation, r.turn) for r in failing], f"failing replies at turn {turn}"))
    if lost:
        gone = sorted({j for r in lost for j in r.history_lost})
        return CheckResult(
            Status.FAIL, turn, thr,
            head + f" In {len(lost)} of those {len(failing)} conversations the prompt of turn {turn} no longer holds "
            f"the user's message of turn(s) {', '.join(map(str, gone))}: {conv.prompt_via} drops earlier turns "
            "(a history window / truncation), so the model never saw what it is asked to keep.",
            fix="Fix the prompt rendering, not the model: render every earlier turn (raise or remove the history "
                "window / max-turns limit of the builder; keep the conversation within the context length), then "
                "rerun.", metrics=metrics, evidence=evidence)
    return CheckResult(
        Status.FAIL, turn, thr,
        head + f" The prompts hold every earlier turn, so the model itself loses what was said before turn {turn}. "
        "Most likely: it was trained on single-turn rows (or on multi-turn rows whose earlier turns were "
        "dropped / packed without their history), so it never learned to look back; or the fact / constraint "
        "sits further back than the contexts it was trained on.",
        fix="Train on whole conversations (every assistant turn trained with the full history before it, earlier "
            "turns masked), including constraints set early and updated later; re-threshold with "
            f'[gates."conversation.{conv.suite}.turn_success"] if this turn is expected to be hard.',
        metrics=metrics, evidence=evidence)


@check("conversation.turn_format", stage="gate", title="Conversation replies keep their format at every turn")
def turn_format(run: SuiteRun | None, *, min_stop_rate: float = 0.9, max_leak_rate: float = 0.0,
                max_length_growth: float = 3.0) -> CheckResult:
    """At every turn the tuned replies end by a stop token / string (share >= ``min_stop_rate``),
    write no role header or template token (share <= ``max_leak_rate``) and do not run away in
    length (median new tokens <= ``max_length_growth`` x turn 1's)."""
    skipped = _not_run(run)
    if skipped:
        return skipped
    conv: ConversationRun = run.conversation
    sets = conv.passes[conv.tuned]
    thr = (f"every turn: stop rate >= {min_stop_rate:g}, role-leak rate <= {max_leak_rate:g}, median length <= "
           f"{max_length_growth:g} x turn 1's")
    rows, problems, bad_ids = [], [], {}
    first_median = None
    for turn, gs in enumerate(sets, 1):
        items = gs.items
        n = len(items)
        stopped = sum(g.finish_reason in (FinishReason.EOS, FinishReason.STOP) for g in items)
        leaks = {g.id: m for g in items if (m := find_leak(g, conv.markers, conv.stop_tokens))}
        capped = sum(g.finish_reason is FinishReason.LENGTH for g in items)
        median = statistics.median([g.new_tokens for g in items]) if items else math.nan
        first_median = median if first_median is None else first_median
        growth = median / first_median if first_median else (math.inf if median else 1.0)
        rows.append((turn, n, f"{stopped / n:.2f}" if n else "n/a", len(leaks), capped, median, f"×{growth:.2f}"))
        why = []
        if n and stopped / n < min_stop_rate:
            why.append(f"only {stopped}/{n} replies stopped ({capped} ran to max_new_tokens={conv.max_new_tokens})")
            bad_ids.setdefault(turn, [g.id for g in items if g.finish_reason not in (FinishReason.EOS,
                                                                                      FinishReason.STOP)])
        if n and len(leaks) / n > max_leak_rate:
            top = Counter(leaks.values()).most_common(1)[0]
            why.append(f"{len(leaks)}/{n} replies write a role header / template token ({top[0]!r} x{top[1]})")
            bad_ids.setdefault(turn, list(leaks))
        if turn > 1 and growth > max_length_growth:
            why.append(f"median length {median:g} tokens is ×{growth:.2f} turn 1's ({first_median:g})")
            bad_ids.setdefault(turn, [g.id for g in items if g.new_tokens > max_length_growth * first_median])
        if why:
            problems.append((turn, "; ".join(why)))
    table = Table(f"suite {conv.suite}: tuned replies per turn", ("turn", "replies", "stop rate", "role leaks",
                                                                  "ran to the cap", "median tokens", "vs turn 1"),
                  tuple(rows))
    metrics = {"suite": conv.suite, "per_turn": [dict(zip(("turn", "n", "stop_rate", "leaks", "capped", "median_tokens",
                                                            "growth"), r, strict=True)) for r in rows],
               "markers": list(conv.markers)}
    if not problems:
        return CheckResult(Status.PASS, len(sets), thr, f"Suite {conv.suite!r}: the tuned replies stop, leak no role "
                           f"header and keep their length at all {len(sets)} turns.", metrics=metrics,
                           evidence=(table,))
    turn, why = problems[0]
    ids = [i.rsplit("#", 1)[0] for i in bad_ids.get(turn, [])]
    later = [t for t, _ in problems[1:]]
    metrics["first_bad_turn"] = turn
    missed = run_on_note(sets[turn - 1], bad_ids.get(turn, []))
    cause = missed or (
        " From the first turn on: the model does not end its turn (the end token was never trained) or the stop "
        "set lacks the token it ends with." if turn == 1 else
        " A format that holds on turn 1 but not later usually means the model was trained on single turns: with "
        "its own earlier replies in the prompt it continues the transcript (writes the next turn's header) instead "
        "of ending its turn, or the end-of-turn token of earlier turns is not trained.")
    return CheckResult(
        Status.FAIL, turn, thr,
        f"Suite {conv.suite!r}: the tuned replies lose their format at turn {turn}: {why}."
        + (f" Also at turn(s) {', '.join(map(str, later))}." if later else "") + cause,
        fix=("Put the end-of-turn token named above in the stop set your server uses (generation_config.json "
             f"eos_token_id or [format] stop_ids; {see('format.stop_tokens')}); no retraining needed." if missed else
             "Train multi-turn rows with every assistant turn ending in the trained end-of-turn token (in the stop "
             f"set: {see('format.stop_tokens')}) and the following turns masked; compare the transcripts."),
        metrics=metrics, evidence=(table, _transcripts(conv, [(i, turn) for i in ids], f"replies at turn {turn}")))


@check("conversation.judge_calibrated", stage="gate",
       title="Conversation judge agrees with human labels (Cohen's kappa)")
def judge_calibrated(run: SuiteRun | None, *, min_kappa: float = 0.7) -> CheckResult:
    """The suite's judge hook (which scores the expectations in words) agrees with the human
    labels of the suite (Cohen's kappa >= ``min_kappa``), the disagreements shown; it must not
    raise or return something that is not a verdict."""
    skipped = _not_run(run)
    if skipped:
        return skipped
    from sftcheck.checks.scoring import kappa

    conv: ConversationRun = run.conversation
    thr = f"kappa >= {min_kappa:g}"
    need = conv.needs_judge()
    if not conv.judge:
        if not need:
            return CheckResult(Status.SKIP, None, thr, f"Suite {conv.suite!r} has no expectation in words and no "
                               "judge: every expectation is scored by rules.")
        return CheckResult(Status.WARN, None, thr,
                           f"Suite {conv.suite!r}: {need} turn expectation(s) in words (\"judge\") are not scored: "
                           "no judge is configured, so those turns count by their rules only (or not at all).",
                           fix=f"Set judge = \"module:function\" in the [[suites]] block {conv.suite!r} (and "
                               "human_labels to calibrate it), or drop the \"judge\" expectations.")
    if conv.judge_errors:
        return CheckResult(Status.FAIL, len(conv.judge_errors), thr,
                           f"Suite {conv.suite!r}: the judge {conv.judge} failed {len(conv.judge_errors)} time(s); "
                           f"those turns are unscored. First: {conv.judge_errors[0]}",
                           fix="Make the judge return a verdict (bool, a number >= 0.5 = pass, or yes / no) for every "
                               "reply; fix the rows of the human-labels file named above.",
                           evidence=(Table("judge problems", ("problem",),
                                           tuple((e,) for e in conv.judge_errors[:30])),))
    if conv.labels is None:
        return CheckResult(Status.WARN, None, thr,
                           f"Suite {conv.suite!r}: the judge {conv.judge} scored {need} turn expectation(s) but is not "
                           "calibrated: no human_labels to compare it with.",
                           fix=f"Set human_labels in the [[suites]] block {conv.suite!r}: a JSONL of "
                               '{"id", "turn", "output", "label"} lines, about 40 or more, both good and bad replies.')
    pairs = [(lab.judge, lab.label) for lab in conv.labels if lab.judge is not None]
    if not pairs:
        return CheckResult(Status.FAIL, None, thr, f"Suite {conv.suite!r}: none of the {len(conv.labels)} labelled "
                           f"replies in {conv.labels_file} got a judge verdict.",
                           fix="Label replies of conversations and turns that are in the suite.")
    k = kappa(pairs)  # type: ignore[arg-type]
    agree = sum(j == h for j, h in pairs) / len(pairs)
    dis = [(lab.conversation, lab.turn, lab.output, lab.judge, lab.label) for lab in conv.labels
           if lab.judge is not None and lab.judge != lab.label]
    evidence = [Table("human (rows) vs judge (columns)", ("", "judge 1", "judge 0"),
                      (("human 1", sum(j == 1 and h == 1 for j, h in pairs), sum(j == 0 and h == 1 for j, h in pairs)),
                       ("human 0", sum(j == 1 and h == 0 for j, h in pairs), sum(j == 0 and h == 0 for j, h in pairs))))]
    if dis:
        evidence.append(Table("disagreements (first 20)", ("conversation", "turn", "reply", "judge", "human"),
                              tuple(dis[:20])))
    metrics = {"n": len(pairs), "kappa": k if math.isfinite(k) else "nan", "raw_agreement": agree,
               "disagreements": len(dis)}
    if math.isfinite(k) and k >= min_kappa:
        return CheckResult(Status.PASS, k, thr, f"Suite {conv.suite!r}: the judge agrees with the human labels on "
                           f"{agree:.1%} of {len(pairs)} replies (Cohen's kappa {k:.2f}).", metrics=metrics,
                           evidence=tuple(evidence))
    judge_pos = sum(j for j, _ in pairs) / len(pairs)
    human_pos = sum(h for _, h in pairs) / len(pairs)
    cause = (f"it passes {judge_pos:.0%} of replies where people pass {human_pos:.0%}: too lenient / strict"
             if abs(judge_pos - human_pos) > 0.3 else "its verdicts are near chance against the people's: it "
             "judges something else (length, format) or its rubric differs from theirs")
    return CheckResult(
        Status.FAIL, k if math.isfinite(k) else None, thr,
        f"Suite {conv.suite!r}: Cohen's kappa between the judge {conv.judge} and {conv.labels_file} is "
        f"{k:.2f} on {len(pairs)} replies (raw agreement {agree:.1%}, {len(dis)} disagreements): {cause}. Its "
        "verdicts on the expectations in words cannot be trusted.",
        fix="Read the disagreements below and fix the judge's rubric / prompt / threshold until kappa >= "
            f"{min_kappa:g}; only then trust the turns it scores.", metrics=metrics, evidence=tuple(evidence))
