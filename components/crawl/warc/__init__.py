"""The raw archive: request/response pairs appended to rotating gzip WARC files, and read back.

Every record is its own gzip member (a standard `.warc.gz`), so a `WarcRef` (file, offset,
length) reads one response without touching the rest of the file. `writer` appends, `repair`
finishes the files a killed writer left open, `reader` reads ours and Common Crawl's.
"""

from webtext.components.crawl.warc.reader import iter_responses, read_response
from webtext.components.crawl.warc.records import (
    OPEN_SUFFIX,
    TRUNCATED_REASONS,
    FetchRecord,
    WarcPage,
    WarcRef,
)
from webtext.components.crawl.warc.repair import recover
from webtext.components.crawl.warc.writer import WarcWriter

__all__ = [
    "OPEN_SUFFIX",
    "TRUNCATED_REASONS",
    "FetchRecord",
    "WarcPage",
    "WarcRef",
    "WarcWriter",
    "iter_responses",
    "read_response",
    "recover",
]
