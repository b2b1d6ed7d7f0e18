"""The `source` stage: Reddit submission dumps in, the WebText link set out."""
