"""Typed configuration: YAML presets in `configs/` plus `--set dotted.key=value` overrides.

Every section is a pydantic model that forbids unknown keys and describes each field, so a typo or a
bad value fails before any work starts and the Prefect UI renders the effective config as a form.
"""

from __future__ import annotations

import ipaddress
import os
import warnings
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from components.errors import ConfigError

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


class Section(BaseModel):
    """Base of every config section: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


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


class TokenizeConfig(Section):
    """Byte-level BPE trained on a snapshot, and the snapshot encoded into training shards."""

    snapshot: str | None = Field(
        None, description="The snapshot to tokenize: an id or a unique prefix of one. Default: the "
        "snapshot the current extract config published.",
    )
    vocab_size: int = Field(
        50_257, ge=260,
        description="Vocabulary size, special tokens included (GPT-2: 50,257). A small corpus may "
        "stop short of it: the trained size is recorded.",
    )
    min_frequency: int = Field(2, ge=1, description="Fewest occurrences of a pair for it to be merged.")
    train_max_bytes: int | None = Field(
        None, ge=1, description="Train on the snapshot's first documents up to this many UTF-8 bytes "
        "(None: all). Encoding always covers every document.",
    )
    val_fraction: float = Field(
        0.005, ge=0, lt=1,
        description="Share of documents (by doc_id hash) in the validation split (nanoGPT's "
        "OpenWebText: 0.0005; more here, as the sample is small).",
    )
    shard_tokens: int = Field(
        100_000_000, ge=1, description="Tokens per shard file (100M uint16: 200 MB, as modded-nanoGPT).",
    )
    batch_documents: int = Field(
        1024, ge=1, description="Documents read and encoded at a time: bounds the stage's memory.",
    )
    threads: int = Field(
        default_factory=lambda: os.cpu_count() or 1, ge=1, description="Encoding threads.",
    )


class PretrainConfig(Section):
    """Language-model pretraining of the GPT on a token set (GPT-2's recipe, nanoGPT's defaults)."""

    model: str | dict[str, Any] = Field(
        "gpt2-small", description="A preset (gpt1, gpt2-small, gpt2-medium, gpt2-large, gpt2-xl, cpu-tiny, "
        "cpu-small, cpu-medium) or an inline shape: GPTConfig fields such as n_layer, n_head, n_embd, "
        "block_size, dropout, pre_ln, local_window, embedding_dim, share_layers.",
    )
    max_steps: int = Field(5000, ge=1, description="Optimizer steps to train for (and the cosine's length).")
    max_minutes: float | None = Field(
        None, gt=0, description="Also stop after this much wall time (a budget instead of a step count).",
    )

    @field_validator("model")
    @classmethod
    def _known_preset(cls, value: str | dict[str, Any]) -> str | dict[str, Any]:
        from components.model.presets import PRESETS

        if isinstance(value, str) and value not in PRESETS:
            raise ValueError(f"unknown model preset {value!r}; presets: {', '.join(PRESETS)}")
        return value

    micro_batch_size: int = Field(8, ge=1, description="Sequences per device per forward pass.")
    batch_tokens: int = Field(
        524_288, ge=1,
        description="Tokens per optimizer step over all devices (GPT-2/nanoGPT: ~0.5M); reached by "
        "gradient accumulation, rounded to whole micro-batches.",
    )
    learning_rate: float = Field(6e-4, gt=0, description="Peak learning rate (GPT-3 small: 6e-4).")
    min_lr_ratio: float = Field(0.1, ge=0, le=1, description="Cosine floor, as a share of the peak.")
    warmup_steps: int = Field(100, ge=0, description="Linear warmup steps.")
    weight_decay: float = Field(0.1, ge=0, description="AdamW decay on matrices only (GPT-3: 0.1).")
    betas: tuple[float, float] = Field((0.9, 0.95), description="AdamW betas (GPT-3: 0.9, 0.95).")
    grad_clip: float = Field(1.0, ge=0, description="Gradient norm clip (GPT-3: 1.0); 0 turns it off.")
    precision: str = Field(
        "auto",
        description="Lightning precision; auto: bf16-mixed where the hardware has bf16, else 32-true.",
    )
    accelerator: str = Field("auto", description="Lightning accelerator: auto, cpu, gpu, ...")
    devices: int | str = Field("auto", description="Devices per node (Lightning `devices`).")
    num_nodes: int = Field(1, ge=1, description="Nodes (Lightning `num_nodes`).")
    strategy: str = Field("auto", description="Lightning strategy: auto, ddp, fsdp, ...")
    compile: bool = Field(False, description="torch.compile the model (faster steps after a slow start).")
    val_every_steps: int = Field(250, ge=1, description="Validate every this many optimizer steps.")
    val_batches: int = Field(20, ge=1, description="Validation micro-batches (the same ones every time).")
    checkpoint_every_steps: int = Field(250, ge=1, description="Resumable checkpoint every this many steps.")
    log_every_steps: int = Field(10, ge=1, description="Progress line every this many steps.")
    sample_tokens: int = Field(48, ge=0, description="Tokens sampled at each validation (0: none).")
    seed: int = Field(1337, description="Seeds initialisation, batches and dropout.")


class TaskConfig(Section):
    """One labelled task: where its data is, how its columns map onto GPT-1's input transformation."""

    name: str = Field(description="The task's name, as written in `evaluations.task`.")
    type: Literal["classification", "entailment", "similarity", "multiple_choice"] = Field(
        description="Input transformation and head (GPT-1, figure 1).",
    )
    files: dict[str, str] = Field(
        default_factory=dict,
        description="Split name -> a local .csv, .tsv, .json or .jsonl file (`${VAR}` expanded); "
        "offline use.",
    )
    hub: str | None = Field(None, description="A Hugging Face dataset name, used when `files` is empty.")
    hub_config: str | None = Field(
        None, description="The hub dataset's configuration (e.g. `sst2` of `glue`).")
    train_split: str = Field("train", description="The split fine-tuned on.")
    validation_split: str = Field("validation", description="The split scored.")
    fields: list[str | list[str]] = Field(
        description="Columns in input order: [text]; [premise, hypothesis]; [a, b]; [context, answer_1, "
        "answer_2, ...]. A list of columns is joined with spaces (a story's four sentences); empty "
        "answers are left out, so examples may have fewer choices than columns.",
    )
    label: str = Field("label", description="The label column.")
    labels: list[str | int] | None = Field(
        None,
        description="Label values in id order (for multiple choice: the value naming each answer). "
        "Default: the sorted distinct labels of the training split.",
    )
    regression: bool = Field(False, description="Similarity as a score (one output, MSE) instead of classes.")
    metrics: list[Literal["acc", "f1", "mcc", "pearson", "spearman"]] | None = Field(
        None,
        description="Metrics on the validation split. Default: acc; pearson and spearman for similarity.",
    )
    max_train_examples: int | None = Field(None, ge=1, description="Use only the first N training examples.")
    max_validation_examples: int | None = Field(None, ge=1, description="Score only the first N.")


class FinetuneConfig(Section):
    """GPT-1's fine-tuning recipe (Radford et al. 2018, section 4.1) on each task, from the pretrained
    checkpoint of the current config."""

    tasks: list[TaskConfig] = Field(default_factory=list, description="The tasks, each fine-tuned apart.")
    lm_weight: float = Field(
        0.5, ge=0, description="Weight of the auxiliary LM loss (GPT-1: 0.5; 0 turns it off).")
    learning_rate: float = Field(
        6.25e-5, gt=0, description="Peak learning rate (GPT-1: 6.25e-5, for 117M parameters; small models "
        "want ~1e-3).",
    )
    batch_size: int = Field(32, ge=1, description="Examples per step (GPT-1: 32).")
    epochs: int = Field(3, ge=1, description="Passes over the training split (GPT-1: 3).")
    warmup_fraction: float = Field(
        0.002, ge=0, le=1, description="Linear warmup share of the steps (GPT-1: 0.2%).")
    weight_decay: float = Field(0.01, ge=0, description="Decay on matrices (GPT-1's L2 of 0.01).")
    classifier_dropout: float = Field(0.1, ge=0, lt=1, description="Dropout before the head (GPT-1: 0.1).")
    from_scratch: bool = Field(
        False, description="Start from random weights of the same shape: measures what pretraining gives.",
    )
    precision: str = Field("auto", description="As `pretrain.precision`.")
    seed: int = Field(1337, description="Seeds the head, the example order and dropout.")


class EvalTaskConfig(Section):
    """One zero- or few-shot task, scored by the language model alone (GPT-2, section 3; GPT-3,
    section 2): no head, no training."""

    name: str = Field(description="The task's name, as written in `evaluations.task`.")
    type: Literal["last_word", "multiple_choice"] = Field(
        description="last_word: predict a passage's final word from the rest (LAMBADA; acc, ppl); "
        "multiple_choice: the likeliest answer after the context (acc, acc_token, acc_norm).",
    )
    files: dict[str, str] = Field(
        default_factory=dict,
        description="Split name -> a local .csv, .tsv, .json or .jsonl file (`${VAR}` expanded).",
    )
    hub: str | None = Field(None, description="A Hugging Face dataset name, used when `files` is empty.")
    hub_config: str | None = Field(None, description="The hub dataset's configuration.")
    split: str = Field("test", description="The split scored.")
    shots: int = Field(
        0, ge=0, description="K solved examples from `shots_split` put before each one (GPT-3's K-shot).")
    shots_split: str = Field("train", description="The split the K examples are drawn from.")
    text: str = Field("text", description="last_word: the passage column.")
    fields: list[str | list[str]] = Field(
        default_factory=list,
        description="multiple_choice: [context, answer_1, answer_2, ...]; a list of columns is joined "
        "with spaces; empty answers are left out.",
    )
    label: str = Field("label", description="multiple_choice: the column naming the right answer.")
    labels: list[str | int] | None = Field(
        None, description="multiple_choice: the label value naming each answer, in answer order "
        "(default 0, 1, 2, ...).",
    )
    max_examples: int | None = Field(None, ge=1, description="Score only the first N examples.")

    @model_validator(mode="after")
    def _fields_for_type(self) -> EvalTaskConfig:
        if self.type == "multiple_choice" and len(self.fields) < 3:
            raise ValueError(f"task {self.name!r}: multiple_choice needs fields [context, answer_1, "
                             f"answer_2, ...]")
        return self


class EvaluateConfig(Section):
    """Scoring the pretrained checkpoint: bits per byte, zero/few-shot tasks, contamination."""

    texts: list[str] = Field(
        default_factory=list,
        description="Fixed text files (or globs) scored in bits per byte for every version, so versions "
        "compare; their total is task `texts`, each file task `texts/<file name>`.",
    )
    tasks: list[EvalTaskConfig] = Field(default_factory=list, description="Zero- and few-shot tasks.")
    val_tokens: int | None = Field(
        None, ge=1, description="Score at most this many tokens of the snapshot's validation split "
        "(task `validation`); default all.",
    )
    contamination_ngram: int = Field(
        13, ge=1, description="Words in the n-grams matched against the training snapshot (GPT-3: 13; "
        "GPT-2: 8).",
    )
    batch_size: int = Field(16, ge=1, description="Sequences per forward pass.")
    device: str = Field("auto", description="torch device: auto (cuda when present, else cpu), cpu, cuda:0.")
    seed: int = Field(1234, description="Seeds the choice of few-shot examples and the sample generations.")
    prompts: list[str] = Field(
        default_factory=lambda: ["The", "In a statement on"],
        description="Prompts continued in the evaluation report (sample generations).",
    )
    sample_tokens: int = Field(40, ge=0, description="Tokens sampled per prompt in the report.")


class GateConfig(Section):
    """One condition a version must meet to take an alias."""

    task: str = Field(description="The evaluation task, as in `evaluations.task` (e.g. `texts`).")
    metric: str = Field(description="The metric (e.g. `bpb`); bpb, ppl and contamination are better lower.")
    beat_current: bool = Field(
        False, description="Must be better than the version holding the alias now (passes when none does).")
    min: float | None = Field(None, description="Must be at least this.")
    max: float | None = Field(None, description="Must be at most this.")


class RegisterConfig(Section):
    """The model registry (MLflow-style): numbered versions of a named model, and aliases."""

    name: str = Field(
        "webtext-gpt", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        description="The registered model's name: letters, digits, `.`, `_`, `-`.",
    )
    alias: str = Field(
        "champion", pattern=r"^[A-Za-z][A-Za-z0-9_-]*$",
        description="The alias a newly registered version is promoted to when it passes the gates.",
    )
    gates: dict[str, list[GateConfig]] = Field(
        default_factory=lambda: {"champion": [GateConfig(task="texts", metric="bpb", beat_current=True)]},
        description="Alias -> the gates a version must pass to take it; an alias not named has none.",
    )


class SampleConfig(Section):
    """The embedded sample: a small local web and a matching dump, built offline by the project."""

    enabled: bool = Field(
        False, description="Build the sample dump under WEBTEXT_HOME and serve its pages on loopback."
    )
    articles: int = Field(
        40, ge=5,
        description="Number of plain article pages (the special page kinds come on top); at least 5, "
        "as the duplicates and the redirect copy the second, third and fifth.",
    )
    slow_pages: bool = Field(
        True, description="Include pages that answer slowly (their crawl status depends on timing)."
    )


STAGE_NAMES = ("source", "crawl", "extract", "tokenize", "pretrain", "finetune", "evaluate", "register")


class ClusterConfig(Section):
    """Where the crawl and extract stages run their batches: here, one after another, or as tasks on
    a Dask cluster. On a cluster, WEBTEXT_HOME must be on storage every worker sees."""

    task_runner: Literal["local", "dask"] = Field(
        "local", description="local: batches run one after another in this process (each uses its own "
        "workers); dask: batches run at once on a Dask cluster (`pip install .[dask]`).",
    )
    dask_address: str | None = Field(
        None, description="A running Dask scheduler (`tcp://host:8786`); unset: a local cluster is started "
        "for the stage and stopped after it.",
    )
    dask_workers: int = Field(2, ge=1, description="Worker processes of the local cluster.")


class ScheduleConfig(Section):
    """When a deployment runs on its own: a cron line or an interval, in a timezone."""

    cron: str | None = Field(None, description="A cron line, e.g. `0 3 1 * *` (03:00 on each month's first).")
    interval_s: int | None = Field(None, ge=60, description="Seconds between runs, instead of `cron`.")
    timezone: str = Field("UTC", description="IANA timezone the cron line is read in.")
    active: bool = Field(True, description="False registers the schedule paused.")

    @model_validator(mode="after")
    def _one_of(self) -> ScheduleConfig:
        if (self.cron is None) == (self.interval_s is None):
            raise ValueError("give exactly one of cron and interval_s")
        return self


class ServeConfig(Section):
    """`webtext serve`: one deployment per stage and one for the pipeline, each with these parameters."""

    schedules: dict[str, ScheduleConfig] = Field(
        default_factory=dict,
        description="Deployment (`pipeline` or a stage name) -> its schedule; a deployment not named runs "
        "only when started by hand.",
    )

    @field_validator("schedules")
    @classmethod
    def _known(cls, value: dict[str, ScheduleConfig]) -> dict[str, ScheduleConfig]:
        unknown = sorted(set(value) - {"pipeline", *STAGE_NAMES})
        if unknown:
            raise ValueError(f"no deployment named {', '.join(unknown)}; deployments: pipeline, "
                             f"{', '.join(STAGE_NAMES)}")
        return value


# pydantic warns that a field named `register` hides ABCMeta.register, a class method of every model;
# nothing here calls that, and the stage's name is the config key users write.
warnings.filterwarnings("ignore", message='Field name "register"', category=UserWarning)


class WebtextConfig(Section):
    """The whole pipeline's configuration, one section per stage."""

    source: SourceConfig = Field(default_factory=SourceConfig, description="The `source` stage.")
    crawl: CrawlConfig = Field(default_factory=CrawlConfig, description="The `crawl` stage.")
    extract: ExtractConfig = Field(default_factory=ExtractConfig, description="The `extract` stage.")
    tokenize: TokenizeConfig = Field(default_factory=TokenizeConfig, description="The `tokenize` stage.")
    pretrain: PretrainConfig = Field(default_factory=PretrainConfig, description="The `pretrain` stage.")
    finetune: FinetuneConfig = Field(default_factory=FinetuneConfig, description="The `finetune` stage.")
    evaluate: EvaluateConfig = Field(default_factory=EvaluateConfig, description="The `evaluate` stage.")
    register: RegisterConfig = Field(default_factory=RegisterConfig, description="The `register` stage.")
    cluster: ClusterConfig = Field(default_factory=ClusterConfig, description="Where batches run.")
    serve: ServeConfig = Field(default_factory=ServeConfig, description="Deployments and their schedules.")
    sample: SampleConfig = Field(default_factory=SampleConfig, description="The embedded sample.")


def _split_host_port(text: str) -> tuple[str, int] | None:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        return None
    return host.strip("[]"), int(port)


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split `dotted.key=yaml value` into its key path and its parsed value."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {text!r}: expected dotted.key=value")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"--set {key}: value {raw!r} is not valid YAML ({exc.__class__.__name__})") from exc
    return key.strip().split("."), value


def _apply(data: dict, path: list[str], value: Any, origin: str) -> None:
    node: Any = data
    for depth, part in enumerate(path[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            prefix = ".".join(path[: depth + 1])
            raise ConfigError(f"config key {prefix!r} is not a section ({origin})")
        node = child
    node[path[-1]] = value


def _describe(error: dict, data: dict) -> str:
    key = ".".join(str(p) for p in error["loc"])
    if error["type"] == "extra_forbidden":
        return f"unknown config key {key!r}"
    value = data
    for part in error["loc"]:
        value = value.get(part) if isinstance(value, dict) else None
    return f"config key {key!r}: bad value {value!r}: {error['msg']}"


def load_config(path: str | Path | None = None, overrides: list[str] = ()) -> WebtextConfig:
    """Read a YAML preset, apply `--set` overrides and validate, naming the first bad key."""
    data: dict = {}
    if path is not None:
        path = Path(path)
        try:
            loaded = yaml.safe_load(path.read_text())
        except FileNotFoundError:
            raise ConfigError(f"config file {path} does not exist") from None
        except OSError as exc:
            raise ConfigError(f"config file {path} cannot be read: {exc.strerror}") from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" (line {mark.line + 1})" if mark else ""
            problem = getattr(exc, "problem", None) or exc.__class__.__name__
            raise ConfigError(f"config file {path} is not valid YAML{where}: {problem}") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"config file {path} must hold a mapping of sections")
        data = loaded or {}
    for text in overrides:
        keys, value = parse_override(text)
        _apply(data, keys, value, f"--set {text}")
    try:
        return WebtextConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc.errors()[0], data)) from None
