"""``cm-bot resources report``: what became of the referrals (issue 17).

Referrals by need and status, the share that reached ``got_help`` (a status change with
that reason, at any time), and the median days from a referral to ``completed``. Counts
only: no client, no case.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from statistics import median

from sqlalchemy import Engine, func, select
from sqlmodel import col

from cm_bot.domain import ReferralReason, ReferralStatus
from cm_bot.domain.time import aware
from cm_bot.storage.db import transaction
from cm_bot.storage.models import Referral, ReferralEvent


@dataclass(frozen=True, slots=True)
class ReferralReport:
    """The numbers ``resources report`` prints."""

    by_need_status: dict[tuple[str, str], int] = field(default_factory=dict)
    total: int = 0
    got_help: int = 0
    median_days_to_completed: float | None = None

    @property
    def got_help_share(self) -> float | None:
        """Share of referrals that reached ``got_help`` (``None``: no referral yet)."""
        return self.got_help / self.total if self.total else None


def referral_report(db: Engine) -> ReferralReport:
    """Count the referrals; erased ones (need ``erased``) count under that need."""
    with transaction(db) as session:
        counts = Counter(
            {
                (str(need), str(status)): int(n)
                for need, status, n in session.execute(
                    select(col(Referral.need), col(Referral.status), func.count()).group_by(
                        col(Referral.need), col(Referral.status)
                    )
                ).all()
            }
        )
        got_help = int(
            session.execute(
                select(func.count(func.distinct(col(ReferralEvent.referral_id)))).where(
                    col(ReferralEvent.reason) == ReferralReason.GOT_HELP.value
                )
            ).scalar_one()
        )
        completed = session.execute(
            select(col(Referral.created_at), func.min(col(ReferralEvent.at)))
            .join(ReferralEvent, col(ReferralEvent.referral_id) == col(Referral.id))
            .where(col(ReferralEvent.status) == ReferralStatus.COMPLETED.value)
            .group_by(col(Referral.id), col(Referral.created_at))
        ).all()
    days = [(aware(done) - aware(made)).total_seconds() / 86400 for made, done in completed]
    return ReferralReport(
        by_need_status=dict(sorted(counts.items())),
        total=sum(counts.values()),
        got_help=got_help,
        median_days_to_completed=median(days) if days else None,
    )


__all__ = ["ReferralReport", "referral_report"]
