-- Aligned checkpoints: `align` (a chat model optimised by PPO or DPO), beside `pretrain`, `finetune`,
-- `sft` and `reward`. DuckDB cannot change a CHECK in place, so the table is rebuilt with its rows, its
-- columns in the same order.
CREATE TABLE checkpoints_rebuilt (
    checkpoint_id VARCHAR PRIMARY KEY,
    kind          VARCHAR NOT NULL CHECK (kind IN ('pretrain', 'finetune', 'sft', 'reward', 'align')),
    parent_id     VARCHAR,
    tokenizer_id  VARCHAR NOT NULL,
    snapshot_id   VARCHAR NOT NULL,
    path          VARCHAR NOT NULL,
    sha256        VARCHAR NOT NULL,
    step          BIGINT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    token_set_id  VARCHAR,
    config        VARCHAR,
    val_loss      DOUBLE,
    val_bpb       DOUBLE
);
INSERT INTO checkpoints_rebuilt
SELECT checkpoint_id, kind, parent_id, tokenizer_id, snapshot_id, path, sha256, step, created_at,
       token_set_id, config, val_loss, val_bpb
FROM checkpoints;
DROP TABLE checkpoints;
ALTER TABLE checkpoints_rebuilt RENAME TO checkpoints;
