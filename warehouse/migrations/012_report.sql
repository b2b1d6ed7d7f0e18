-- The claims report (`webtext report`, the pipeline's last stage) and what its scaling figure reads.

-- One row per report written. Its id hashes the figures' data, so an unchanged warehouse writes no new
-- one; its files are under WEBTEXT_HOME/reports/<report_id>/.
CREATE TABLE reports (
    report_id  VARCHAR PRIMARY KEY,
    name       VARCHAR NOT NULL,        -- the registered model it reports on (register.name)
    path       VARCHAR NOT NULL,        -- relative to WEBTEXT_HOME/reports
    figures    VARCHAR[] NOT NULL,      -- the keys of the figures drawn
    missing    VARCHAR[] NOT NULL,      -- the keys of the figures whose inputs are missing
    created_at TIMESTAMPTZ NOT NULL
);

-- Scores of a pretraining run's weights along training (`evaluate.every_steps`), kept under the run's
-- steps/ directory: the same tasks and metrics as `evaluations`, at each step.
CREATE TABLE step_evaluations (
    checkpoint_id VARCHAR NOT NULL,
    step          BIGINT NOT NULL,
    task          VARCHAR NOT NULL,
    metric        VARCHAR NOT NULL,
    value         DOUBLE NOT NULL,
    n_examples    BIGINT,
    data_sha256   VARCHAR,
    PRIMARY KEY (checkpoint_id, step, task, metric)
);
