"""Best-of-N wall time, for the benches' side-by-side ratio printouts (``python bench/…``)."""
from __future__ import annotations

import statistics
import time


def best_of(fn, *args, rounds: int = 3) -> float:
    """The fastest of ``rounds`` calls, in seconds (the least disturbed by other load)."""
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - t0)
    return min(times)


def median_of(fn, *args, rounds: int = 5) -> float:
    """The median of ``rounds`` calls, in seconds (for ratios between methods run side by side)."""
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def interleaved_medians(methods: dict, rounds: int = 5) -> dict[str, float]:
    """``{name: median seconds}`` of zero-argument callables run in turn, one call of each per
    round: on a shared machine a load spike then hits every method alike instead of whichever
    happened to run in its block of rounds."""
    times: dict[str, list[float]] = {name: [] for name in methods}
    for _ in range(rounds):
        for name, fn in methods.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(t) for name, t in times.items()}
