-- The pretrain stage. A run lives in WEBTEXT_HOME/runs/<checkpoint_id>/ (resumable Lightning
-- checkpoints, logs); what it hands on (model.safetensors + config.json) is what `checkpoints` records.

ALTER TABLE checkpoints ADD COLUMN token_set_id VARCHAR;
ALTER TABLE checkpoints ADD COLUMN config VARCHAR;        -- the stage config that trained it, JSON
ALTER TABLE checkpoints ADD COLUMN val_loss DOUBLE;       -- nats per token on the token set's val split
ALTER TABLE checkpoints ADD COLUMN val_bpb DOUBLE;        -- the same in bits per byte
