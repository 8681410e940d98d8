"""Provenance: what exactly was diagnosed, on what, with what — for the report and JSON.

Only reads: file hashes (sha256, streamed), small JSON/text files, library versions,
``git rev-parse`` (never writes, short timeout).  Nothing here loads weights.
"""
from __future__ import annotations

import functools
import importlib.metadata
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

from sftcheck.config import Config

LIBRARIES = ("sftcheck", "torch", "transformers", "peft", "tokenizers", "safetensors",
             "accelerate", "pytest", "pytest-html")
WEIGHT_FILES = ("adapter_model.safetensors", "adapter_model.bin",
                "model.safetensors", "pytorch_model.bin")


def library_versions() -> dict[str, str]:
    """Each library's installed version (read once per process: ``importlib.metadata`` scans
    every installed distribution, 5-30 ms a call, and every generation pass names them)."""
    return dict(_library_versions())


@functools.cache
def _library_versions() -> dict[str, str]:
    out = {}
    for name in LIBRARIES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            if name == "sftcheck":
                import sftcheck
                out[name] = f"{sftcheck.__version__} (not installed)"
            else:
                out[name] = "not installed"
    return out


def _git(folder: Path, *args: str) -> str | None:
    """``git -C folder args`` read-only (``GIT_OPTIONAL_LOCKS=0``: ``git status`` must not
    refresh the user's index); None when it fails or is not a repository."""
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}
    try:
        proc = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True,
                              timeout=5, check=False, env=env)
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def git_commit(folder: Path) -> str | None:
    """``<sha>`` or ``<sha> (uncommitted changes)`` of the repository holding ``folder``."""
    commit = _git(folder, "rev-parse", "HEAD")
    if not commit:
        return None
    dirty = _git(folder, "status", "--porcelain", "--untracked-files=no")
    return commit + (" (uncommitted changes)" if dirty else "")


def git_provenance(folder: Path) -> dict[str, Any]:
    """The repository the run config lives in (your training code): top folder, commit, dirty."""
    commit = git_commit(folder)
    if commit is None:
        return {"git repository": f"none ({folder} is not in a git checkout)"}
    return {"git repository": _git(folder, "rev-parse", "--show-toplevel"), "git commit": commit}


def machine_info() -> dict[str, Any]:
    info: dict[str, Any] = {
        "python": sys.version.split()[0], "platform": platform.platform(),
        "machine": platform.machine(), "cpu_count": os.cpu_count(),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "unset"),
    }
    try:
        import torch
        info["cuda_available"] = torch.cuda.is_available()
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
    except ImportError:
        info["cuda_available"] = False
    return info


def collect(cfg: Config | None, rootdir: Path | None = None, run=None) -> dict[str, Any]:
    """Everything the report needs to say what was diagnosed and how (the run's files through
    its ``Run``: read and hashed once per session)."""
    prov: dict[str, Any] = {}
    if cfg is not None:
        from sftcheck.run_files import Run

        run = run if run is not None and run.cfg is cfg else Run(cfg, run.files if run else None)
        m = cfg.model
        prov["config source"] = cfg.source
        src = Path(cfg.source)
        if src.is_file():
            prov["config contents"] = src.read_text(encoding="utf-8", errors="replace")
        prov["base"] = m.base or m.finetuned
        prov["adapter"] = m.adapter
        if m.adapter and Path(m.adapter).is_dir():
            w = run.adapter_weights
            prov["adapter weights"] = w.file
            if w.file:
                prov["adapter weights bytes"] = w.bytes
                prov["adapter weights sha256"] = w.sha256
        prov.update(_template(cfg, run))
        try:
            from sftcheck.loading import resolve_placement
            placement = resolve_placement(cfg)
            prov["device"], prov["dtype"] = placement.device, placement.dtype
        except Exception as exc:  # noqa: BLE001 - provenance must never break the report
            prov["device"] = f"unresolved ({type(exc).__name__}: {exc})"
        prov["data train"] = cfg.data.train
        prov["data eval"] = cfg.data.eval
    if cfg is not None and Path(cfg.source).is_file():
        prov.update(git_provenance(Path(cfg.source).resolve().parent))
    else:  # described on the command line: the folder it was run from
        prov.update(git_provenance(Path(rootdir) if rootdir else Path.cwd()))
    prov["libraries"] = library_versions()
    import sftcheck
    own = git_commit(Path(sftcheck.__file__).resolve().parent)
    if own:
        prov["sftcheck checkout commit"] = own
    prov["machine"] = machine_info()
    return prov


def _template(cfg: Config, run) -> dict[str, Any]:
    from sftcheck.loading import LoadError, tokenizer_source

    try:
        source = tokenizer_source(cfg)
    except LoadError:
        return {"tokenizer": None, "chat template": "none (no tokenizer configured)"}
    out: dict[str, Any] = {"tokenizer": source}
    folder = Path(source)
    if folder.is_dir():
        saved = run.saved_tokenizer(folder)
        if saved.template is not None:
            out["chat template"] = str(folder / saved.template_source)
            out["chat template sha256"] = saved.template_sha256
        else:
            out["chat template"] = f"none found in {folder}"
    else:
        out["chat template"] = "hub id: not hashed (no local folder)"
    return out
