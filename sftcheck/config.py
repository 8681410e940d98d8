"""The run config: a TOML file (``--sft-config``) or ``[tool.sftcheck]`` in a pyproject.

Every key is declared below with its type and default; loading validates everything and
raises ``ConfigError`` (shown by pytest as a usage error) naming the file, the key, what
is wrong and the fix.  Relative paths resolve against the config file's folder.
"""
from __future__ import annotations

import difflib
import re
import tomllib
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

from sftcheck.dataio import SCHEMAS
from sftcheck.nway.spec import ModelSpec, parse_models
from sftcheck.suites.spec import SuiteSpec, parse_suites

PATH = {"path": True}          # a local path that must exist when set
MAYBE_PATH = {"maybe_path": True}  # a local path or a hub id: resolved if it exists
OUT_PATH = {"out_path": True}  # an output file: resolved, need not exist
COUNT = {"min": 0}             # a count (or tolerance): 0 or more
POSITIVE = {"min": 1}          # 1 or more
DEVICES = ("auto", "cpu", "cuda", "cuda:N", "mps")
DTYPES = ("auto", "float32", "bfloat16", "float16")
DEVICE = {"choices": DEVICES, "pattern": r"auto|cpu|cuda|cuda:\d+|mps"}
DTYPE = {"choices": DTYPES}
SCHEMA = {"choices": ("auto", *SCHEMAS)}


class ConfigError(ValueError):
    """A config problem a user can fix; the message names file, key, problem and fix."""


@dataclass(frozen=True)
class ModelSection:
    base: str | None = field(default=None, metadata=MAYBE_PATH)
    """Base model: local folder or hub id (``from_pretrained``; never ``trust_remote_code``);
    default: the adapter's recorded ``base_model_name_or_path``."""
    base_id: str | None = None
    """The base's declared hub id, compared with the adapter's ``base_model_name_or_path``."""
    adapter: str | None = field(default=None, metadata=PATH)
    """LoRA adapter folder (``adapter_config.json`` + ``adapter_model.safetensors``)."""
    finetuned: str | None = field(default=None, metadata=MAYBE_PATH)
    """A fully fine-tuned model instead of an adapter."""
    merged: str | None = field(default=None, metadata=MAYBE_PATH)
    """Your merged checkpoint (``merge_and_unload()`` saved) to compare with base + adapter in
    ``behaviour.merge_parity``; default: merge in memory (loads one more model when set)."""
    tokenizer: str | None = field(default=None, metadata=MAYBE_PATH)
    """Tokenizer folder or id; default: the adapter folder if it has one, else the base."""
    device: str = field(default="auto", metadata=DEVICE)
    """``auto`` (cuda if present, else cpu), ``cpu``, ``cuda``, ``cuda:1`` …"""
    dtype: str = field(default="auto", metadata=DTYPE)
    """``auto`` (bf16 on cuda, float32 on cpu), ``float32``, ``bfloat16``, ``float16``."""
    allow_pickle: bool = False
    """Allow reading ``.bin`` (pickle) weights, then only with ``weights_only=True``."""
    training_log: str | None = field(default=None, metadata=PATH)
    """``trainer_state.json``; default: the one in the adapter folder, if any."""


@dataclass(frozen=True)
class FormatSection:
    prompt_template: str | None = None
    """Prompt template (when no builder hook); unset = ``"Question: {question}\\nAnswer:"``."""
    completion_template: str | None = None
    """Training target; EOS is appended; unset = ``" <answer>{answer}</answer>"``."""
    chat: bool = False
    """Use the tokenizer's chat template (``apply_chat_template``) for prompts."""
    system_prompt: str | None = None
    """System message for chat prompts, on both the training and the inference side."""
    prompt_builder: str | None = None
    """Import path of your inference prompt builder ``f(row, tokenizer)`` / ``f(row)`` (the whole data
    row) or ``f(question)`` ``-> str | ids`` (see Hooks below)."""
    train_formatter: str | None = None
    """Import path of your training formatter ``f(row, tokenizer)`` (the whole data row) or
    ``f(question, answer, tokenizer)`` ``-> {input_ids, labels}`` (see Hooks below)."""
    collator: str | None = None
    """Import path of your training collator ``f(rows, tokenizer)`` or ``f(rows)``
    ``-> {input_ids, labels, ...}``; ``rows`` are the formatter's outputs."""
    answer_parser: str | None = None
    """Import path ``module:function(text) -> str | None``; default uses ``answer_pattern``."""
    answer_pattern: str = r"<answer>(.*?)</answer>"
    """Regex with one group: the answer in a generation (strict extraction)."""
    stop_strings: list[str] = field(default_factory=list)
    """Strings that end a generation (part of the run's one stop set)."""
    stop_ids: list[int] = field(default_factory=list)
    """Token ids your server stops on (with ``generation_config``: both); unset = the checkpoint's
    ``generation_config.json`` ``eos_token_id`` (fine-tuned, adapter, then base folder), else
    the tokenizer's EOS. Generation stops on exactly this set and ``format.stop_tokens`` judges it."""
    generation_config: str | None = field(default=None, metadata=PATH)
    """The ``generation_config.json`` your server loads: its ``eos_token_id`` joins the stop set
    (instead of the checkpoint's own)."""
    max_length: int = field(default=512, metadata=POSITIVE)
    """Training max sequence length (for ``data.truncation``)."""


@dataclass(frozen=True)
class DataSection:
    train: str | None = field(default=None, metadata=PATH)
    """Training data: .jsonl, .json or .parquet."""
    eval: str | None = field(default=None, metadata=PATH)
    """Evaluation data (same formats)."""
    schema: str = field(default="auto", metadata=SCHEMA)
    """``auto``, ``qa``, ``prompt_completion``, ``messages``, ``sharegpt``, ``alpaca``."""
    question_field: str = "question"
    """Field holding the question in ``qa`` rows."""
    answer_field: str = "answer"
    """Field holding the training target in ``qa`` rows (also the gold answer unless
    ``gold_field`` / ``gold_pattern`` say otherwise)."""
    gold_field: str | None = None
    """Field holding the gold answer used for scoring, the gates and ``data.answer_roundtrip``
    (any schema); unset = the training target (``answer_field``). A row without it fails
    ``data.schema``."""
    gold_pattern: str | None = field(default=None, metadata={"regex_groups": 1})
    """Regex with one group applied to the gold text (``gold_field``, else the training target):
    group 1 is the gold answer, e.g. GSM8K ``'####\\s*(-?[\\d,.]+)'``. A row it does not
    match fails ``data.schema`` (named) and is not scored."""
    id_field: str = "id"
    """Field holding the example id (paired base-vs-tuned gates need unique ids)."""
    max_rows: int = field(default=0, metadata=COUNT)
    """Audit at most this many rows per file (0 = all)."""
    check_rows: int = field(default=2000, metadata=COUNT)
    """Rows run through your formatter / collator / prompt builder for the label and format checks (0 = all)."""


@dataclass(frozen=True)
class GenerationSection:
    max_new_tokens: int = field(default=32, metadata=POSITIVE)
    """Generation stops after this many new tokens (finish reason ``length``)."""
    batch_size: int = field(default=32, metadata=POSITIVE)
    """Prompts per batched ``generate`` call (also the throughput batch size)."""
    n_examples: int = field(default=0, metadata=COUNT)
    """Evaluate this many eval rows (0 = all)."""
    do_sample: bool = False
    """Sample instead of greedy decoding (greedy is the default and reproducible)."""
    temperature: float | None = None
    """Sampling temperature (with ``do_sample = true``); unset: the model's ``generation_config``."""
    top_p: float | None = None
    """Nucleus sampling mass (with ``do_sample = true``); unset: the model's ``generation_config``."""
    top_k: int | None = None
    """Sample from the k most likely tokens (with ``do_sample = true``); unset: ``generation_config``."""
    repetition_penalty: float | None = None
    """Repetition penalty (greedy too); unset: the model's ``generation_config`` (1.0 = none)."""
    max_time: float = 600.0
    """Wall-time cap for each generation pass, seconds (every backend)."""
    seed: int = 0
    """Torch seed set before generation (sampling runs are reproducible per seed)."""
    probe_examples: int = field(default=16, metadata=COUNT)
    """Eval prompts (+ the tuned output) used as probes for adapter effect / merge parity."""
    sentinel_examples: int = field(default=32, metadata=COUNT)
    """Eval rows re-generated with the raw question (no format cue) for ``behaviour.sentinel``."""
    disk_cache: bool = True
    """Reuse generations across runs (JSON in ``$SFTCHECK_CACHE_DIR`` or ``~/.cache/sftcheck``)."""
    backend: str = field(default="transformers", metadata={"choices": ("transformers", "openai", "vllm")})
    """``transformers`` (in-process ``model.generate``), ``openai`` (an OpenAI-compatible server:
    vLLM, SGLang, TGI) or ``vllm`` (in-process vLLM, GPU, ``pip install sftcheck[vllm]``)."""
    base_url: str | None = None
    """``openai`` backend: the server's API root, e.g. ``http://127.0.0.1:8000/v1``."""
    base_model_name: str | None = None
    """``openai`` backend: the served name of the base model (vLLM: the model path or ``--served-model-name``)."""
    tuned_model_name: str | None = None
    """``openai`` backend: the served name of base + adapter (vLLM: NAME of ``--lora-modules NAME=PATH``)."""
    api_key_env: str | None = None
    """``openai`` backend: name of the environment variable holding the API key (never the key)."""
    openai_api: str = field(default="completions", metadata={"choices": ("completions", "chat")})
    """``openai`` backend: ``completions`` (your prompt builder's prompt, as token ids) or ``chat``
    (the question as a user message; the server applies its chat template)."""
    concurrency: int = field(default=8, metadata=POSITIVE)
    """``openai`` backend: requests in flight at once."""
    request_timeout: float = 120.0
    """``openai`` backend: seconds per request before it is retried."""
    retries: int = field(default=3, metadata=COUNT)
    """``openai`` backend: retries per request (connection errors, timeouts, 429, 5xx), exponential backoff."""
    merged_tuned_pass: bool = True
    """``transformers`` backend: generate the tuned pass with the adapter merged into the weights
    once merged and unmerged logits agree on the probes (faster; the report says which was used)."""


@dataclass(frozen=True)
class ScoringSection:
    scorer: str | None = None
    """Import path of your scorer / reward ``f(row, output)`` (the whole eval row) or
    ``f(output_text, example_dict)`` (see Hooks below), returning a number or a table of named
    reward components (``{"format": 1, "correctness": 0}``)."""
    server: str | None = None
    """HTTP scorer endpoint, e.g. ``"http://127.0.0.1:8000/score"``: sftcheck POSTs
    ``{"records": [{id, prompt, output, example}]}`` and reads ``{"scores": [...]}``."""
    mcp: dict[str, Any] = field(default_factory=dict)
    """``[scoring.mcp]``: a tool on an MCP server as the scorer: ``command = [...]`` (stdio) or
    ``url``, ``tool = "score"``, ``arguments = {output = "output", answer = "example.answer"}``,
    ``pass_env = ["NAME"]``, ``cwd``; ``batch_tool = "score_batch"``: a tool scoring ``batch_size``
    records per call (``{"items": [arguments, ...]}`` -> a list of rewards, in order)."""
    timeout: float = 30.0
    """Seconds one scorer request (HTTP batch / MCP tool call) may take."""
    concurrency: int = field(default=4, metadata=POSITIVE)
    """Scorer requests in flight at once (HTTP / MCP)."""
    retries: int = field(default=2, metadata=COUNT)
    """Retries of a scorer request after a timeout, a connection failure or an HTTP 5xx."""
    batch_size: int = field(default=16, metadata=POSITIVE)
    """Records per HTTP scorer request (and per call of an MCP ``batch_tool``)."""
    api_key_env: str | None = None
    """Name of the environment variable holding the scorer's API key (sent as ``Authorization:
    Bearer``); the key itself never goes in the config."""
    markers: list[str] = field(default_factory=list)
    """Strings your scorer looks for in an output (a response start marker, tags);
    ``behaviour.reward_spread`` counts them in outputs and prompts when every reward is the same."""
    rel_tol: float = field(default=0.0, metadata=COUNT)
    """Numeric answers within this relative tolerance of the gold answer count as correct."""
    abs_tol: float = field(default=0.0, metadata=COUNT)
    """Numeric answers within this absolute tolerance of the gold answer count as correct."""
    human_labels: str | None = field(default=None, metadata=PATH)
    """JSONL of ``{"id", "output", "label"}`` human judgements, for ``scoring.judge_calibrated``
    (a line may carry ``"labels": {component: 0/1}`` to judge several reward components)."""
    label_component: str | None = None
    """The reward component the human labels' ``label`` judges (e.g. ``"correctness"`` of a
    multi-component scorer); unset = the total reward.  ``scoring.judge_calibrated`` binarises
    that component (not the sum) and reports kappa for every component."""
    perf_rounds: int = field(default=0, metadata=COUNT)
    """Extra timed generation rounds per model for ``perf.throughput`` (median reported); 0 = read
    the timings of the passes the behaviour checks already made (no extra pass)."""
    perf_warmup_rounds: int = field(default=1, metadata=COUNT)
    """Untimed warm-up rounds before extra timed ones (``benchmark.pedantic`` warmup_rounds)."""
    perf_examples: int = field(default=0, metadata=COUNT)
    """Eval prompts per extra throughput round (0 = the same prompts as the generation pass)."""


@dataclass(frozen=True)
class ReportSection:
    html: str = field(default="reports/sftcheck.html", metadata=OUT_PATH)
    """Self-contained HTML verdict written by ``sftcheck run`` (plain pytest: ``--html``)."""
    json: str | None = field(default=None, metadata=OUT_PATH)
    """Machine-readable verdict (one record per check, provenance); ``--sft-json`` overrides."""
    title: str = "sftcheck verdict"
    """Title of the HTML report."""


@dataclass(frozen=True)
class LimitsSection:
    hook_seconds: float = 30.0
    """Wall-clock limit for one call of your hook (formatter, collator, prompt builder,
    answer parser, scorer); past it the hook is stopped, named in a failed check, and not
    called again this run.  In pytest's main thread a timer signal interrupts the hook; off
    it (or without ``SIGALRM``) the hook runs in a worker thread the run stops waiting for.
    Only C code that never returns to Python (e.g. a native extension looping in the main
    thread) outlasts the limit."""
    regex_seconds: float = 2.0
    """Wall-clock limit for one ``answer_pattern`` match (catastrophic backtracking)."""
    template_seconds: float = 10.0
    """Wall-clock limit for one chat-template rendering (``apply_chat_template``)."""
    max_row_bytes: int = 1_000_000
    """A data row (one JSONL line, or one .json / parquet row) longer than this is not parsed:
    it fails ``data.schema`` naming the row (far past any ``max_length``; usually a
    concatenation or scraping bug)."""
    max_json_bytes: int = 200_000_000
    """A ``.json`` data file is parsed whole: larger files are refused (convert to JSONL,
    which is streamed)."""
    report_html_bytes: int = field(default=30_000_000, metadata=COUNT)
    """Total size of the HTML report.  Past it, evidence blocks are left out (FAIL / ERROR /
    WARN checks' evidence kept first), each replaced by a line saying so, and the banner
    counts them and names the JSON verdict, which keeps them; the verdict and every check's
    status, value, threshold, explanation and fix are never cut.  0 = no limit."""
    report_json_bytes: int = field(default=100_000_000, metadata=COUNT)
    """Total size of the JSON verdict (``--sft-json``).  Past it, evidence (then metrics over
    4 KB) of passing and skipped checks is replaced by ``{"kind": "elided", "bytes": N}``,
    then that of the others; ``"truncated"`` counts what was left out.  0 = no limit."""


@dataclass(frozen=True)
class GapSection:
    cue_template: str = "Instruction: {question}\nResponse:"
    """The format cue of the gap gate's sentinel (``gap.sentinel``): the base is also run on the
    eval questions written into this template (``{question}``), to expose what a plain cue
    unlocks without any training."""
    examples: int = field(default=0, metadata=COUNT)
    """Eval rows the sentinel re-generates with the cue (0 = every eval row the gap gate uses)."""


@dataclass(frozen=True)
class GatesSection:
    skip: list[str] = field(default_factory=list)
    """Check ids not to run."""
    thresholds: dict[str, dict[str, Any]] = field(default_factory=dict)
    """``[gates."<check id>"]`` tables: threshold overrides per check."""


@dataclass(frozen=True)
class Config:
    model: ModelSection = ModelSection()
    format: FormatSection = FormatSection()
    data: DataSection = DataSection()
    generation: GenerationSection = GenerationSection()
    scoring: ScoringSection = ScoringSection()
    report: ReportSection = ReportSection()
    gates: GatesSection = GatesSection()
    limits: LimitsSection = LimitsSection()
    gap: GapSection = GapSection()
    suites: tuple[SuiteSpec, ...] = ()
    """``[[suites]]``: evaluation suites (``sftcheck.suites.spec``)."""
    models: tuple[ModelSpec, ...] = ()
    """``[models.<name>]``: the models evaluated side by side (``sftcheck.nway.spec``)."""
    source: str = "<defaults>"
    base_recorded: bool = False
    """True when ``[model] base`` was not written but taken from the adapter's record."""
    """Where the config came from (file path), for messages and provenance."""

    def thresholds(self, check_id: str, scope: str | None = None) -> dict[str, Any]:
        """``[gates."<id>"]``; with ``scope`` (a suite) ``[gates."suite.<scope>.<metric>"]`` on top."""
        out = dict(self.gates.thresholds.get(check_id, {}))
        if scope:
            out.update(self.gates.thresholds.get(scoped_id(check_id, scope), {}))
        return out

    def skipped(self, check_id: str, scope: str | None = None) -> bool:
        return check_id in self.gates.skip or bool(scope and scoped_id(check_id, scope) in self.gates.skip)

    def with_overrides(self, section: str, **values: Any) -> Config:
        values = {k: v for k, v in values.items() if v is not None}
        if not values:
            return self
        return replace(self, **{section: replace(getattr(self, section), **values)})


def scoped_id(check_id: str, scope: str) -> str:
    """``suite.accuracy`` for suite ``gsm8k`` -> ``suite.gsm8k.accuracy``."""
    area, _, rest = check_id.partition(".")
    return f"{area}.{scope}.{rest}"


SECTIONS = {k: v for k, v in get_type_hints(Config).items()
            if k not in ("source", "suites", "models") and isinstance(v, type) and is_dataclass(v)}


def _type_ok(value: Any, tp: Any) -> bool:
    origin = get_origin(tp)
    if tp is Any:
        return True
    if origin is None:
        if tp is float:
            return isinstance(value, (int, float)) and not isinstance(value, bool)
        if tp is int:
            return isinstance(value, int) and not isinstance(value, bool)
        return isinstance(value, tp)
    args = get_args(tp)
    if origin is list:
        return isinstance(value, list) and all(_type_ok(v, args[0]) for v in value)
    if origin is dict:
        return isinstance(value, dict)
    # Optional / union
    return any(_type_ok(value, a) for a in args if a is not type(None)) or (
        value is None and type(None) in args)


def _type_name(tp: Any) -> str:
    return str(tp).replace("typing.", "").replace("<class '", "").replace("'>", "")


def _unknown(key: str, known: list[str], where: str, source: str) -> ConfigError:
    close = difflib.get_close_matches(key, known, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return ConfigError(f"{source}: unknown key {where}{key!r}.{hint} "
                       f"Known keys here: {', '.join(known)}. Fix: rename or remove it "
                       f"(every key is listed in README.md, 'Config reference').")


def _section(name: str, cls: type, raw: Any, source: str, base_dir: Path) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: [{name}] must be a table, got {type(raw).__name__}.")
    if cls is GatesSection:
        return _gates(raw, source)
    hints = get_type_hints(cls)
    known = [f.name for f in fields(cls)]
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in known:
            raise _unknown(key, known, f"[{name}] ", source)
        tp = hints[key]
        if not _type_ok(value, tp):
            raise ConfigError(f"{source}: [{name}] {key} must be {_type_name(tp)}, "
                              f"got {type(value).__name__} {value!r}. Fix: change its value.")
        meta = next(f.metadata for f in fields(cls) if f.name == key)
        problem = value_problem(meta, value)
        if problem:
            raise ConfigError(f"{source}: [{name}] {key} = {value!r}: {problem}. Fix: change its value.")
        if isinstance(value, str) and (meta.get("path") or meta.get("maybe_path") or meta.get("out_path")):
            resolved = (base_dir / value).expanduser() if not Path(value).is_absolute() else Path(value)
            if meta.get("path") and not resolved.exists():
                raise ConfigError(f"{source}: [{name}] {key} = {value!r}: {resolved} does not exist. "
                                  f"Fix: correct the path (relative paths are relative to "
                                  f"the config file's folder {base_dir}).")
            if meta.get("path") or meta.get("out_path") or resolved.exists():
                value = str(resolved)
        if meta.get("regex_groups") and isinstance(value, str):
            _check_regex(value, f"{source}: [{name}] {key} = {value!r}", meta["regex_groups"])
        if tp is float and isinstance(value, int):
            value = float(value)
        values[key] = value
    return cls(**values)


def value_problem(meta: Any, value: Any) -> str | None:
    """Why ``value`` is not allowed by a field's fixed choices or bounds (None if it is)."""
    if value is None:
        return None
    if "choices" in meta:
        ok = re.fullmatch(meta["pattern"], value) if "pattern" in meta else value in meta["choices"]
        if not ok:
            return f"not one of the allowed values {', '.join(meta['choices'])}"
    if "min" in meta and isinstance(value, (int, float)) and value < meta["min"]:
        return f"must be {meta['min']} or more"
    return None


def field_meta(section: str, key: str) -> Any:
    """The declared metadata (choices, bounds, path kind) of ``[section] key``."""
    return next(f.metadata for f in fields(SECTIONS[section]) if f.name == key)


@dataclass(frozen=True)
class Override:
    """One command-line override of a config key (``--sft-*``); the one list is ``OVERRIDES``."""
    flag: str
    section: str
    key: str
    metavar: str | None = None      # None: a switch (store_true)
    describes_run: bool = False     # enough, with others of its kind, to describe a run without a file
    must_exist: bool = False        # a local path that must exist
    applies: bool = True            # False: read by the plugin itself, not written into the config
    text: str = ""                  # help beyond "Override [section] key"

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")

    @property
    def is_path(self) -> bool:
        return bool(self.metavar and "PATH" in self.metavar)

    @property
    def help(self) -> str:
        meta = field_meta(self.section, self.key)
        choices = f" ({', '.join(meta['choices'])})" if "choices" in meta else ""
        return f"Override [{self.section}] {self.key}{choices}." + (f" {self.text}" if self.text else "")


OVERRIDES = (
    Override("--sft-base", "model", "base", "PATH_OR_ID", describes_run=True),
    Override("--sft-adapter", "model", "adapter", "PATH", describes_run=True, must_exist=True),
    Override("--sft-tokenizer", "model", "tokenizer", "PATH_OR_ID", describes_run=True),
    Override("--sft-device", "model", "device", "DEVICE"),
    Override("--sft-dtype", "model", "dtype", "DTYPE"),
    Override("--sft-train", "data", "train", "PATH", describes_run=True, must_exist=True),
    Override("--sft-eval", "data", "eval", "PATH", describes_run=True, must_exist=True),
    Override("--sft-json", "report", "json", "PATH", applies=False,
             text="Write the machine-readable verdict here."),
    Override("--sft-allow-pickle", "model", "allow_pickle",
             text="Allow .bin (pickle) weights, read with weights_only=True."),
)


def _check_regex(pattern: str, where: str, groups: int) -> None:
    try:
        rx = re.compile(pattern)
    except re.error as exc:
        raise ConfigError(f"{where} is not a valid regex ({exc}). Fix: correct the pattern "
                          "(TOML literal strings in single quotes keep backslashes).") from exc
    if rx.groups < groups:
        raise ConfigError(f"{where} has no capturing group. Fix: put the answer part in parentheses, "
                          r"e.g. '####\s*(-?[\d,.]+)' or '<answer>(.*?)</answer>'.")


def _gates(raw: dict, source: str) -> GatesSection:
    from sftcheck.checks.support.registry import load_all

    REGISTRY = load_all()
    skip = raw.get("skip", [])
    if not _type_ok(skip, list[str]):
        raise ConfigError(f"{source}: [gates] skip must be a list of check ids, got {skip!r}.")
    thresholds: dict[str, dict[str, Any]] = {}
    for key, value in raw.items():
        if key == "skip":
            continue
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: [gates] {key} = {value!r}: expected a table "
                              f'[gates."<check id>"] with threshold overrides.')
        thresholds[key] = value
    for check_id in list(skip) + list(thresholds):
        if REGISTRY and registered_id(check_id) not in REGISTRY:
            raise _unknown(check_id, sorted(REGISTRY), "check id in [gates] ", source)
    for check_id, over in thresholds.items():
        spec_id = registered_id(check_id)
        known = REGISTRY[spec_id].defaults if spec_id in REGISTRY else over
        for name, v in over.items():
            if name not in known:
                raise _unknown(name, sorted(known), f'[gates."{check_id}"] ', source)
            default = known[name]
            numeric = default is not None and not isinstance(default, bool) and isinstance(default, (int, float))
            if numeric and not _type_ok(v, float):
                    raise ConfigError(f'{source}: [gates."{check_id}"] {name} must be a number, got {v!r}.')
    return GatesSection(skip=list(skip), thresholds=thresholds)


SCOPED_AREAS = ("suite", "conversation")  # check areas whose ids take a suite name: suite.<name>.<metric>


def registered_id(check_id: str) -> str:
    """The registered check behind a gate id: ``suite.<name>.<metric>`` (one suite's
    ``suite.<metric>``) -> ``suite.<metric>``; any other id is itself."""
    parts = check_id.split(".")
    return f"{parts[0]}.{parts[2]}" if parts[0] in SCOPED_AREAS and len(parts) == 3 else check_id


def parse(raw: dict, source: str, base_dir: Path) -> Config:
    sections: dict[str, Any] = {}
    for name, value in raw.items():
        if name == "models":
            continue  # after [generation]: a served model needs backend = "openai"
        if name == "suites":
            sections[name] = parse_suites(value, source, base_dir, ConfigError, lambda raw, where: _section(
                "suites.generation", GenerationSection, raw, where, base_dir))
            continue
        if name not in SECTIONS:
            raise _unknown(name, [*SECTIONS, "suites", "models"], "section ", source)
        sections[name] = _section(name, SECTIONS[name], value, source, base_dir)
    if "models" in raw:
        backend = sections.get("generation", GenerationSection()).backend
        sections["models"] = parse_models(raw["models"], source, base_dir, ConfigError, backend)
    cfg = Config(**sections, source=source)
    _check_cue(cfg.gap.cue_template, source)
    from sftcheck.scorers.spec import ScoringConfigError, validate

    try:
        validate(cfg.scoring, source)
    except ScoringConfigError as exc:
        raise ConfigError(str(exc)) from None
    names = [s.name for s in cfg.suites]
    for gate_id in [*cfg.gates.skip, *cfg.gates.thresholds]:
        parts = gate_id.split(".")
        if parts[0] in SCOPED_AREAS and len(parts) == 3 and parts[1] not in names:
            raise ConfigError(f"{source}: [gates] {gate_id!r} names suite {parts[1]!r}, which no [[suites]] "
                              f"block defines (suites: {', '.join(names) or 'none'}). Fix: use a configured "
                              "suite's name, or 'suite.<metric>' for every suite.")
    return cfg


def _check_cue(template: str, source: str) -> None:
    import string

    try:
        names = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
    except ValueError as exc:
        raise ConfigError(f"{source}: [gap] cue_template = {template!r}: not a format string ({exc}). Fix: "
                          "write literal braces as {{ }}.") from exc
    if names != {"question"}:
        raise ConfigError(f"{source}: [gap] cue_template = {template!r} must contain {{question}} and no other "
                          f"field (found: {', '.join(sorted(names)) or 'none'}). Fix: e.g. "
                          "'Instruction: {question}\\nResponse:'.")


def load(path: str | Path) -> Config:
    """Load and validate a run config (``.toml``, or a pyproject with ``[tool.sftcheck]``)."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise ConfigError(f"{p}: config file not found. Fix: pass an existing file to --sft-config.")
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: not valid TOML ({exc}). Fix: correct the syntax.") from exc
    if p.name == "pyproject.toml":
        raw = raw.get("tool", {}).get("sftcheck")
        if raw is None:
            raise ConfigError(f"{p}: has no [tool.sftcheck] table. Fix: add one or pass --sft-config.")
    return parse(raw, str(p), p.resolve().parent)


def infer_base(cfg: Config, run=None) -> Config:
    """No ``[model] base`` but an adapter: use the base the adapter records
    (``adapter_config.json`` ``base_model_name_or_path``: a local folder or a hub id), read
    through the run's one reader (``sftcheck.run_files.Run``)."""
    m = cfg.model
    if m.base or m.finetuned or not m.adapter:
        return cfg
    if run is None:
        from sftcheck.run_files import Run

        run = Run(cfg)
    recorded = run.recorded_base  # None when broken: artifact.adapter_files / config_valid report it
    return replace(cfg.with_overrides("model", base=recorded), base_recorded=True) if recorded else cfg


def find_pyproject(start: Path) -> Path | None:
    """The nearest pyproject.toml at or above ``start`` that has ``[tool.sftcheck]``."""
    for folder in [start, *start.parents]:
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            try:
                if "sftcheck" in tomllib.loads(candidate.read_text()).get("tool", {}):
                    return candidate
            except (tomllib.TOMLDecodeError, UnicodeDecodeError):
                return None
            return None
    return None
