"""Pre-training gate: token ids fit the embedding; template tokens exist and are trained."""
from sftcheck.checks import tokens


def test_vocab_bounds(sft_check, sft_train_rows, sft_infer_prompts, sft_tokenizer, sft_embedding_rows):
    rows, source = sft_embedding_rows
    sft_check(tokens.vocab_bounds, sft_train_rows, sft_infer_prompts, sft_tokenizer, rows, source,
              getattr(sft_tokenizer, "chat_template", None))


def test_format_embeddings_trained(sft_check, sft_train_rows, sft_tokenizer, sft_output_embeddings,
                                   sft_adapter_trains, sft_format_emission):
    embeddings, source = sft_output_embeddings
    sft_check(tokens.format_embeddings_trained, sft_train_rows, sft_tokenizer, embeddings, source,
              sft_adapter_trains, sft_format_emission)
