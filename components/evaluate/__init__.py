"""Evaluating and registering checkpoints: bits per byte, zero/few-shot tasks, contamination, the
registry's files and their export to transformers."""
