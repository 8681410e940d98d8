"""Pre-training gate: the data files (rows parse, truncation, answer round trip, leakage)."""
from sftcheck.checks import data

from sftcheck.session_data import iter_file


def test_schema(sft_check, sft_train_data, sft_eval_data):
    sft_check(data.schema, sft_train_data.audit, sft_eval_data.audit if sft_eval_data else None)


def test_truncation(sft_check, sft_train_rows, sft_tokenizer, sft_config):
    sft_check(data.truncation, sft_train_rows, sft_tokenizer, sft_config.format.max_length)


def test_answer_roundtrip(sft_check, sft_train_rows, sft_hooks, sft_tokenizer):
    parser = sft_hooks.answer_parser
    sft_check(data.answer_roundtrip, sft_train_rows, parser.fn, sft_tokenizer, parser.label)


def test_leakage(sft_check, sft_config):
    d = sft_config.data
    sft_check(data.leakage, iter_file(sft_config, d.train),
              iter_file(sft_config, d.eval) if d.eval else None)
