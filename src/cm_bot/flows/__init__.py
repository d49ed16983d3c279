"""Flow definitions: the YAML format, its loader with ``file:line`` errors, and safe conditions.

Nothing here imports a Telegram library or SQL.
"""

from cm_bot.flows.conditions import ExpressionError, holds
from cm_bot.flows.loader import (
    FlowDefinitionError,
    FlowProblem,
    FlowRegistry,
    load_flow,
    load_flows,
)
from cm_bot.flows.schema import END, Flow, FlowKind

__all__ = [
    "END",
    "ExpressionError",
    "Flow",
    "FlowDefinitionError",
    "FlowKind",
    "FlowProblem",
    "FlowRegistry",
    "holds",
    "load_flow",
    "load_flows",
]
