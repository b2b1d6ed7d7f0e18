"""webtext: from Reddit submissions to an evaluated, registered GPT, as one Prefect workflow.

The one import package the distribution installs. Its parts live in the repository's top-level
folders and install beneath it: `webtext.components` (the work, no Prefect), `webtext.flows`
(orchestration and the `webtext` command), `webtext.warehouse` (DuckDB schema and every SQL
statement) and `webtext.configs` (the YAML presets).
"""
