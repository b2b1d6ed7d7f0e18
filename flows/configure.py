"""`webtext config [--markdown]` and `webtext config show [--config PATH|PRESET] [--set KEY=VALUE ...]`.

The first prints the configuration reference (every key, its type, default and description) generated
from the typed schema; `docs/config.md` is its output. The second prints, as YAML, the configuration a
run would use after the preset and the overrides, so a long `--set` line can be checked before a run.
"""

from __future__ import annotations

import argparse

from webtext.components.home import Home


def add_command(commands: argparse._SubParsersAction) -> None:
    from webtext.flows.cli import add_config_options

    config = commands.add_parser("config", help="the configuration reference, or the resolved configuration")
    config.add_argument("--markdown", action="store_true",
                        help="print the reference as Markdown (the default output; docs/config.md)")
    actions = config.add_subparsers(dest="action")
    show = actions.add_parser("show", help="print the configuration a run would use, as YAML")
    add_config_options(show)


def run(args: argparse.Namespace, home: Home) -> int:
    """Print the reference or the resolved config. Neither reads WEBTEXT_HOME: `home` is there because
    every command module's `run` takes it."""
    if args.action == "show":
        import yaml

        from webtext.components.config import load_config

        config = load_config(args.config, args.overrides)
        print(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False, allow_unicode=True), end="")
        return 0
    from webtext.components.config_reference import markdown

    print(markdown(), end="")
    return 0
