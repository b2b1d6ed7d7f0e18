"""Content addresses of the extract stage: a document, a judgement and a snapshot are named by
their inputs, so a rerun recognises work it has done and a changed input gets a new name."""

from __future__ import annotations

from webtext.components.config import ExtractConfig
from webtext.components.files import stable_hash

# Bump when the same page or config would now give other text or other verdicts.
EXTRACT_VERSION = 1
JUDGE_VERSION = 1


def extractor_key(config: ExtractConfig) -> str:
    """The extractor and its code version: a change re-extracts every page."""
    return f"{config.extractor}-v{EXTRACT_VERSION}"


def document_id(url: str, warc_file: str, warc_offset: int, extractor: str) -> str:
    """One archived response read by one extractor: a re-crawl or a new extractor is a new document."""
    return stable_hash([url, warc_file, warc_offset, extractor])[:16]


def judge_key(config: ExtractConfig) -> str:
    """The filter and dedup config (and code) a verdict was reached under; a change re-judges."""
    return stable_hash({"filters": config.filters.model_dump(mode="json"),
                        "dedup": config.dedup.model_dump(mode="json"), "version": JUDGE_VERSION})[:16]


def snapshot_id(kept_digest: str, judge: str) -> str:
    """The kept documents (their ids cover URL, record and extractor) and the config that judged them."""
    return stable_hash([kept_digest, judge])[:16]
