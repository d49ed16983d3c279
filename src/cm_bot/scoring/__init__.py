"""Scoring of the screening instruments specified in docs/instruments.md (AHC HRSN, PHQ, GAD, HVS).

Pure functions over plain answers, with no dependency on the rest of cm-bot, so each rule can
be checked against the document on its own. Comments cite the document's sections.
"""

from cm_bot.scoring.base import UnknownInstrumentError
from cm_bot.scoring.instruments import INSTRUMENTS, item_ids, score

__all__ = ["INSTRUMENTS", "UnknownInstrumentError", "item_ids", "score"]
