"""Pretraining with Lightning: token-shard batches, the GPT as a LightningModule, the run entry point."""
