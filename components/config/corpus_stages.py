"""The sections of the stages that build the corpus: source, crawl and extract (filters, dedup)."""

from __future__ import annotations

import ipaddress
import os
from typing import Literal

from pydantic import Field, field_validator

from webtext.components.config.section import Section

# Image and video hosts, Reddit itself and Wikipedia: WebText kept none of them (GPT-2 removed
# Wikipedia so that its evaluation sets, many built from Wikipedia, would not overlap the corpus).
DEFAULT_BLOCKED_DOMAINS = [
    "reddit.com", "redd.it", "redditmedia.com", "redditstatic.com", "reddituploads.com",
    "imgur.com", "gfycat.com", "giphy.com", "flickr.com", "instagram.com", "pinterest.com",
    "tinypic.com", "photobucket.com", "imageshack.us", "deviantart.com",
    "youtube.com", "youtu.be", "vimeo.com", "dailymotion.com", "streamable.com", "twitch.tv",
    "liveleak.com", "tiktok.com", "vine.co",
    "wikipedia.org", "wikimedia.org", "wiktionary.org", "wikidata.org",
]
# Extensions of files that are never an HTML article (OpenWebText's list, trimmed to what matters).
DEFAULT_BLOCKED_EXTENSIONS = [
    ".jpg", ".jpeg", ".png", ".gif", ".gifv", ".webp", ".bmp", ".svg", ".ico", ".tif", ".tiff",
    ".mp4", ".webm", ".mov", ".avi", ".mkv", ".wmv", ".flv", ".m4v",
    ".mp3", ".wav", ".ogg", ".flac", ".m4a",
    ".pdf", ".doc", ".docx", ".ppt", ".pptx", ".xls", ".xlsx",
    ".zip", ".gz", ".tgz", ".bz2", ".xz", ".7z", ".rar", ".tar", ".exe", ".dmg", ".apk", ".iso",
]


class SourceConfig(Section):
    """Reading Reddit submission dumps into the link set (WebText's selection)."""

    dumps: list[str] = Field(
        default_factory=list,
        description="Dump files or glob patterns: Pushshift/Arctic-Shift NDJSON, plain or compressed "
        "(.zst with a long window, .xz, .bz2, .gz). `${VAR}` is expanded; WEBTEXT_HOME is always set.",
    )
    min_score: int = Field(
        3, description="Karma threshold: a submission is kept when its score is at least this (WebText: 3)."
    )
    drop_over_18: bool = Field(True, description="Drop submissions marked NSFW (`over_18`).")
    blocked_domains: list[str] = Field(
        default_factory=lambda: list(DEFAULT_BLOCKED_DOMAINS),
        description="Domains whose links are filtered before any fetch; subdomains match too.",
    )
    blocked_extensions: list[str] = Field(
        default_factory=lambda: list(DEFAULT_BLOCKED_EXTENSIONS),
        description="URL path extensions that are never HTML articles; such links are filtered.",
    )
    batch_lines: int = Field(
        100_000, gt=0,
        description="Lines per staged batch: the unit of progress a killed run resumes from.",
    )
    workers: int = Field(
        default_factory=lambda: os.cpu_count() or 1, ge=1,
        description="Processes parsing a dump (JSON parsing dominates the stage); default: all cores.",
    )
    max_malformed_fraction: float = Field(
        0.5, ge=0, le=1,
        description="A dump whose share of malformed lines exceeds this fails the run as corrupt.",
    )

    @field_validator("blocked_extensions")
    @classmethod
    def _dotted(cls, value: list[str]) -> list[str]:
        return [ext if ext.startswith(".") else f".{ext}" for ext in (e.lower() for e in value)]

    @field_validator("blocked_domains")
    @classmethod
    def _lower(cls, value: list[str]) -> list[str]:
        return [d.lower().strip(".") for d in value]


class CrawlConfig(Section):
    """Fetching the link set politely and safely; the source stage reads `allow` and `resolve` too."""

    fetcher: Literal["http", "warc"] = Field(
        "http", description="`http` fetches from the network; `warc` reads pages from `warc_inputs`.",
    )
    warc_inputs: list[str] = Field(
        default_factory=list,
        description="WARC files or globs (ours or Common Crawl's) read when `fetcher` is `warc`.",
    )
    user_agent: str = Field(
        "webtext/0.1 (+https://github.com/webtext/webtext)",
        description="User-Agent sent on every request and matched against robots.txt groups; "
        "keep a contact URL in it.",
    )
    concurrency: int = Field(64, ge=1, description="Requests in flight at once, across all hosts.")
    per_host: int = Field(2, ge=1, description="Requests in flight at once to one host.")
    per_host_delay_s: float = Field(
        1.0, ge=0, description="Pause between two requests to one host (0 for one's own servers).",
    )
    timeout_s: float = Field(
        30.0, gt=0,
        description="Wall-clock deadline for one attempt at a URL: redirects and body included.",
    )
    connect_timeout_s: float = Field(10.0, gt=0, description="Deadline for opening a connection.")
    read_timeout_s: float = Field(15.0, gt=0, description="Longest wait for the next bytes of a response.")
    robots_timeout_s: float = Field(10.0, gt=0, description="Deadline for fetching one robots.txt.")
    max_bytes: int = Field(
        5_000_000, gt=0,
        description="Cap on a body's decoded bytes; a larger page ends as `too_large`.",
    )
    max_redirects: int = Field(5, ge=0, description="Redirect hops followed before `redirect_limit`.")
    retries: int = Field(
        2, ge=0, description="Extra attempts after a connection error, a timeout, 429 or 5xx.",
    )
    backoff_s: float = Field(
        1.0, ge=0, description="First retry delay; doubles each retry, with jitter.",
    )
    max_retry_after_s: float = Field(
        30.0, ge=0, description="Cap on a server's Retry-After; longer waits are cut to this.",
    )
    batch_urls: int = Field(
        2000, gt=0, description="URLs per crawl batch: the unit a killed crawl resumes from.",
    )
    warc_max_bytes: int = Field(
        1_000_000_000, gt=0, description="Size at which a WARC file is closed and the next begun.",
    )
    allow: list[str] = Field(
        default_factory=list,
        description="`host:port` entries or CIDR ranges that may be fetched although private or loopback.",
    )
    resolve: dict[str, str] = Field(
        default_factory=dict,
        description="Hostname -> `ip:port` used instead of DNS, like curl's --resolve.",
    )

    @field_validator("allow")
    @classmethod
    def _allow_entries(cls, value: list[str]) -> list[str]:
        for entry in value:
            if "/" in entry:
                try:
                    ipaddress.ip_network(entry, strict=False)
                except ValueError as exc:
                    raise ValueError(f"{entry!r} is not a CIDR range") from exc
            elif not _split_host_port(entry):
                raise ValueError(f"{entry!r} is neither host:port nor a CIDR range")
        return value

    @field_validator("resolve")
    @classmethod
    def _resolve_entries(cls, value: dict[str, str]) -> dict[str, str]:
        for host, target in value.items():
            parsed = _split_host_port(target)
            if parsed is None:
                raise ValueError(f"{host}: {target!r} is not ip:port")
            try:
                ipaddress.ip_address(parsed[0])
            except ValueError as exc:
                raise ValueError(f"{host}: {parsed[0]!r} is not an IP address") from exc
        return {host.lower(): target for host, target in value.items()}


class GopherQualityConfig(Section):
    """Gopher's quality rules (Rae et al. 2021, appendix A; datatrove's GopherQualityFilter)."""

    enabled: bool = Field(True, description="Apply the rules below.")
    min_words: int = Field(50, ge=0, description="Fewest words a page may have (Gopher: 50).")
    max_words: int = Field(100_000, ge=1, description="Most words a page may have (Gopher: 100,000).")
    min_mean_word_length: float = Field(
        3.0, ge=0, description="Shortest mean word length in characters (Gopher: 3)."
    )
    max_mean_word_length: float = Field(
        10.0, ge=0, description="Longest mean word length in characters (Gopher: 10)."
    )
    max_symbol_word_ratio: float = Field(
        0.1, ge=0, description="Most `#` and `...`/`…` per word (Gopher: 0.1)."
    )
    max_bullet_lines_ratio: float = Field(
        0.9, ge=0, le=1, description="Most lines that start with a bullet (Gopher: 90%)."
    )
    max_ellipsis_lines_ratio: float = Field(
        0.3, ge=0, le=1, description="Most lines that end in an ellipsis (Gopher: 30%)."
    )
    max_non_alpha_words_ratio: float = Field(
        0.2, ge=0, le=1,
        description="Most words without an alphabetic character (Gopher: 80% of words must have one).",
    )
    min_stop_words: int = Field(
        2, ge=0, description="Fewest of the stop words the, be, to, of, and, that, have, with (Gopher: 2)."
    )


class GopherRepetitionConfig(Section):
    """Gopher's repetition rules (Rae et al. 2021, table A1; datatrove's GopherRepetitionFilter)."""

    enabled: bool = Field(True, description="Apply the rules below.")
    dup_line_frac: float = Field(0.3, ge=0, le=1, description="Most lines that repeat an earlier line.")
    dup_para_frac: float = Field(0.3, ge=0, le=1, description="Most paragraphs that repeat an earlier one.")
    dup_line_char_frac: float = Field(0.2, ge=0, le=1, description="Most characters in repeated lines.")
    dup_para_char_frac: float = Field(
        0.2, ge=0, le=1, description="Most characters in repeated paragraphs."
    )
    top_ngram_char_frac: dict[int, float] = Field(
        default_factory=lambda: {2: 0.20, 3: 0.18, 4: 0.16},
        description="n -> most characters covered by the most frequent word n-gram.",
    )
    dup_ngram_char_frac: dict[int, float] = Field(
        default_factory=lambda: {5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.10},
        description="n -> most characters covered by word n-grams that occur more than once.",
    )


class C4Config(Section):
    """C4's rules with the T5 paper's values (Raffel et al. 2020, section 2.2).

    Line rules remove lines (as C4 does), page rules drop the page. datatrove's C4 filter swaps the two
    numbers (3 words a line, 5 sentences a page); the paper's values are used here.
    """

    enabled: bool = Field(True, description="Apply the rules below.")
    min_words_per_line: int = Field(5, ge=0, description="Lines with fewer words are removed (T5: 5).")
    min_sentences: int = Field(3, ge=0, description="Pages left with fewer sentences are dropped (T5: 3).")
    terminal_punctuation: bool = Field(
        True, description="Remove lines that do not end in a terminal punctuation mark (T5)."
    )
    javascript_lines: bool = Field(True, description="Remove lines that mention javascript (T5).")
    policy_lines: bool = Field(
        True, description="Remove cookie and terms-of-use notices (datatrove's list of C4 policy phrases)."
    )
    lorem_ipsum: bool = Field(True, description="Drop pages containing 'lorem ipsum' (T5).")
    curly_brace: bool = Field(
        False,
        description="Drop pages containing '{' (T5 does). Off: it drops most pages about programming, "
        "which Reddit links to often and which GPT-2's WebText kept.",
    )


class FineWebConfig(Section):
    """FineWeb's own line rules (Penedo et al. 2024; datatrove's FineWebQualityFilter)."""

    enabled: bool = Field(True, description="Apply the rules below.")
    min_line_punct_ratio: float = Field(
        0.12, ge=0, le=1, description="Fewest lines ending in terminal punctuation (FineWeb: 0.12)."
    )
    short_line_chars: int = Field(30, ge=1, description="A line this long or shorter is short (FineWeb: 30).")
    max_short_line_ratio: float = Field(0.67, ge=0, le=1, description="Most short lines (FineWeb: 0.67).")
    max_char_dup_ratio: float = Field(
        0.01, ge=0, le=1, description="Most characters in lines that repeat another line (FineWeb: 0.01)."
    )
    max_newline_ratio: float = Field(
        0.3, ge=0, description="Most line breaks per word, a list-like page's sign (FineWeb: 0.3)."
    )


class FilterConfig(Section):
    """Which extracted documents enter the corpus; the first failing rule is the recorded reason."""

    wikipedia_domains: list[str] = Field(
        default_factory=lambda: ["wikipedia.org"],
        description="Documents whose final URL (after redirects) or canonical link is on one of these "
        "domains are dropped (GPT-2 removed Wikipedia from WebText).",
    )
    min_words: int = Field(
        100, ge=0,
        description="Fewest words a document may have (OpenWebText's 128 GPT-2 tokens ~ 100 words).",
    )
    language: str = Field("en", description="The language kept (an ISO 639-1 code py3langid knows).")
    language_threshold: float = Field(
        0.65, ge=0, le=1, description="Lowest probability of `language` a document may have (FineWeb: 0.65)."
    )
    gopher_repetition: GopherRepetitionConfig = Field(
        default_factory=GopherRepetitionConfig, description="Gopher's repetition rules."
    )
    gopher_quality: GopherQualityConfig = Field(
        default_factory=GopherQualityConfig, description="Gopher's quality rules."
    )
    c4: C4Config = Field(default_factory=C4Config, description="C4's rules (T5 values).")
    fineweb: FineWebConfig = Field(default_factory=FineWebConfig, description="FineWeb's line rules.")


class DedupConfig(Section):
    """Exact and near-duplicate removal over the documents that pass the filters."""

    ngram: int = Field(5, ge=1, description="Words per shingle (FineWeb: 5).")
    bands: int = Field(14, ge=1, description="MinHash LSH bands (FineWeb: 14).")
    rows: int = Field(8, ge=1, description="MinHash values per band (FineWeb: 8).")
    seed: int = Field(1, description="Seed of the MinHash permutations: fixed, so dedup is deterministic.")


class ExtractConfig(Section):
    """Main text from archived pages, quality filters, dedup and corpus snapshots."""

    extractor: Literal["trafilatura", "resiliparse"] = Field(
        "trafilatura",
        description="Main-content extractor: trafilatura (favor_precision: F1 0.958 on the scrapinghub "
        "article benchmark), resiliparse (~13x faster, F1 0.932 with comments and alt texts off), or "
        "module:function for your own (benchmarks/extract_quality.py).",
    )
    timeout_s: float = Field(
        20.0, gt=0,
        description="Hard limit on one page's extraction; a worker past it is killed and replaced.",
    )
    workers: int = Field(
        default_factory=lambda: os.cpu_count() or 1, ge=1, description="Extraction and filter processes."
    )
    batch_records: int = Field(
        500, ge=1,
        description="Pages per extraction batch (one Parquet shard, the unit a killed run resumes).",
    )
    filters: FilterConfig = Field(default_factory=FilterConfig, description="Quality filters.")
    dedup: DedupConfig = Field(default_factory=DedupConfig, description="Exact and MinHash dedup.")


def _split_host_port(text: str) -> tuple[str, int] | None:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        return None
    return host.strip("[]"), int(port)
