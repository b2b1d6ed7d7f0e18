-- The tokenize stage. Tokenizers live in WEBTEXT_HOME/tokenizers/<id>/, token sets (shards and their
-- manifest) in WEBTEXT_HOME/tokens/<id>/; these rows say which exist and what made them.

ALTER TABLE tokenizers ADD COLUMN config VARCHAR;            -- the tokenize config that trained it, JSON
ALTER TABLE tokenizers ADD COLUMN trained_bytes BIGINT;      -- UTF-8 bytes of text it was trained on
ALTER TABLE tokenizers ADD COLUMN created_at TIMESTAMPTZ;

CREATE TABLE token_sets (
    token_set_id    VARCHAR PRIMARY KEY,  -- hash of tokenizer, snapshot, split and shard config, code
    tokenizer_id    VARCHAR NOT NULL,
    snapshot_id     VARCHAR NOT NULL,
    path            VARCHAR NOT NULL,     -- relative to WEBTEXT_HOME/tokens
    dtype           VARCHAR NOT NULL,     -- uint16 or uint32
    manifest_sha256 VARCHAR NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL
);

-- Per split: what bits per byte needs (tokens, separators included, and UTF-8 bytes of text).
CREATE TABLE token_splits (
    token_set_id VARCHAR NOT NULL,
    split        VARCHAR NOT NULL CHECK (split IN ('train', 'val')),
    n_documents  BIGINT NOT NULL,
    n_tokens     BIGINT NOT NULL,
    n_bytes      BIGINT NOT NULL,
    n_shards     INTEGER NOT NULL,
    PRIMARY KEY (token_set_id, split)
);
