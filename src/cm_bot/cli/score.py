"""``cm-bot score``: a screening instrument scored from the command line."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from cm_bot.cli._common import fail


def score(
    instrument: Annotated[
        str, typer.Argument(metavar="INSTRUMENT", help="phq2, phq9, gad2, gad7, hvs or ahc")
    ],
    answers: Annotated[str, typer.Option(metavar="JSON", help='Item answers, e.g. {"phq9.q1": 2}')],
    age: Annotated[
        int | None, typer.Option(metavar="N", help="Age in years (AHC physical activity).")
    ] = None,
) -> None:
    """Score a screening instrument; print the result as JSON.

    The result is one JSON object on stdout. When the answers cannot be scored
    (an item missing or out of range) it says "valid": false with the reason, and
    the exit status is 2, as for bad JSON or an unknown instrument.
    """
    from cm_bot.scoring import UnknownInstrumentError
    from cm_bot.scoring import score as score_instrument

    try:
        parsed: Any = json.loads(answers)
    except json.JSONDecodeError as exc:
        raise fail(f"--answers is not valid JSON: {exc}", 2) from None
    if not isinstance(parsed, dict):
        raise fail("--answers must be a JSON object keyed by item id", 2)
    try:
        result = score_instrument(instrument, parsed, age=age)
    except UnknownInstrumentError as exc:
        raise fail(str(exc), 2) from None
    typer.echo(json.dumps(result, ensure_ascii=False))
    if result.get("valid") is False:
        raise typer.Exit(2)
