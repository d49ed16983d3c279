"""The consent record a finished consent flow writes, and what it does to the client.

The record keeps the flow's version, the SHA-256 of the exact text shown in its locale, and
each purpose's decision, so what a client agreed to can be proved later. Declining stops
collection at once: the client is marked declined and their planned contacts cancelled.
"""

from __future__ import annotations

import hashlib
from typing import Any

from cm_bot.domain import ClientStatus
from cm_bot.engine.ports import ClientView, RunState, UnitOfWork
from cm_bot.flows.schema import Flow, MessageStep


def record_consent(
    uow: UnitOfWork,
    client: ClientView,
    run: RunState,
    flow: Flow,
    shown: str,
    inbound_id: int | None,
) -> bool:
    """Write the consent record of ``run``; True when every required purpose was agreed to.

    ``shown``: the flow's text as the client saw it (hashed with the locale, never stored).
    """
    decisions: dict[str, Any] = {}
    for purpose in flow.purposes:
        step = flow.step(purpose.step)
        decisions[purpose.purpose] = (
            None if isinstance(step, MessageStep) else run.answers.get(step.key)
        )
    granted = all(decisions.get(p.purpose) is True for p in flow.purposes if p.required)
    uow.runs.record_consent(
        client,
        action="granted" if granted else "declined",
        flow_id=flow.id,
        version=flow.version,
        text_sha256=hashlib.sha256(f"{run.locale}\n{shown}".encode()).hexdigest(),
        locale=run.locale,
        decisions=decisions,
        inbound_id=inbound_id,
    )
    status = ClientStatus.ACTIVE if granted else ClientStatus.DECLINED
    if client.status != status:
        uow.runs.set_client(client.client_id, status=status)
        client.status = status
    if not granted:
        uow.contacts.cancel_contacts(client.client_id, "declined")
    return granted


__all__ = ["record_consent"]
