"""``cm-bot flows``: checking flow files and the program file."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated, Any

import typer

from cm_bot.cli._common import command_group

flows_app = command_group("Check conversation flow files.")


@flows_app.command("check")
def flows_check(
    path: Annotated[
        Path | None,
        typer.Argument(metavar="PATH", help="A flow file, a program file, or a folder."),
    ] = None,
) -> None:
    """Validate flow files and the program file.

    Prints one line per problem, as path:line: message, and exits 1 on any problem.
    PATH may be a flow file, a program file, or a folder (its flows and its
    program.yaml). Without PATH: the configured flows folder (CM_BOT_FLOWS_DIR) and
    program file (CM_BOT_PROGRAM_FILE).
    """
    import yaml

    from cm_bot.flows import FlowDefinitionError, load_flows
    from cm_bot.flows.loader import PROGRAM_FILE_NAMES
    from cm_bot.program import load_program, looks_like_program, program_files
    from cm_bot.settings import Settings

    settings = Settings()
    problems: list[str] = []
    targets = [path] if path is not None else [settings.flows_dir]
    programs = program_files(targets if path is not None else [settings.program_file])
    if path is not None and path.is_file():
        try:
            is_program = looks_like_program(yaml.safe_load(path.read_text(encoding="utf-8")))
        except (yaml.YAMLError, OSError, UnicodeDecodeError):
            is_program = path.name in PROGRAM_FILE_NAMES
        targets = [] if is_program else targets
        programs = [path] if is_program else []
    flows: list[str] = []
    loaded: list[Any] = []  # the flows, for the needs they name (the program's needs mapping)
    for target in targets:
        try:
            registry = load_flows(target)
        except FlowDefinitionError as exc:
            problems.extend(str(p) for p in exc.problems)
            continue
        flows.extend(f.id for f in registry)
        loaded.extend(registry)
    if programs and not targets:  # a program file alone: its needs against the configured flows
        with contextlib.suppress(FlowDefinitionError):
            loaded.extend(load_flows(settings.flows_dir))
    for program in programs:
        try:
            load_program(program, flows=loaded)
        except FlowDefinitionError as exc:
            problems.extend(str(p) for p in exc.problems)
    if problems:
        for problem in problems:
            typer.echo(problem)
        raise typer.Exit(1)
    if flows:
        typer.echo(f"{len(flows)} flow(s) OK: {', '.join(flows)}")
    for program in programs:
        typer.echo(f"program file OK: {program}")
