-- The tables every stage meets in (docs/interface.md). Later migrations add columns, never rename.

CREATE TABLE submissions (
    id          VARCHAR PRIMARY KEY,   -- Reddit's base-36 submission id
    url         VARCHAR NOT NULL,      -- normalised; joins urls.url
    raw_url     VARCHAR NOT NULL,      -- as it stood in the dump
    score       INTEGER NOT NULL,      -- the karma the selection used
    subreddit   VARCHAR,
    created_utc BIGINT,                -- seconds since the epoch, as Reddit writes it
    source_file VARCHAR NOT NULL
);

CREATE TABLE urls (
    url         VARCHAR PRIMARY KEY,
    host        VARCHAR,
    status      VARCHAR NOT NULL DEFAULT 'pending' CHECK (status IN (
                    'pending', 'ok', 'http_error', 'timeout', 'too_large', 'robots',
                    'blocked_address', 'bad_scheme', 'not_html', 'redirect_limit',
                    'connection_error', 'filtered')),
    http_status INTEGER,
    attempts    INTEGER NOT NULL DEFAULT 0,
    error       VARCHAR,               -- the filter reason when status = 'filtered'
    fetched_at  TIMESTAMPTZ,
    added_at    TIMESTAMPTZ NOT NULL,
    added_by    VARCHAR NOT NULL       -- source_loads.load_id of the load that first saw it
);

-- One row per dump file loaded under one source config: what makes the stage idempotent.
CREATE TABLE source_loads (
    load_id       VARCHAR PRIMARY KEY, -- sha256 of the file + hash of the source config
    path          VARCHAR NOT NULL,
    sha256        VARCHAR NOT NULL,
    size          BIGINT NOT NULL,
    mtime_ns      BIGINT NOT NULL,
    config_hash   VARCHAR NOT NULL,
    lines         BIGINT NOT NULL,
    malformed     BIGINT NOT NULL,
    self_post     BIGINT NOT NULL,
    no_url        BIGINT NOT NULL,
    no_score      BIGINT NOT NULL,
    low_score     BIGINT NOT NULL,
    over_18       BIGINT NOT NULL,
    selected      BIGINT NOT NULL,
    loaded_at     TIMESTAMPTZ NOT NULL
);

CREATE TABLE documents (
    doc_id      VARCHAR PRIMARY KEY,
    url         VARCHAR NOT NULL,
    text        VARCHAR,
    kept        BOOLEAN,
    reason      VARCHAR,
    cluster_id  VARCHAR
);

CREATE TABLE snapshots (
    snapshot_id VARCHAR PRIMARY KEY,
    created_at  TIMESTAMPTZ NOT NULL,
    n_documents BIGINT NOT NULL,
    n_bytes     BIGINT NOT NULL
);

CREATE TABLE snapshot_documents (
    snapshot_id VARCHAR NOT NULL,
    doc_id      VARCHAR NOT NULL,
    PRIMARY KEY (snapshot_id, doc_id)
);

CREATE TABLE tokenizers (
    tokenizer_id VARCHAR PRIMARY KEY,
    snapshot_id  VARCHAR NOT NULL,
    vocab_size   INTEGER NOT NULL,
    path         VARCHAR NOT NULL,
    sha256       VARCHAR NOT NULL
);

CREATE TABLE checkpoints (
    checkpoint_id VARCHAR PRIMARY KEY,
    kind          VARCHAR NOT NULL CHECK (kind IN ('pretrain', 'finetune')),
    parent_id     VARCHAR,
    tokenizer_id  VARCHAR NOT NULL,
    snapshot_id   VARCHAR NOT NULL,
    path          VARCHAR NOT NULL,
    sha256        VARCHAR NOT NULL,
    step          BIGINT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL
);

CREATE TABLE evaluations (
    checkpoint_id VARCHAR NOT NULL,
    task          VARCHAR NOT NULL,
    metric        VARCHAR NOT NULL,
    value         DOUBLE NOT NULL,
    n_examples    BIGINT,
    created_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (checkpoint_id, task, metric)
);

CREATE TABLE model_versions (
    name          VARCHAR NOT NULL,
    version       INTEGER NOT NULL,
    checkpoint_id VARCHAR NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (name, version)
);

CREATE TABLE model_aliases (
    name    VARCHAR NOT NULL,
    alias   VARCHAR NOT NULL,
    version INTEGER NOT NULL,
    PRIMARY KEY (name, alias)
);
