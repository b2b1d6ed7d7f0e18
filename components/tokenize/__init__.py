"""The tokenize stage's building blocks: byte-level BPE training, and a snapshot encoded into token shards."""
