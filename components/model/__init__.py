"""The GPT model: one module for GPT-1 and GPT-2, its presets, and conversion to and from transformers."""
