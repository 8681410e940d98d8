"""Data loaders: formats, schemas, bad rows recorded (never raised), bounded-memory streaming."""
from __future__ import annotations

import json
import tracemalloc

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sftcheck.checks.support.rows import Example, RowProblem

from sftcheck import dataio

QA = {"id": "a", "question": "What is 2+2?", "answer": "4"}
SHAPES = {
    "qa": QA,
    "prompt_completion": {"prompt": "What is 2+2?", "completion": "4"},
    "messages": {"messages": [{"role": "system", "content": "Be brief."},
                              {"role": "user", "content": "What is 2+2?"},
                              {"role": "assistant", "content": "4"}]},
    "sharegpt": {"conversations": [{"from": "human", "value": "What is 2+2?"}, {"from": "gpt", "value": "4"}]},
    "alpaca": {"instruction": "What is 2+2?", "input": "", "output": "4"},
}


def write(path, rows):
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    elif path.suffix == ".json":
        path.write_text(json.dumps(rows))
    else:
        pq.write_table(pa.Table.from_pylist(rows), path)
    return path


@pytest.mark.parametrize("schema", list(SHAPES))
@pytest.mark.parametrize("ext", [".jsonl", ".json", ".parquet"])
def test_every_schema_in_every_format(tmp_path, schema, ext):
    path = write(tmp_path / f"d{ext}", [SHAPES[schema]] * 3)
    audit, kept = dataio.audit(path, keep=10)
    assert (audit.schema, audit.rows, audit.valid, audit.problem_count) == (schema, 3, 3, 0)
    assert kept[0].question == "What is 2+2?" and kept[0].answer == "4"
    assert [e.row for e in kept] == [1, 2, 3]


def test_system_turn_and_alpaca_input_are_kept():
    ex = dataio.to_example(SHAPES["messages"], "messages", "f", 1)
    assert ex.system == "Be brief." and ex.messages[0] == ("system", "Be brief.")
    ex = dataio.to_example({"instruction": "Add", "input": "2 and 2", "output": "4"}, "alpaca", "f", 1)
    assert ex.question == "Add\n\n2 and 2"


@pytest.mark.parametrize("row, field", [
    ({"id": "x", "question": "q"}, "answer"),
    ({"question": "q", "answer": ["4"]}, "answer"),
    ({"messages": [{"role": "user", "content": "q"}]}, "messages"),
    ({"messages": [{"role": "user"}, {"role": "assistant", "content": "4"}]}, "messages[0].content"),
    ({"conversations": [{"from": "alien", "value": "q"}, {"from": "gpt", "value": "4"}]}, "conversations[0].from"),
])
def test_bad_rows_name_file_row_and_field(tmp_path, row, field):
    schema = dataio.detect_schema(row) or "qa"
    path = write(tmp_path / "d.jsonl", [SHAPES[schema], row])
    audit, _ = dataio.audit(path, schema)
    assert audit.valid == 1 and audit.problem_count == 1
    p = audit.problems[0]
    assert (p.file, p.row, p.field) == (str(path), 2, field)


def test_invalid_json_line_and_unknown_extension(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps(QA) + "\n{not json\n")
    audit, _ = dataio.audit(path)
    assert audit.problems[0].row == 2 and "not valid JSON" in audit.problems[0].problem
    (tmp_path / "d.csv").write_text("question,answer\n")
    audit, _ = dataio.audit(tmp_path / "d.csv")
    assert audit.error and "unknown data file type" in audit.error


def test_empty_file(tmp_path):
    audit, kept = dataio.audit(write(tmp_path / "d.jsonl", []))
    assert (audit.rows, audit.valid, kept) == (0, 0, [])


# ---------------------------------------------------------------- properties

text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)
qa_rows = st.lists(st.fixed_dictionaries({"id": text, "question": text, "answer": text}), max_size=20)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=qa_rows, ext=st.sampled_from([".jsonl", ".json", ".parquet"]))
def test_roundtrip_any_text(tmp_path_factory, rows, ext):
    path = write(tmp_path_factory.mktemp("rt") / f"d{ext}", rows)
    audit, kept = dataio.audit(path, "qa", keep=len(rows))
    assert audit.valid == len(rows) and audit.problem_count == 0
    assert [(e.question, e.answer) for e in kept] == [(r["question"], r["answer"]) for r in rows]


json_values = st.recursive(st.none() | st.booleans() | st.integers() | text,
                           lambda c: st.lists(c, max_size=3) | st.dictionaries(text, c, max_size=3), max_leaves=8)


@settings(max_examples=150, deadline=None)
@given(raw=json_values, schema=st.sampled_from(dataio.SCHEMAS))
def test_any_json_row_becomes_example_or_problem(raw, schema):
    out = dataio.to_example(raw, schema, "f.jsonl", 7)
    assert isinstance(out, (Example, RowProblem))
    if isinstance(out, RowProblem):
        assert out.row == 7 and out.file == "f.jsonl" and out.field and out.problem


def test_streaming_memory_is_bounded(tmp_path):
    """200k rows (~14 MB) audited with a peak far below the file size: memory does not grow
    with the number of rows (the same holds for 1M rows; see README)."""
    path = tmp_path / "big.jsonl"
    line = (json.dumps({"id": "r", "question": "Convert 19 meters to centimeters.", "answer": "1900"}) + "\n")
    with path.open("w") as f:
        for _ in range(4):
            f.write(line * 50_000)
    tracemalloc.start()
    audit, kept = dataio.audit(path, keep=100)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert audit.valid == 200_000 and len(kept) == 100
    assert peak < 2_000_000, f"peak {peak / 1e6:.1f} MB for a {path.stat().st_size / 1e6:.0f} MB file"
