"""Merging a LoRA adapter into its base *in place* and restoring it exactly.

``behaviour.merge_parity`` needs the logits of the merged model.  ``merge_and_unload()``
on a deep copy would hold two full models in memory; instead the weights of the adapted
layers only are copied aside, the adapter is merged with peft's own merge
(``merge_adapter()``, the code ``merge_and_unload()`` runs), and afterwards the original
weights are copied back bit for bit, so later passes see exactly the loaded model.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator


def _lora_layers(model):
    from peft.tuners.lora import LoraLayer

    return [m for m in model.modules() if isinstance(m, LoraLayer)]


@contextlib.contextmanager
def merged_in_place(peft_model) -> Iterator[object]:
    """Yield ``peft_model`` with its active adapter merged into the base weights."""
    import torch

    layers = _lora_layers(peft_model)
    saved = [(layer, layer.get_base_layer().weight.detach().clone(),
              None if getattr(layer.get_base_layer(), "bias", None) is None
              else layer.get_base_layer().bias.detach().clone()) for layer in layers]
    peft_model.merge_adapter()
    try:
        yield peft_model
    finally:
        peft_model.unmerge_adapter()
        with torch.no_grad():
            for layer, weight, bias in saved:
                base = layer.get_base_layer()
                base.weight.copy_(weight)
                if bias is not None:
                    base.bias.copy_(bias)
