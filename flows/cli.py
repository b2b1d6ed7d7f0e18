"""`webtext`: the command line. Sets up WEBTEXT_HOME and Prefect, validates config, runs flows.

Prefect and the stage code are imported only after the environment is set, so PREFECT_HOME lands
under WEBTEXT_HOME and `webtext --help` starts fast.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from webtext import configs as presets
from webtext.components.errors import ConfigError, WebtextError
from webtext.components.home import Home

DEFAULT_PRESET = "sample"


def _prepare_environment() -> Home:
    """Pin WEBTEXT_HOME to an absolute path and keep Prefect's state inside it."""
    home = Home.from_env()
    os.environ["WEBTEXT_HOME"] = str(home.root)
    os.environ.setdefault("PREFECT_HOME", str(home.prefect))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    return home


def add_config_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=config_path, default=DEFAULT_PRESET,
                        help=f"a YAML file, or the name of a bundled preset ({', '.join(presets.names())}; "
                             f"default: {DEFAULT_PRESET})")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override one dotted config key with a YAML value; may repeat")


def config_path(value: str) -> Path:
    """A path as given, or a bundled preset by name when no such file exists (`--config tiny`)."""
    path = Path(value)
    if not path.exists() and path.suffix == "" and presets.preset(value).is_file():
        return presets.preset(value)
    return path


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="webtext", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the whole pipeline as one Prefect flow run")
    add_config_options(run)
    run.add_argument("--plan", action="store_true",
                     help="print which stages would run and why, and run nothing")
    stage = commands.add_parser("stage", help="run one stage alone")
    stage.add_argument("name", help="the stage to run (`webtext run --plan` lists them in pipeline order)")
    add_config_options(stage)
    server = commands.add_parser("server", help="start the Prefect server and UI on 127.0.0.1")
    server.add_argument("--port", type=int, default=4200)
    serve = commands.add_parser("serve", help="serve one deployment per stage and the pipeline, with "
                                "their schedules, until interrupted")
    add_config_options(serve)
    report = commands.add_parser("report", help="write the claims report (Markdown, HTML, SVG charts) from "
                                 "the warehouse: the report stage alone, as `webtext stage report`")
    add_config_options(report)
    report.add_argument("--out", type=Path, help="also copy the report's files into this directory")
    from webtext.flows import chat, configure, corpus, gc, generate, lineage, models, predict, score

    corpus.add_commands(commands)
    gc.add_command(commands)
    models.add_commands(commands)
    lineage.add_command(commands)
    generate.add_command(commands)
    chat.add_command(commands)
    score.add_command(commands)
    predict.add_command(commands)
    configure.add_command(commands)
    return parser


def _run_flows(args: argparse.Namespace, home: Home) -> int:
    from webtext.components.config import load_config

    config = load_config(args.config, args.overrides)
    home.root.mkdir(parents=True, exist_ok=True)  # before Prefect looks for its home inside it
    from webtext.flows.console import quiet_console
    from webtext.flows.pipeline import STAGES, pipeline

    if args.command == "stage" and args.name not in STAGES:
        raise WebtextError(f"unknown stage {args.name!r}; stages: {', '.join(STAGES)}")
    if args.command == "run" and args.plan:
        from webtext.flows.plan import plan

        for step in plan(config, home):
            print(f"{step.stage:<10} {step.action:<18} {step.reason}".rstrip())
        return 0
    quiet_console()
    from prefect import tags

    from webtext.flows.exclusive import command_holds_warehouse, run_tag

    # The runs carry this process's tag, so that if it is killed, the next command marks them crashed.
    name = "report" if args.command == "report" else getattr(args, "name", None)
    with command_holds_warehouse(home) as con, tags(run_tag()):
        results = pipeline(config) if args.command == "run" else [STAGES[name].flow(config)]
        if args.command == "report" and args.out:
            from webtext.flows.report import STAGE, copy_out
            from webtext.flows.stage import Context

            for path in copy_out(STAGE.planned(Context(con, config, home)).output, args.out):
                print(path)
    for result in results:
        print(result.summary)
    api = os.environ.get("PREFECT_API_URL")  # set when a server was named or reused; else a temporary one
    history = f"{api.removesuffix('/api')}/runs" if api else "`webtext server`, then http://127.0.0.1:4200"
    print(f"results: warehouse {home.warehouse} (WEBTEXT_HOME={home.root}); run history: {history}")
    return 0


def _server(args: argparse.Namespace, home: Home) -> int:
    from webtext.flows.api import record_server

    record_server(home, args.port)  # exec keeps this pid, so the record names the server's process
    # The UI finds the API at the URL it is told, 127.0.0.1:4200 by default: another port needs saying.
    os.environ.setdefault("PREFECT_UI_API_URL", f"http://127.0.0.1:{args.port}/api")
    command = ["prefect", "server", "start", "--host", "127.0.0.1", "--port", str(args.port)]
    os.execvp(sys.executable, [sys.executable, "-m", *command])


def _serve(args: argparse.Namespace, home: Home) -> int:
    from webtext.components.config import load_config
    from webtext.flows.deployments import serve

    config = load_config(args.config, args.overrides)
    home.root.mkdir(parents=True, exist_ok=True)
    serve(config)
    return 0


def main(argv: list[str] | None = None) -> int:
    home = _prepare_environment()
    args = _parser().parse_args(argv)
    try:
        if args.command == "server":
            return _server(args, home)
        from webtext.flows.api import choose_api

        choose_api(home)
        if args.command == "corpus":
            from webtext.flows import corpus

            return corpus.run(args, home)
        if args.command == "config":
            from webtext.flows import configure

            return configure.run(args, home)
        if args.command == "gc":
            from webtext.flows import gc

            return gc.run(args, home)
        if args.command == "serve":
            return _serve(args, home)
        if args.command == "models":
            from webtext.flows import models

            return models.run(args, home)
        if args.command == "lineage":
            from webtext.flows import lineage

            return lineage.run(args, home)
        if args.command == "generate":
            from webtext.flows import generate

            return generate.run(args, home)
        if args.command == "chat":
            from webtext.flows import chat

            return chat.run(args, home)
        if args.command == "reward":
            from webtext.flows import score

            return score.run(args, home)
        if args.command == "predict":
            from webtext.flows import predict

            return predict.run(args, home)
        return _run_flows(args, home)
    except ConfigError as exc:
        print(f"webtext: error: {exc}", file=sys.stderr)
        return 2
    except WebtextError as exc:
        print(f"webtext: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # an unwritable WEBTEXT_HOME, a full disk: the machine's, not ours
        print(f"webtext: error: {exc.filename or home.root}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("webtext: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
