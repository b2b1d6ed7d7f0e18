-- The extract stage. Extracted text lives in immutable Parquet shards under WEBTEXT_HOME/extract
-- (re-filtering reads them, never the WARC files); `documents` holds each document's corpus text
-- and its verdict under the latest filter config.

-- One row per archived page and extractor: what makes extraction incremental.
CREATE TABLE extractions (
    doc_id       VARCHAR PRIMARY KEY,  -- hash of url, WARC record and extractor
    url          VARCHAR NOT NULL,
    warc_file    VARCHAR NOT NULL,
    warc_offset  BIGINT NOT NULL,
    extractor    VARCHAR NOT NULL,     -- name and code version
    shard        VARCHAR NOT NULL,     -- relative to WEBTEXT_HOME/extract
    status       VARCHAR NOT NULL CHECK (status IN ('ok', 'no_text', 'extract_timeout', 'extract_error')),
    error        VARCHAR,
    n_chars      BIGINT NOT NULL,
    seconds      DOUBLE NOT NULL,
    extracted_at TIMESTAMPTZ NOT NULL
);

ALTER TABLE documents ADD COLUMN final_url VARCHAR;
ALTER TABLE documents ADD COLUMN canonical_url VARCHAR;
ALTER TABLE documents ADD COLUMN title VARCHAR;
ALTER TABLE documents ADD COLUMN filter_reason VARCHAR;  -- the first failing filter; `reason` adds dedup
ALTER TABLE documents ADD COLUMN lang VARCHAR;
ALTER TABLE documents ADD COLUMN lang_score DOUBLE;
ALTER TABLE documents ADD COLUMN n_words BIGINT;
ALTER TABLE documents ADD COLUMN n_bytes BIGINT;         -- UTF-8 bytes of `text`
ALTER TABLE documents ADD COLUMN karma INTEGER;          -- highest score of a submission linking the URL
ALTER TABLE documents ADD COLUMN created_utc BIGINT;     -- its earliest submission: dedup ties go to it
ALTER TABLE documents ADD COLUMN exact_key BIGINT;       -- hash of the normalised text
ALTER TABLE documents ADD COLUMN bands BIGINT[];         -- MinHash LSH band keys
ALTER TABLE documents ADD COLUMN judge_key VARCHAR;      -- the filter + dedup config that judged it
ALTER TABLE documents ADD COLUMN judged_at TIMESTAMPTZ;

ALTER TABLE snapshots ADD COLUMN judge_key VARCHAR;
ALTER TABLE snapshots ADD COLUMN path VARCHAR;           -- relative to WEBTEXT_HOME/snapshots
ALTER TABLE snapshots ADD COLUMN sha256 VARCHAR;         -- of its Parquet file
ALTER TABLE snapshots ADD COLUMN config VARCHAR;         -- the extract config, as JSON
