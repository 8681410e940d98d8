"""The behaviour checks' inputs (area ``behaviour``): one frozen bundle whose attributes are
named like the checks' input parameters, each built once on first use from the session's
``Sources`` (see ``sftcheck.check_inputs``): the eval rows and their served prompts, one
generation pass per model on the configured backend (stopping on the run's one stop set),
the scores, the role-leak markers, the probe logits and the sentinel pass."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from sftcheck.check_inputs import InputUnavailable, Sources


@dataclass(frozen=True)
class BehaviourInputs:
    src: Sources

    # ------------------------------------------------------------------ rows, prompts, passes
    @cached_property
    def eval_rows(self) -> list:
        from sftcheck.session_model import read_eval_rows

        try:
            return read_eval_rows(self.src.cfg)
        except (ValueError, OSError) as exc:
            raise InputUnavailable(f"sftcheck: {exc}") from None

    @cached_property
    def prompts(self) -> list:
        """The served prompt of each eval row (the configured prompt builder)."""
        from sftcheck.hooks import HookError
        from sftcheck.session_model import build_prompts

        rows, hooks = self.eval_rows, self.src.hooks
        try:
            return build_prompts(self.src.cfg, self.src.tokenizer, rows, hooks=hooks)
        except (HookError, ValueError) as exc:
            raise InputUnavailable(f"sftcheck: {exc}") from None

    @cached_property
    def settings(self):
        from sftcheck.generation import GenerationSettings

        return GenerationSettings.from_config(self.src.cfg)

    @cached_property
    def passes(self):
        """``sftcheck.passes.Passes`` of the configured backend (``[generation] backend``)."""
        from sftcheck import passes
        from sftcheck.backends.openai_api import ServerError

        cfg, src = self.src.cfg, self.src
        name = cfg.generation.backend
        stops = src.stop_set  # the run's one stop set, for every backend
        try:
            if name == "openai":
                made = passes.openai_passes(cfg, src.tokenizer, stops, stream=src.stream)
            elif name == "vllm":
                made = passes.vllm_passes(cfg, src.tokenizer, stops, src.run)
            else:
                made = passes.transformers_passes(src.model, stops)
        except (ServerError, ImportError, ValueError) as exc:
            raise InputUnavailable(f"sftcheck: [generation] backend = {name!r}: {exc}") from None
        if src.generation_log is not None:
            made.log = src.generation_log  # the report lists every pass
        return made

    @cached_property
    def generations(self) -> dict:
        """One batched generation pass per variant: ``{"base": ..., "tuned": ...}``."""
        from sftcheck.backends.openai_api import ServerError
        from sftcheck.loading import LoadError

        passes, prompts = self.passes, self.prompts
        try:
            return passes.both(prompts, self.settings)
        except (LoadError, ServerError) as exc:
            raise InputUnavailable(f"sftcheck: {exc}") from None

    # ------------------------------------------------------------------ scores
    @cached_property
    def rewards(self) -> dict | None:
        """The configured scorer's rewards per model (``{"base": ScoringRun, ...}``), or None."""
        from sftcheck.hooks import HookError
        from sftcheck.session_model import ScoringError, label_requests, score_rewards

        rows, gens, hooks = self.eval_rows, self.generations, self.src.hooks
        labels = label_requests(self.src.cfg, rows, gens)  # one server session for both
        try:
            runs = score_rewards(self.src.cfg, rows, gens, hooks, {"labels": labels} if labels else None)
        except (HookError, ScoringError) as exc:
            raise InputUnavailable(f"sftcheck: {exc}") from None
        if runs is not None and "labels" in runs:
            self.__dict__["judge_run"] = runs.pop("labels")  # the judge's verdicts (sft_judge_verdicts reads them)
        return runs

    def _scored(self, mode: str) -> dict:
        from sftcheck.hooks import HookError
        from sftcheck.session_model import ScoringError, score

        rows, gens, hooks, rewards = self.eval_rows, self.generations, self.src.hooks, self.rewards
        try:
            return score(self.src.cfg, rows, gens, mode, hooks, rewards)
        except (HookError, ScoringError) as exc:
            raise InputUnavailable(f"sftcheck: {exc}") from None

    @cached_property
    def scored(self) -> dict:
        """Strict parsing (the verdict) + the configured scorer's total reward per example."""
        return self._scored("strict")

    @cached_property
    def lenient(self) -> dict:
        """The same with lenient extraction (reported side by side)."""
        return self._scored("lenient")

    @property
    def scorer_name(self) -> str | None:
        from sftcheck.scorers import describe

        return describe(self.src.cfg)

    @property
    def scorer_markers(self):
        return self.src.cfg.scoring.markers

    @cached_property
    def raw_scored(self) -> dict:
        """Outputs for the bare question (no format cue), base and tuned, on a small subset."""
        from sftcheck.backends.openai_api import ServerError
        from sftcheck.session_model import sentinel_scored

        passes, rows, hooks = self.passes, self.eval_rows, self.src.hooks
        try:
            return sentinel_scored(self.src.cfg, passes, self.src.tokenizer, rows, self.settings, hooks)
        except ServerError as exc:
            raise InputUnavailable(f"sftcheck: {exc}") from None

    # ------------------------------------------------------------------ role-leak markers
    @cached_property
    def output_markers(self):
        from sftcheck.session_model import output_markers

        return output_markers(self.src.tokenizer, self.passes.stops, self.prompts, self.eval_rows)

    @property
    def markers(self) -> tuple[str, ...]:
        return self.output_markers.markers

    @property
    def stop_tokens(self) -> tuple[str, ...]:
        return self.output_markers.stop_tokens

    # ------------------------------------------------------------------ probe logits
    @cached_property
    def probe_logits(self):
        """Tuned / base (adapter disabled) / merged logits on probe sequences (``ProbeLogits``).
        Needs local weights: with a server backend and no [model] base / finetuned, a skip."""
        from sftcheck.passes import local_weights
        from sftcheck.session_model import probe_logits

        cfg = self.src.cfg
        if cfg.generation.backend != "transformers" and not local_weights(cfg):
            raise InputUnavailable(
                f"needs the model's logits: generation ran on the {cfg.generation.backend} backend and no "
                "local weights are configured (set [model] base, + adapter, to run this check here)", skip=True)
        prompts, gens = self.prompts, self.generations
        return probe_logits(cfg, self.src.model, prompts, gens)

    @property
    def tuned_logits(self):
        return self.probe_logits.tuned

    @property
    def base_logits(self):
        return self.probe_logits.base

    @property
    def merged_logits(self):
        return self.probe_logits.merged

    @property
    def merged_source(self) -> Any:
        return self.probe_logits.merged_source

    @property
    def notes(self) -> list[str]:
        return self.probe_logits.notes

    @property
    def subject(self) -> str:
        return self.probe_logits.subject
