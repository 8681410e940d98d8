"""The whole ``sftcheck demo`` wall time vs the sum of its model load and generation passes.

Runs the demo in a subprocess with an empty generation cache (so every pass is made) and
reads the passes' wall times from the JSON verdict's provenance ("generation passes"); the
model load is timed in this process (``load_model`` on the same world, median of 3).  The
rest is Python + torch import, pytest, tokenizer, data and artifact checks, statistics and
the report.  Goal (issue 11): whole run <= 1.3x (model load + generation passes).

    OMP_NUM_THREADS=1 python bench/bench_run_wall.py
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from timing import median_of


def main() -> None:
    import torch
    from sftcheck.fixtures.world import build_world

    from sftcheck import config as cfgmod
    from sftcheck.loading import load_model

    world = build_world()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "OMP_NUM_THREADS": "1", "SFTCHECK_CACHE_DIR": str(Path(tmp) / "cache")}
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "sftcheck.cli", "demo", "--json", "r.json"], cwd=tmp,
                              env=env, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - t0
        verdict = json.loads((Path(tmp) / "r.json").read_text())
    passes = verdict["provenance"].get("generation passes", {})
    gen = sum(p["wall_seconds"] for p in passes.values() if not str(p["cache"]).startswith("hit"))
    torch.set_num_threads(1)
    cfg = cfgmod.load(world.config)
    load = median_of(load_model, cfg, rounds=3)
    print(f"sftcheck demo exit {proc.returncode}, verdict {verdict['verdict']}, {len(verdict['checks'])} checks")
    print(f"whole run wall:            {wall:7.2f} s")
    print(f"model load (median of 3):  {load:7.2f} s")
    print(f"generation passes ({len(passes)}):    {gen:7.2f} s")
    for name, p in passes.items():
        print(f"    {name:<28} {p['wall_seconds']:6.2f} s  {p['weights']}")
    print(f"whole run / (load + passes): {wall / (load + gen):.2f}x (goal <= 1.3x)")


if __name__ == "__main__":
    main()
