"""InstructGPT's post-training: instruction and dialogue data in one chat format, what supervised
fine-tuning on it needs, and the reward model."""
