"""Weights between our GPT and `transformers`' GPT2LMHeadModel / OpenAIGPTLMHeadModel.

Both HF models keep the original TensorFlow `Conv1D` layout, (in, out), where `nn.Linear` stores
(out, in): the four projection matrices of a block are transposed on the way; every other tensor
keeps its shape. GPT-1's embeddings are called `tokens_embed` / `positions_embed` there.
"""

from __future__ import annotations

import torch

from webtext.components.model.gpt import GPT, GPTConfig

_CONV1D = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")


def config_from_gpt2(hf_config) -> GPTConfig:
    return GPTConfig(vocab_size=hf_config.vocab_size, block_size=hf_config.n_positions,
                     n_layer=hf_config.n_layer, n_head=hf_config.n_head, n_embd=hf_config.n_embd,
                     dropout=hf_config.resid_pdrop, pre_ln=True, gelu="tanh",
                     layer_norm_eps=hf_config.layer_norm_epsilon)


def config_from_openai_gpt(hf_config) -> GPTConfig:
    return GPTConfig(vocab_size=hf_config.vocab_size, block_size=hf_config.n_positions,
                     n_layer=hf_config.n_layer, n_head=hf_config.n_head, n_embd=hf_config.n_embd,
                     dropout=hf_config.resid_pdrop, pre_ln=False, gelu="tanh",
                     layer_norm_eps=hf_config.layer_norm_epsilon)


def _ours(name: str) -> str:
    """An HF parameter name in our names (GPT-1's embeddings renamed; GPT-2's are ours already)."""
    return name.replace("transformer.tokens_embed", "transformer.wte").replace(
        "transformer.positions_embed", "transformer.wpe")


def from_hf(hf_model) -> GPT:
    """Our GPT with the weights of a GPT2LMHeadModel or OpenAIGPTLMHeadModel."""
    gpt2 = hf_model.config.model_type == "gpt2"
    config = (config_from_gpt2 if gpt2 else config_from_openai_gpt)(hf_model.config)
    model = GPT(config)
    ours = model.state_dict()
    with torch.no_grad():
        for name, tensor in hf_model.state_dict().items():
            if name.endswith((".attn.bias", ".attn.masked_bias")) or name == "lm_head.weight":
                continue  # causal-mask buffers of older checkpoints; the head is tied to wte
            target = _ours(name)
            if target not in ours:
                raise ValueError(f"{type(hf_model).__name__} parameter {name!r} has no counterpart here")
            ours[target].copy_(tensor.t() if name.endswith(_CONV1D) else tensor)
    return model


def _refuse_options(config: GPTConfig) -> None:
    """transformers' GPT-2 and GPT-1 have no banded attention, shared layers, factorised embeddings
    or bias-free layers: weights with those would load without error and compute something else."""
    unsupported = {"local_window": config.local_window, "share_layers": config.share_layers,
                   "embedding_dim": config.embedding_dim, "bias": not config.bias}
    named = [name for name, value in unsupported.items() if value]
    if named:
        raise ValueError(f"this model uses {', '.join(named)}, which transformers' GPT2LMHeadModel and "
                         f"OpenAIGPTLMHeadModel cannot express; it cannot be exported to their format")


def hf_config(config: GPTConfig, eot_id: int) -> dict:
    """The `config.json` of the transformers model our weights become: GPT2LMHeadModel for pre-LN,
    OpenAIGPTLMHeadModel for GPT-1's post-LN.

    The two name the GELUs differently: GPT-2's `gelu_new` is the tanh approximation and `gelu` the
    exact one; GPT-1's `gelu` is the tanh approximation, and it has no exact GELU (nor `gelu_new`)."""
    _refuse_options(config)
    if not config.pre_ln and config.gelu == "exact":
        raise ValueError("this model uses the exact GELU, which transformers' OpenAIGPTLMHeadModel cannot "
                         "express (its `gelu` is the tanh approximation): train GPT-1 shapes with gelu: tanh "
                         "to export them")
    if config.pre_ln:
        act = "gelu_new" if config.gelu == "tanh" else "gelu"
    else:
        act = "gelu"
    shape = {"vocab_size": config.vocab_size, "n_positions": config.block_size, "n_embd": config.n_embd,
             "n_layer": config.n_layer, "n_head": config.n_head, "resid_pdrop": config.dropout,
             "embd_pdrop": config.dropout, "attn_pdrop": config.dropout,
             "layer_norm_epsilon": config.layer_norm_eps, "tie_word_embeddings": True,
             "bos_token_id": eot_id, "eos_token_id": eot_id}
    if config.pre_ln:
        return {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "n_inner": None,
                "activation_function": act, **shape}
    return {"architectures": ["OpenAIGPTLMHeadModel"], "model_type": "openai-gpt", "afn": act, **shape}


def _theirs(name: str) -> str:
    return name.replace("transformer.wte", "transformer.tokens_embed").replace(
        "transformer.wpe", "transformer.positions_embed")


def to_hf_state_dict(model: GPT) -> dict[str, torch.Tensor]:
    """Our weights in the names and layouts of the model `hf_config` describes; the output layer is
    left out, as transformers ties it to the token embedding on loading."""
    _refuse_options(model.config)
    rename = (lambda name: name) if model.config.pre_ln else _theirs
    return {rename(name): (t.t() if name.endswith(_CONV1D) else t).detach().contiguous()
            for name, t in model.state_dict().items() if name != "lm_head.weight"}
