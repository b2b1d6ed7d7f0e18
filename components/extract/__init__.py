"""The extract stage's building blocks: main text from archived pages, filters, dedup, snapshots."""
