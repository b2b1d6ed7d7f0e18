"""Pretraining with Lightning: token-shard batches, the GPT as a LightningModule, the run entry point."""

# A training process's progress lines start with this and carry JSON (step, max_steps, losses):
# the flow that started the process turns them into its progress artifact.
PROGRESS = "@progress "
