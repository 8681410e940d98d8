"""Merging a LoRA adapter into its base *in place* and restoring it exactly.

``behaviour.merge_parity`` needs the logits of the merged model, and the tuned generation
pass runs merged once they agree.  ``merge_and_unload()`` on a deep copy would hold two
full models in memory; instead the weights of the adapted layers only are copied aside (on
their device when it has room for them, else in host memory: merging never runs an
accelerator out of memory), the adapter is merged with peft's own merge (``merge_adapter()``,
the code ``merge_and_unload()`` runs), and afterwards the original weights are copied back
bit for bit, so later passes see exactly the loaded model.

While merged, each LoRA wrapper is also taken out of the module tree (its merged base layer
put in its place, as ``merge_and_unload()`` leaves the model): a merged wrapper only forwards
to that layer, but its Python call on every layer and every decoding step cost ~10 % of a
tuned pass on the fixture model (bench/README.md).  The wrappers are put back on exit.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator


def _lora_layers(model):
    from peft.tuners.lora import LoraLayer

    return [(name, m) for name, m in model.named_modules() if isinstance(m, LoraLayer)]


def _parent(model, name: str):
    parent, _, attr = name.rpartition(".")
    return (model.get_submodule(parent) if parent else model), attr


def _aside_device(layers) -> str | None:
    """Where the original weights wait while merged: on their own device when it has room for
    them twice over (a device copy is fast), else in host memory (merging must not run an
    accelerator out of memory).  None: the weights' own device."""
    import torch

    weights = [layer.get_base_layer().weight for _, layer in layers]
    devices = {w.device for w in weights}
    if len(devices) != 1 or next(iter(devices)).type != "cuda":
        return None if devices <= {torch.device("cpu")} else "cpu"
    need = sum(w.numel() * w.element_size() for w in weights)
    free, _ = torch.cuda.mem_get_info(next(iter(devices)))
    return None if free > 2 * need else "cpu"


@contextlib.contextmanager
def merged_in_place(peft_model) -> Iterator[object]:
    """Yield ``peft_model`` with its active adapter merged into the base weights (the LoRA
    wrappers out of the module tree); everything is restored exactly on exit."""
    import torch

    layers = _lora_layers(peft_model)
    where = _aside_device(layers)

    def aside(t):
        return t.detach().to(where or t.device, copy=True)

    saved = [(layer, aside(layer.get_base_layer().weight),
              None if getattr(layer.get_base_layer(), "bias", None) is None
              else aside(layer.get_base_layer().bias)) for _, layer in layers]
    peft_model.merge_adapter()
    swapped = []
    try:
        for name, layer in layers:
            parent, attr = _parent(peft_model, name)
            if getattr(parent, attr, None) is layer:
                setattr(parent, attr, layer.get_base_layer())
                swapped.append((parent, attr, layer))
        yield peft_model
    finally:
        for parent, attr, layer in swapped:
            setattr(parent, attr, layer)
        peft_model.unmerge_adapter()
        with torch.no_grad():
            for layer, weight, bias in saved:
                base = layer.get_base_layer()
                base.weight.copy_(weight)
                if bias is not None:
                    base.bias.copy_(bias)
