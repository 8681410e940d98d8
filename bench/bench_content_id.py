"""What the content-keyed generation cache costs per run (``sftcheck.content_id``).

Writes a safetensors-shaped file of ``--mib`` MiB of random bytes (default 2048) and times
the sampled identity (size + header + 16 x 64 KiB blocks + inode/ctime) against a full
sha256 of the same file, cold (page cache dropped with posix_fadvise where allowed) and
warm; then the whole ``model_content_id`` of the fixture world.

    OMP_NUM_THREADS=1 python bench/bench_content_id.py [--mib 2048]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def write_file(path: Path, mib: int) -> None:
    header = json.dumps({"w": {"dtype": "F32", "shape": [mib << 18], "data_offsets": [0, mib << 20]}}).encode()
    with path.open("wb") as f:
        f.write(len(header).to_bytes(8, "little") + header)
        block = os.urandom(1 << 20)
        for _ in range(mib):
            f.write(block)


def drop_cache(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def timed(fn, *args) -> float:
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


def main() -> None:
    from sftcheck.fixtures.world import build_world

    from sftcheck import config as cfgmod
    from sftcheck import content_id
    from sftcheck.loading import tokenizer_source

    p = argparse.ArgumentParser()
    p.add_argument("--mib", type=int, default=2048)
    ns = p.parse_args()
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR")) as tmp:
        f = Path(tmp) / "model.safetensors"
        write_file(f, ns.mib)
        rows = []
        for name, fn in (("sampled identity", content_id.sampled_digest), ("full sha256", content_id.full_digest)):
            drop_cache(f)
            cold = timed(fn, f)
            warm = min(timed(fn, f) for _ in range(2))
            rows.append((name, cold, warm))
        print(f"{ns.mib} MiB weight file")
        print(f"{'method':<18}{'cold s':>10}{'warm s':>10}")
        for name, cold, warm in rows:
            print(f"{name:<18}{cold:>10.4f}{warm:>10.4f}")
        print(f"full / sampled (cold): {rows[1][1] / rows[0][1]:.0f}x")
    cfg = cfgmod.load(build_world().config)
    t = min(timed(content_id.model_content_id, cfg, tokenizer_source(cfg)) for _ in range(5))
    print(f"fixture world model_content_id (base + adapter + tokenizer, all fully hashed): {t * 1000:.1f} ms")


if __name__ == "__main__":
    main()
