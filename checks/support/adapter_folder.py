"""The files ``save_pretrained`` writes into a PEFT adapter folder, and what is missing or
empty among them (read by ``artifact.adapter_files``; only sizes, never contents)."""
from __future__ import annotations

from pathlib import Path

WEIGHTS = "adapter_model.safetensors"
PICKLE = "adapter_model.bin"
CONFIG = "adapter_config.json"


def file_sizes(folder: Path) -> dict[str, int]:
    """name -> bytes of the plain files in ``folder``, sorted by name."""
    return {p.name: p.stat().st_size for p in sorted(folder.iterdir()) if p.is_file()}


def missing_or_empty(sizes: dict[str, int]) -> list[str]:
    """One sentence per problem: the config missing or empty, the weights (safetensors, else
    the legacy pickle) missing, empty, or a safetensors file too small to hold a tensor."""
    problems = []
    if CONFIG not in sizes:
        problems.append(f"{CONFIG} is missing")
    elif sizes[CONFIG] == 0:
        problems.append(f"{CONFIG} is empty (0 bytes)")
    if WEIGHTS in sizes:
        if sizes[WEIGHTS] <= 8:
            problems.append(f"{WEIGHTS} is {sizes[WEIGHTS]} bytes (no tensors): the save wrote an "
                            "empty file — typical of ZeRO-3 gathering nothing or saving after merge")
    elif PICKLE in sizes:
        if sizes[PICKLE] == 0:
            problems.append(f"{PICKLE} is empty (0 bytes)")
    else:
        problems.append(f"no {WEIGHTS} (nor {PICKLE})")
    return problems
