"""A model's lineage and a corpus's composition as Markdown: what `webtext lineage` prints and what a
snapshot's dataset card says. The records are the warehouse's (`warehouse.lineage`), as plain dicts, so
that `--format json` prints them unchanged."""

from __future__ import annotations

from webtext.components.tables import markdown_table


def _share(part: int, whole: int) -> str:
    return f"{part / whole:.1%}" if whole else "-"


def composition_markdown(composition: dict, heading: str = "##") -> list[str]:
    """Documents and bytes by domain and by subreddit, the karma distribution and the months covered."""
    total = composition["bytes"]
    quantiles = composition["karma"]["quantiles"]
    lines = [f"{composition['documents']:,} documents, {total:,} bytes of UTF-8 text, linked from "
             f"{composition['submissions']:,} Reddit submissions.", "",
             f"{heading} By domain", ""]
    lines += markdown_table(["domain", "documents", "bytes", "share of bytes"],
                    [[r["domain"], r["documents"], int(r["bytes"]), _share(r["bytes"], total)]
                     for r in composition["domains"]])
    lines += ["", f"{heading} By subreddit", "",
              "A document linked from several subreddits counts in each.", ""]
    lines += markdown_table(["subreddit", "documents", "bytes", "submissions"],
                    [[r["subreddit"], r["documents"], int(r["bytes"]), int(r["submissions"])]
                     for r in composition["subreddits"]])
    lines += ["", f"{heading} Karma", "",
              "The highest score of a submission linking each document" + (
                  ": " + ", ".join(f"{k} {v:,}" for k, v in quantiles.items()) + "." if quantiles else "."),
              ""]
    lines += markdown_table(["karma", "documents", "bytes"],
                    [[r["karma"], r["documents"], int(r["bytes"])] for r in composition["karma"]["buckets"]])
    lines += ["", f"{heading} Months", "", "When the linking submissions were posted (UTC).", ""]
    lines += markdown_table(["month", "documents", "submissions"],
                    [[r["month"], r["documents"], r["submissions"]] for r in composition["months"]])
    return lines


def funnel_markdown(funnel: list[dict]) -> list[str]:
    """The verdicts of the filter and dedup config that chose a snapshot: what was kept and what was
    removed, and why."""
    return markdown_table(["verdict", "documents", "bytes"],
                  [[r["verdict"], r["documents"], int(r["bytes"])] for r in funnel])


def markdown(lineage: dict) -> str:
    """The whole walk: the version, the checkpoints it descends from, the snapshots, tokenizers and token
    sets behind them, each snapshot's funnel, and the composition of their documents."""
    version = lineage["version"]
    lines = [f"# Lineage of {version['name']}:{version['version']} (checkpoint `{version['checkpoint_id']}`)",
             "", "## Checkpoints", "",
             "Each checkpoint it descends from, with the edges walked to it: `parent` (the checkpoint it "
             "continued), `teacher` (distilled from), `reward` (optimised against).", ""]
    lines += markdown_table(["checkpoint", "kind", "path", "step", "token set", "tokenizer", "snapshot"],
                    [[f"`{c['checkpoint_id']}`", c["kind"], c["path"], c["step"], c["token_set_id"] or "-",
                      c["tokenizer_id"], c["snapshot_id"]] for c in lineage["checkpoints"]])
    for snapshot in lineage["snapshots"]:
        lines += ["", f"## Snapshot `{snapshot['snapshot_id']}`", "",
                  f"Published {snapshot['created_at']}: {snapshot['n_documents']:,} documents, "
                  f"{snapshot['n_bytes']:,} bytes, chosen by filter and dedup config "
                  f"`{snapshot['judge_key']}`.",
                  "", "### Extract funnel", ""]
        lines += funnel_markdown(snapshot["funnel"])
    lines += ["", "## Composition", ""]
    lines += composition_markdown(lineage["composition"], heading="###")
    if "submissions" in lineage:
        lines += ["", "## Submissions", "", ", ".join(lineage["submissions"]) or "(none)"]
    return "\n".join(lines) + "\n"
