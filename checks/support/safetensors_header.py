"""Read a safetensors file's header without touching its tensor data.

Layout: 8 bytes little-endian header length ``n``, ``n`` bytes of JSON
(``{name: {"dtype", "shape", "data_offsets": [start, end]}, "__metadata__": {...}}``),
then the data section.  ``read_header`` parses that itself (a few kilobytes even for a
multi-gigabyte file), so a zero-byte, truncated or garbage file is reported with the
bytes expected and found instead of a Rust panic.  ``open_tensors`` reads single tensor
payloads on demand (``safe_open``), one at a time; nothing here loads a whole model.
"""
from __future__ import annotations

import json
import math
import struct
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DTYPE_BYTES = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1, "F8_E8M0": 1,
    "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
    "I32": 4, "U32": 4, "F32": 4,
    "I64": 8, "U64": 8, "F64": 8,
}
MAX_HEADER_BYTES = 100_000_000  # safetensors' own limit


class HeaderError(ValueError):
    """The file is not a readable safetensors file; the message says why, with numbers."""

    def __init__(self, path: Path, problem: str, expected_bytes: int | None = None,
                 actual_bytes: int | None = None) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = Path(path)
        self.problem = problem
        self.expected_bytes = expected_bytes
        self.actual_bytes = actual_bytes


@dataclass(frozen=True)
class TensorInfo:
    name: str
    dtype: str
    shape: tuple[int, ...]
    start: int  # offsets inside the data section
    end: int

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def expected_nbytes(self) -> int | None:
        size = DTYPE_BYTES.get(self.dtype)
        return None if size is None else self.numel * size


@dataclass(frozen=True)
class Header:
    """A parsed header.  ``state`` holds in-memory tensors for a legacy ``.bin`` file
    read with explicit opt-in (then offsets and sizes are not meaningful)."""
    path: Path
    file_size: int
    header_bytes: int
    tensors: Mapping[str, TensorInfo]
    metadata: Mapping[str, str] = field(default_factory=dict)
    state: Mapping[str, Any] | None = None

    @property
    def is_pickle(self) -> bool:
        return self.state is not None

    @property
    def data_start(self) -> int:
        return 8 + self.header_bytes

    @property
    def expected_file_size(self) -> int:
        return self.data_start + max((t.end for t in self.tensors.values()), default=0)

    def shapes(self) -> dict[str, tuple[int, ...]]:
        return {k: t.shape for k, t in self.tensors.items()}

    def problems(self) -> list[tuple[str, str]]:
        """``(tensor or "<file>", problem)`` for every inconsistency in the header."""
        if self.is_pickle:
            return [(n, "zero-numel tensor (shape " + str(list(t.shape)) + ")")
                    for n, t in self.tensors.items() if t.numel == 0]
        out: list[tuple[str, str]] = []
        if not self.tensors:
            out.append(("<file>", "the header lists no tensors"))
        if self.file_size < self.expected_file_size:
            out.append(("<file>", (f"truncated: the header needs {self.expected_file_size} bytes, "
                                  f"the file has {self.file_size}")))
        elif self.file_size > self.expected_file_size:
            out.append(("<file>", (f"{self.file_size - self.expected_file_size} trailing bytes after "
                                  f"the last tensor (expected {self.expected_file_size})")))
        cursor = 0
        for t in sorted(self.tensors.values(), key=lambda t: (t.start, t.end)):
            if t.dtype not in DTYPE_BYTES:
                out.append((t.name, f"unknown dtype {t.dtype!r}"))
            elif t.end - t.start != t.expected_nbytes:
                out.append((t.name, (f"data_offsets span {t.end - t.start} bytes, shape {list(t.shape)} "
                                    f"of {t.dtype} needs {t.expected_nbytes}")))
            if t.numel == 0:
                out.append((t.name, f"zero-numel tensor (shape {list(t.shape)})"))
            if t.start != cursor:
                out.append((t.name, (f"data_offsets start at {t.start}, expected {cursor} "
                                    "(overlapping or gapped tensors)")))
            cursor = max(cursor, t.end)
        return out


def _int_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0
                                           for v in value)


def read_header(path: str | Path) -> Header:
    """Parse ``path``'s header; raises ``HeaderError`` naming the problem."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            head = f.read(8)
            if len(head) < 8:
                raise HeaderError(path, f"file is {size} bytes; a safetensors file needs at least 8 "
                                        "(the header length) plus a JSON header",
                                  expected_bytes=8, actual_bytes=size)
            (n,) = struct.unpack("<Q", head)
            if n > MAX_HEADER_BYTES:
                raise HeaderError(path, f"the first 8 bytes announce a {n}-byte header (limit "
                                        f"{MAX_HEADER_BYTES}): not a safetensors file or garbage")
            if 8 + n > size:
                raise HeaderError(path, f"truncated inside the header: it needs {8 + n} bytes, "
                                        f"the file has {size}", expected_bytes=8 + n, actual_bytes=size)
            raw = f.read(n)
    except OSError as exc:
        raise HeaderError(path, f"cannot read: {exc.strerror or exc}") from None
    try:
        obj = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HeaderError(path, f"header is not valid JSON ({exc}); first bytes: {raw[:40]!r}") from None
    if not isinstance(obj, dict):
        raise HeaderError(path, f"header is JSON {type(obj).__name__}, expected an object")
    metadata = obj.pop("__metadata__", {}) or {}
    tensors: dict[str, TensorInfo] = {}
    for name, info in obj.items():
        if not (isinstance(info, dict) and isinstance(info.get("dtype"), str)
                and _int_list(info.get("shape")) and _int_list(info.get("data_offsets"))
                and len(info["data_offsets"]) == 2):
            raise HeaderError(path, f"tensor {name!r} has a malformed entry {info!r}")
        start, end = info["data_offsets"]
        if end < start:
            raise HeaderError(path, f"tensor {name!r} has data_offsets {start} > {end}")
        tensors[name] = TensorInfo(name, info["dtype"], tuple(info["shape"]), start, end)
    return Header(path, size, n, tensors, {str(k): str(v) for k, v in dict(metadata).items()})


def header_from_state(path: str | Path, state: Mapping[str, Any]) -> Header:
    """A ``Header`` view of an in-memory state dict (legacy ``.bin`` read with opt-in)."""
    tensors = {}
    for name, t in state.items():
        dtype = {"float32": "F32", "float16": "F16", "bfloat16": "BF16", "float64": "F64"}.get(
            str(t.dtype).removeprefix("torch."), str(t.dtype))
        nbytes = t.numel() * t.element_size()
        tensors[name] = TensorInfo(name, dtype, tuple(t.shape), 0, nbytes)
    return Header(Path(path), Path(path).stat().st_size, 0, tensors, {"format": "pickle"}, dict(state))


@contextmanager
def open_tensors(header: Header) -> Iterator[Any]:
    """``with open_tensors(h) as get: get(name)`` -> one torch tensor at a time."""
    if header.state is not None:
        yield header.state.__getitem__
        return
    from safetensors import safe_open

    with safe_open(str(header.path), framework="pt") as f:
        yield f.get_tensor


def folder_shapes(folder: str | Path) -> dict[str, tuple[int, ...]] | None:
    """Weight shapes of a model folder from its safetensors headers (single file or
    ``model.safetensors.index.json`` shards); ``None`` when it has no safetensors."""
    folder = Path(folder)
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        weight_map = json.loads(index.read_text()).get("weight_map", {})
        files = sorted(set(weight_map.values()))
    else:
        files = sorted(p.name for p in folder.glob("*.safetensors"))
    if not files:
        return None
    shapes: dict[str, tuple[int, ...]] = {}
    for name in files:
        shapes.update(read_header(folder / name).shapes())
    return shapes


def folder_tensor_files(folder: str | Path) -> dict[str, Path]:
    """Which safetensors file of a model folder holds each weight."""
    folder = Path(folder)
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        return {k: folder / v for k, v in json.loads(index.read_text()).get("weight_map", {}).items()}
    out: dict[str, Path] = {}
    for p in sorted(folder.glob("*.safetensors")):
        out.update({k: p for k in read_header(p).tensors})
    return out
