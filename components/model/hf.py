"""Weights between our GPT and `transformers`' GPT2LMHeadModel / OpenAIGPTLMHeadModel.

Both HF models keep the original TensorFlow `Conv1D` layout, (in, out), where `nn.Linear` stores
(out, in): the four projection matrices of a block are transposed on the way; every other tensor
keeps its shape. GPT-1's embeddings are called `tokens_embed` / `positions_embed` there.
"""

from __future__ import annotations

import torch

from components.model.gpt import GPT, GPTConfig

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


def to_gpt2_state_dict(model: GPT) -> dict[str, torch.Tensor]:
    """Our GPT-2-style weights in GPT2LMHeadModel's names and layouts (pre-LN, no options)."""
    c = model.config
    if not c.pre_ln or c.embedding_dim or c.share_layers or c.local_window or not c.bias:
        raise ValueError("only a plain GPT-2 shape (pre-LN, biases, no ALBERT or banded options) "
                         "converts to GPT2LMHeadModel")
    return {name: (t.t() if name.endswith(_CONV1D) else t).contiguous()
            for name, t in model.state_dict().items()}
