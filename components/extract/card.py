"""A snapshot's dataset card: the `README.md` a Hugging Face dataset repository shows, in the spirit of
Datasheets for Datasets (Gebru et al. 2021): what is in it, how it was collected and filtered, what was
removed and why. Its YAML header is the Hub's metadata (size, language, source, licence), and its
`configs` entry points `datasets.load_dataset(DIR)` at the Parquet file beside it."""

from __future__ import annotations

import json

import yaml

from webtext.components.extract.snapshot import COLUMNS, DATA_FILE
from webtext.components.lineage import composition_markdown, funnel_markdown

# The Hub's size categories, by the number of rows below which each ends.
_SIZES = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
          (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"), (1_000_000_000, "100M<n<1B")]

LICENCE_NOTE = (
    "The text of each document belongs to its authors and publishers; this card grants no licence to it. "
    "Like OpenAI's WebText, the corpus is a research artefact: check each source site's terms before "
    "redistributing or training a model you release.")


def size_category(n: int) -> str:
    return next((name for limit, name in _SIZES if n < limit), "n>1B")


def dataset_card(snapshot: dict, manifest: dict, composition: dict, funnel: list[dict]) -> str:
    """The card of one snapshot: its `snapshots` row, its manifest, what its documents are made of
    (`warehouse.lineage.composition`) and the verdicts that chose them (`warehouse.lineage.funnel`)."""
    config = json.loads(snapshot["config"] or "{}")
    filters = config.get("filters", {})
    language = filters.get("language", "en")
    header = {
        "pretty_name": f"webtext snapshot {snapshot['snapshot_id']}",
        "language": [language],
        "license": "other",
        "license_name": "web-content-of-its-authors",
        "size_categories": [size_category(snapshot["n_documents"])],
        "source_datasets": ["original"],
        "task_categories": ["text-generation"],
        "tags": ["webtext", "reddit", "web-crawl"],
        "configs": [{"config_name": "default", "data_files": [{"split": "train", "path": DATA_FILE}]}],
    }
    enabled = [name for name, settings in filters.items() if isinstance(settings, dict)
               and settings.get("enabled", True)]
    wikipedia = filters.get("wikipedia_domains", [])
    dedup = config.get("dedup", {})
    extractor = manifest.get("extractor") or config.get("extractor", "the configured extractor")
    removed = sum(r["documents"] for r in funnel if r["verdict"] != "kept")
    body = [
        f"# webtext snapshot `{snapshot['snapshot_id']}`", "",
        f"{snapshot['n_documents']:,} web documents in language `{language}` ({snapshot['n_bytes']:,} bytes "
        f"of UTF-8 text) behind links that Reddit users submitted and upvoted, collected as GPT-2's WebText "
        f"was (Radford et al. 2019, section 2.1). Published {snapshot['created_at']:%Y-%m-%d %H:%M} UTC by "
        f"webtext's extract stage; `{DATA_FILE}` has sha256 `{snapshot['sha256']}`.", "",
        "## Dataset structure", "",
        f"One row per document in `{DATA_FILE}`, ordered by `doc_id`: "
        + ", ".join(f"`{c}`" for c in COLUMNS) + " (`karma`: the highest score of a submission linking the "
        "page).", "",
        '    datasets.load_dataset("<this directory>", split="train")', "",
        "## Composition", "",
        *composition_markdown(composition, heading="###"), "",
        "## Collection process", "",
        "1. **Source.** Reddit submission dumps were read; self posts, NSFW posts, posts without a URL and "
        "posts below the karma threshold were left out, and each URL was normalised.",
        "2. **Crawl.** Each URL was fetched once, politely (robots.txt, per-host delays, size and time "
        "limits), and archived as WARC.",
        f"3. **Extraction.** The main text of each HTML page was extracted with {extractor}.",
        f"4. **Filtering.** Documents were kept in language `{language}`, with at least "
        f"{filters.get('min_words', '?')} words, from outside {', '.join(wikipedia) or 'no excluded domain'} "
        f"(WebText left Wikipedia out), and past these filters in turn: {', '.join(enabled) or 'none'} (the "
        "full settings are in `manifest.json`).",
        f"5. **Deduplication.** Near-duplicates were found by MinHash over {dedup.get('ngram', '?')}-word "
        f"shingles ({dedup.get('bands', '?')} bands of {dedup.get('rows', '?')} rows); one document of each "
        "cluster was kept, the one linked earliest.", "",
        "## What was removed, and why", "",
        f"{removed:,} documents judged under filter config `{snapshot['judge_key']}` were removed; "
        "`kept` is this snapshot.", "",
        *funnel_markdown(funnel), "",
        "## Uses and limits", "",
        "Language-model pretraining and the study of web text. Reddit's karma is a filter for what its "
        "users found interesting, not for accuracy or for quality: the text carries the topics, opinions "
        "and biases of the subreddits in the composition above, and may contain personal information that "
        "was public on the pages crawled.", "",
        "## Licence", "", LICENCE_NOTE, "",
    ]
    return "---\n" + yaml.safe_dump(header, sort_keys=False) + "---\n\n" + "\n".join(body)
