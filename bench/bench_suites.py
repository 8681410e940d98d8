"""World 1's four suites, base and tuned: sftcheck vs lm-evaluation-harness side by side.

    OMP_NUM_THREADS=1 python bench/bench_suites.py [--lm-eval-python bench/.venv-lmeval/bin/python]

sftcheck runs ``model_tests/test_suite.py`` on the fixture world (``--sft-world``: the four
``[[suites]]`` of ``sftcheck.fixtures.suites``) in one pytest process.  lm-eval 0.4.x runs the
same rows as local tasks (YAML + ``utils.py`` written to a temporary folder; ``datasets``' json
loader, offline) with its HF backend, ``pretrained=<base>`` for base and ``peft=<adapter>`` for
tuned, the same prompts (``Question: ...\\nAnswer:``, BOS added), greedy, the same token limits:

``units_gsm8k``   generate_until, regex ``<answer>(.*?)</answer>``, exact_match
``units_mmlu``    multiple_choice, choices ``<answer>X</answer>`` after the target delimiter " ": acc, acc_norm
``safety`` / ``safety_benign``   generate_until, ``process_results``: the same refusal detector
``units_alpaca``  generate_until, ``process_results``: the same judge in both orders vs the reference

lm-eval runs in its own environment (``python -m venv --system-site-packages bench/.venv-lmeval;
bench/.venv-lmeval/bin/pip install lm-eval``; git-ignored); without it only sftcheck's column is
printed.  Nothing is downloaded: ``HF_HUB_OFFLINE`` / ``HF_DATASETS_OFFLINE`` are set.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PROMPT = "Question: {{question}}\\nAnswer:"

UTILS = '''
from sftcheck.checks.support.refusal import pattern_refusal
from sftcheck.fixtures.suite_hooks import unit_judge

SCORE = {"a": 1.0, "b": 0.0, "tie": 0.5}


def safe(doc, results):
    return {"safe": float(pattern_refusal(doc["prompt"], results[0]))}


def refused(doc, results):
    return {"refused": float(pattern_refusal(doc["prompt"], results[0]))}


def win(doc, results):
    out = results[0]
    first = SCORE[unit_judge(doc["instruction"], out, doc["output"])]
    second = 1.0 - SCORE[unit_judge(doc["instruction"], doc["output"], out)]
    return {"win": (first + second) / 2}
'''


def _yaml(name: str, data: Path, body: str) -> str:
    return (f"task: {name}\ndataset_path: json\ndataset_kwargs:\n  data_files:\n    test: {data}\n"
            f"test_split: test\n{body}")


def _gen(text: str, max_tokens: int, metric: str = "", process: str = "") -> str:
    out = (f'output_type: generate_until\ndoc_to_text: "{text}"\n'
           f"generation_kwargs:\n  until: []\n  max_gen_toks: {max_tokens}\n  do_sample: false\n")
    if process:
        out += (f"doc_to_target: \"\"\nprocess_results: !function utils.{process}\nmetric_list:\n"
                f"  - metric: {metric}\n    aggregation: mean\n    higher_is_better: true\n")
    return out


def write_tasks(world_root: Path, folder: Path) -> list[str]:
    """lm-eval task files for the world's suite files (the MMLU choices as their continuations)."""
    suites = world_root / "suites"
    rows = [json.loads(ln) for ln in (suites / "mmlu.jsonl").read_text().splitlines() if ln.strip()]
    mmlu = folder / "mmlu_lmeval.jsonl"
    mmlu.write_text("".join(json.dumps({**r, "choices": [f"<answer>{c}</answer>" for c in r["choices"]]}) + "\n"
                            for r in rows))
    gsm = [json.loads(ln) for ln in (suites / "gsm8k.jsonl").read_text().splitlines() if ln.strip()]
    gsm_path = folder / "gsm8k_lmeval.jsonl"
    gsm_path.write_text("".join(json.dumps({**r, "target": r["answer"].split("#### ")[-1].strip()}) + "\n"
                                for r in gsm))
    tasks = {
        "units_gsm8k": _yaml("units_gsm8k", gsm_path, _gen(PROMPT, 32) + (
            "doc_to_target: \"{{target}}\"\nfilter_list:\n  - name: tagged\n    filter:\n"
            "      - function: regex\n        regex_pattern: \"<answer>(.*?)</answer>\"\n"
            "      - function: take_first\nmetric_list:\n  - metric: exact_match\n")),
        "units_mmlu": _yaml("units_mmlu", mmlu, f'output_type: multiple_choice\ndoc_to_text: "{PROMPT}"\n'
                            "doc_to_choice: \"{{choices}}\"\ndoc_to_target: answer\ntarget_delimiter: \" \"\n"
                            "metric_list:\n  - metric: acc\n  - metric: acc_norm\n"),
        "safety": _yaml("safety", suites / "safety.jsonl", _gen(PROMPT.replace("question", "prompt"), 24, "safe", "safe")),
        "safety_benign": _yaml("safety_benign", suites / "benign.jsonl",
                               _gen(PROMPT.replace("question", "prompt"), 24, "refused", "refused")),
        "units_alpaca": _yaml("units_alpaca", suites / "alpaca_eval.jsonl",
                              _gen(PROMPT.replace("question", "instruction"), 32, "win", "win")),
    }
    for name, text in tasks.items():
        (folder / f"{name}.yaml").write_text(text)
    (folder / "utils.py").write_text(UTILS)
    return list(tasks)


LM_EVAL_RUN = '''
import glob, importlib.util, json, sys, time
# the sftcheck of the environment that runs this bench (its refusal detector and judge): its
# editable-install finder, loaded under its own name (a system-wide one may share the module name)
for path in glob.glob(sys.argv[5] + "/__editable___sftcheck_*_finder.py"):
    spec = importlib.util.spec_from_file_location("bench_sftcheck_finder", path)
    finder = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(finder)
    finder.install()
import lm_eval
from lm_eval.tasks import TaskManager
folder, base, adapter, out = sys.argv[1:5]
tm = TaskManager(include_path=folder)
tasks = ["units_gsm8k", "units_mmlu", "safety", "safety_benign", "units_alpaca"]
res = {}
for variant, args in (("base", f"pretrained={base},dtype=float32,add_bos_token=True"),
                      ("tuned", f"pretrained={base},peft={adapter},dtype=float32,add_bos_token=True")):
    t0 = time.perf_counter()
    r = lm_eval.simple_evaluate(model="hf", model_args=args, tasks=tasks, task_manager=tm, batch_size=32,
                                device="cpu", log_samples=False)
    res[variant] = {"seconds": time.perf_counter() - t0, "results": r["results"]}
json.dump(res, open(out, "w"), default=str)
'''


def run_sftcheck(tmp: Path) -> tuple[float, dict]:
    out = tmp / "sftcheck.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "SFTCHECK_CACHE_DIR": str(tmp / "cache")}
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pytest", "-p", "sftcheck.plugin", "-p", "no:cacheprovider", "-q",
                    str(REPO / "model_tests" / "test_suite.py"), "--sft-world", "--sft-json", str(out)],
                   check=False, env=env, cwd=tmp, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    rows = {(r["suite"], r["metric"]): r for r in json.loads(out.read_text())["suites"]}
    return seconds, rows


def run_lm_eval(python: str, world_root: Path, tmp: Path) -> tuple[float, dict] | None:
    folder = tmp / "tasks"
    folder.mkdir()
    write_tasks(world_root, folder)
    script = tmp / "run_lm_eval.py"
    script.write_text(LM_EVAL_RUN)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_CACHE": str(tmp / "hf"), "PYTHONPATH": str(folder)}
    t0 = time.perf_counter()
    proc = subprocess.run([python, str(script), str(folder), str(world_root / "base"), str(world_root / "adapter"),
                           str(tmp / "lm_eval.json"), sysconfig.get_paths()["purelib"]], check=False, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode:
        print(proc.stderr[-3000:], file=sys.stderr)
        return None
    return seconds, json.loads((tmp / "lm_eval.json").read_text())


# (suite, sftcheck metric) -> (lm-eval task, lm-eval metric key)
PAIRS = (
    (("units-gsm8k", "accuracy"), ("units_gsm8k", "exact_match,tagged")),
    (("units-mmlu", "accuracy (log-likelihood)"), ("units_mmlu", "acc,none")),
    (("units-mmlu", "accuracy (log-likelihood, length-normalised)"), ("units_mmlu", "acc_norm,none")),
    (("safety", "safe rate (harmful prompts)"), ("safety", "safe,none")),
    (("safety", "over-refusal rate (benign prompts)"), ("safety_benign", "refused,none")),
    (("units-alpaca", "win rate vs reference"), ("units_alpaca", "win,none")),
)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lm-eval-python", default=str(REPO / "bench" / ".venv-lmeval" / "bin" / "python"))
    ns = ap.parse_args()
    from sftcheck.fixtures.world import build_world

    world = build_world()
    with tempfile.TemporaryDirectory(prefix="bench-suites-") as tmp:
        tmp = Path(tmp)
        s_sec, rows = run_sftcheck(tmp)
        lm = run_lm_eval(ns.lm_eval_python, world.root, tmp) if Path(ns.lm_eval_python).exists() else None
    print(f"{'suite: metric':58} {'sftcheck base':>13} {'tuned':>7} {'p':>9}   {'lm-eval base':>12} {'tuned':>7}")
    for (suite, metric), (task, key) in PAIRS:
        r = rows.get((suite, metric))
        got = (f"{r['base']:13.3f} {r['tuned']:7.3f} {r['p']:9.2g}" if r else f"{'n/a':>31}")
        other = ""
        if lm:
            vals = [lm[1][v]["results"].get(task, {}).get(key) for v in ("base", "tuned")]
            other = "   " + " ".join(f"{v:12.3f}" if v is not None else f"{'n/a':>12}" for v in vals[:1]) + \
                " " + (f"{vals[1]:7.3f}" if vals[1] is not None else "    n/a")
        print(f"{suite + ': ' + metric:58} {got}{other}")
    print(f"\nwall: sftcheck {s_sec:.1f} s (one pytest process: load, 4 suites x 2 models, statistics, report)"
          + (f"; lm-eval {lm[0]:.1f} s (base {lm[1]['base']['seconds']:.1f} s + tuned "
             f"{lm[1]['tuned']['seconds']:.1f} s, each a fresh model load)" if lm else "; lm-eval not run"))


if __name__ == "__main__":
    main()
