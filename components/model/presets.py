"""Model shapes by name: the papers' models, and small shapes that train on a CPU in minutes."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported by the model, not by the config that names a preset
    from webtext.components.model.gpt import GPTConfig

PRESETS: dict[str, dict] = {
    # GPT-1 (Radford et al. 2018, section 4.1): 12 x 768, 12 heads, 512 positions, post-LN.
    "gpt1": dict(n_layer=12, n_head=12, n_embd=768, block_size=512, dropout=0.1, pre_ln=False),
    # GPT-2 (Radford et al. 2019, table 2): pre-LN with a final LayerNorm, 1024 positions.
    "gpt2-small": dict(n_layer=12, n_head=12, n_embd=768, block_size=1024, dropout=0.1),
    "gpt2-medium": dict(n_layer=24, n_head=16, n_embd=1024, block_size=1024, dropout=0.1),
    "gpt2-large": dict(n_layer=36, n_head=20, n_embd=1280, block_size=1024, dropout=0.1),
    "gpt2-xl": dict(n_layer=48, n_head=25, n_embd=1600, block_size=1024, dropout=0.1),
    # GPT-2 shapes for a CPU: the sample trains `cpu-small` for a few minutes, tests `cpu-tiny`.
    "cpu-tiny": dict(n_layer=2, n_head=2, n_embd=64, block_size=64, dropout=0.0),
    "cpu-small": dict(n_layer=4, n_head=4, n_embd=256, block_size=256, dropout=0.0),
    "cpu-medium": dict(n_layer=6, n_head=6, n_embd=384, block_size=256, dropout=0.0),
}


def model_config(spec: str | dict, vocab_size: int) -> GPTConfig:
    """The GPTConfig of a preset name, or of an inline shape (GPTConfig's fields), for `vocab_size`."""
    from webtext.components.model.gpt import GPTConfig

    if isinstance(spec, str):
        if spec not in PRESETS:
            raise ValueError(f"unknown model preset {spec!r}; presets: {', '.join(PRESETS)}")
        spec = PRESETS[spec]
    return GPTConfig(**{**spec, "vocab_size": vocab_size})
