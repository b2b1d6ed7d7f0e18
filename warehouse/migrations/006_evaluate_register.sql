-- The evaluate and register stages.

-- One row per evaluation run: its id hashes the checkpoint, the evaluate config, the hashes of the
-- files it read and the stage's code version, so an unchanged rerun finds it and does nothing.
CREATE TABLE evaluation_runs (
    run_id        VARCHAR PRIMARY KEY,
    checkpoint_id VARCHAR NOT NULL,
    config        VARCHAR NOT NULL,      -- the evaluate config, JSON
    report        VARCHAR NOT NULL,      -- the markdown report (scores, contamination, generations)
    created_at    TIMESTAMPTZ NOT NULL
);

-- A version's registry directory (relative to WEBTEXT_HOME/registry) and the sha256 of its
-- lineage.json, which holds the sha256 of every other file there.
ALTER TABLE model_versions ADD COLUMN path VARCHAR;
ALTER TABLE model_versions ADD COLUMN lineage_sha256 VARCHAR;
CREATE UNIQUE INDEX model_versions_checkpoint ON model_versions (name, checkpoint_id);

-- Every promotion asked for, granted or refused, with the gates that refused it.
CREATE TABLE model_promotions (
    name       VARCHAR NOT NULL,
    version    INTEGER NOT NULL,
    alias      VARCHAR NOT NULL,
    accepted   BOOLEAN NOT NULL,
    reason     VARCHAR,
    created_at TIMESTAMPTZ NOT NULL
);
