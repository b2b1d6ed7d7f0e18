"""Fetched exchanges to archive, and a writer that archives them, shared by the WARC tests."""

from datetime import UTC, datetime

from webtext.components.crawl.warc import FetchRecord, WarcWriter

WHEN = datetime(2024, 5, 1, 12, 30, 15, 250000, tzinfo=UTC)
HTML = b"<html><head><title>t</title></head><body><p>Hello, web.</p></body></html>"


def fetch(i=0, body=HTML, headers=None, truncated=None, url=None, status=200, reason="OK"):
    return FetchRecord(
        url=url or f"http://site{i % 3}.example/page/{i}?q={i}",
        ip=f"93.184.216.{i % 250}",
        fetched_at=WHEN,
        request_method="GET",
        request_headers=[("Host", f"site{i % 3}.example"), ("User-Agent", "webtext-test (+http://x.test)")],
        status=status,
        reason=reason,
        http_version="HTTP/1.1",
        response_headers=headers if headers is not None else [("Content-Type", "text/html")],
        body=body,
        truncated=truncated,
    )


def write_all(directory, records, **kwargs):
    with WarcWriter(directory, "crawl-00042", **kwargs) as writer:
        refs = [writer.write(r) for r in records]
    return refs, writer.close()
