-- Lineage as views: from a registered version back to the Reddit submissions behind its training text.
-- `webtext lineage` reads these, and so can a user's own DuckDB session (docs/operations.md).

-- One row per checkpoint a checkpoint was made from: the one it continued (`parent`: a fine-tuned, SFT,
-- reward or aligned model's start), the model it was distilled from (`teacher`, pretraining) and the
-- reward model it was optimised against (`reward`, alignment).
CREATE VIEW checkpoint_edges AS
SELECT checkpoint_id, parent_id AS source_id, 'parent' AS relation
FROM checkpoints WHERE parent_id IS NOT NULL
UNION ALL
SELECT checkpoint_id, json_extract_string(config, '$.teacher_id'), 'teacher'
FROM checkpoints WHERE json_extract_string(config, '$.teacher_id') IS NOT NULL
UNION ALL
SELECT checkpoint_id, json_extract_string(config, '$.reward_id'), 'reward'
FROM checkpoints WHERE json_extract_string(config, '$.reward_id') IS NOT NULL;

-- Every checkpoint with each checkpoint it descends from, itself at depth 0. `relation` is the last edge
-- walked (a teacher's parent is reached through `parent`); `path` names every edge from the checkpoint.
CREATE VIEW checkpoint_ancestors AS
WITH RECURSIVE walk(checkpoint_id, ancestor_id, relation, path, depth) AS (
    SELECT checkpoint_id, checkpoint_id, 'self', 'self', 0 FROM checkpoints
    UNION ALL
    SELECT w.checkpoint_id, e.source_id, e.relation, w.path || '/' || e.relation, w.depth + 1
    FROM walk w JOIN checkpoint_edges e ON e.checkpoint_id = w.ancestor_id
    WHERE w.depth < 32  -- ids hash their parents, so there is no cycle; this bounds a hand-edited one
)
SELECT w.checkpoint_id, w.ancestor_id, w.relation, w.path, w.depth, c.kind, c.step, c.snapshot_id,
       c.token_set_id, c.tokenizer_id
FROM walk w JOIN checkpoints c ON c.checkpoint_id = w.ancestor_id;

-- Each registered version with every checkpoint it descends from (its own at depth 0).
CREATE VIEW version_lineage AS
SELECT v.name, v.version, a.*
FROM model_versions v JOIN checkpoint_ancestors a ON a.checkpoint_id = v.checkpoint_id;

-- Each snapshot's documents with the submissions that linked them (a document's URL is the normalised
-- URL its submissions carried; a URL posted twice has two rows), and its host.
CREATE VIEW snapshot_sources AS
SELECT sd.snapshot_id, d.doc_id, d.url, u.host, d.n_bytes, d.karma, d.title, s.id AS submission_id,
       s.subreddit, s.score, s.created_utc, s.source_file
FROM snapshot_documents sd
JOIN documents d ON d.doc_id = sd.doc_id
LEFT JOIN urls u ON u.url = d.url
LEFT JOIN submissions s ON s.url = d.url;
