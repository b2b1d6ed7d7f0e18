"""Fine-tuning: GPT-1 input transformations, task heads with the auxiliary LM loss, task data, metrics."""
