"""PHQ-2, PHQ-9, GAD-2 and GAD-7: sums of 0-3 items, one table per instrument.

The four scales differ only in their items, band edges, cut point and (PHQ-9 only) the
suicide item, so they share one scorer and are described by data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cm_bot.scoring.base import Result, band_for, int_range, read_answers

# docs/instruments.md §2.2 / §3.2: every item scored Not at all 0 ... Nearly every day 3;
# §0.2: integers only, booleans and strings invalid.
ZERO_TO_THREE = int_range(0, 3)


@dataclass(frozen=True)
class SumScale:
    """One 0-3 sum instrument."""

    instrument: str
    items: tuple[str, ...]
    """Scored items; every one is required (§0.2: no prorating)."""
    optional: tuple[str, ...]
    """Functional-difficulty item: validated if given, never scored (§0.2)."""
    bands: tuple[tuple[int, str], ...]
    """(lower edge, band code), ascending."""
    cutoff: int
    """``positive`` is score >= cutoff."""
    suicide_item: str | None = None
    """PHQ-9 item 9: any answer above 0 is urgent (§2.3)."""

    @property
    def item_ids(self) -> tuple[str, ...]:
        """Scored items, then the optional one."""
        return self.items + self.optional


def _numbered(prefix: str, count: int) -> tuple[str, ...]:
    return tuple(f"{prefix}.q{n}" for n in range(1, count + 1))


# docs/instruments.md §2.3 PHQ-9 (Kroenke, Spitzer & Williams 2001; CamCOPS phq9.py): bands at
# 5/10/15/20, positive >= 10, item 9 > 0 urgent; q10 is the unscored functional item.
PHQ9 = SumScale(
    instrument="phq9",
    items=_numbered("phq9", 9),
    optional=("phq9.q10",),
    bands=(
        (0, "minimal"),
        (5, "mild"),
        (10, "moderate"),
        (15, "moderately_severe"),
        (20, "severe"),
    ),
    cutoff=10,
    suicide_item="phq9.q9",
)

# docs/instruments.md §0.1 + §2.3 PHQ-2 (Kroenke 2003): positive >= 3; §7.5: a score of 2
# is negative.
PHQ2 = SumScale(
    instrument="phq2",
    items=_numbered("phq2", 2),
    optional=(),
    bands=((0, "screen_negative"), (3, "screen_positive")),
    cutoff=3,
)

# docs/instruments.md §3.3 GAD-7 (Spitzer 2006; Kroenke 2007; CamCOPS gad7.py): bands at 5/10/15,
# positive >= 10 (§7.7); q8 is the unscored functional item (§3.2).
GAD7 = SumScale(
    instrument="gad7",
    items=_numbered("gad7", 7),
    optional=("gad7.q8",),
    bands=((0, "minimal"), (5, "mild"), (10, "moderate"), (15, "severe")),
    cutoff=10,
)

# docs/instruments.md §0.1 + §3.3 GAD-2 (Kroenke 2007): positive >= 3 (§7.7).
GAD2 = SumScale(
    instrument="gad2",
    items=_numbered("gad2", 2),
    optional=(),
    bands=((0, "screen_negative"), (3, "screen_positive")),
    cutoff=3,
)


def score_sum_scale(scale: SumScale, answers: Mapping[str, object]) -> Result:
    """Score a 0-3 sum instrument; raises InvalidAnswersError if any scored item is unusable."""
    specs = dict.fromkeys(scale.item_ids, ZERO_TO_THREE)
    answered = read_answers(answers, specs, required=scale.items)
    values = {item_id: answered[item_id] for item_id in scale.items}
    total = 0
    for value in values.values():
        assert isinstance(value, int)  # checked by read_answers
        total += value
    result: Result = {
        "instrument": scale.instrument,
        "valid": True,
        "score": total,
        "band": band_for(total, scale.bands),
        "positive": total >= scale.cutoff,
    }
    if scale.suicide_item is None:
        # docs/instruments.md §0.1 / §2.3 / §3.3: PHQ-2, GAD-2 and GAD-7 have no urgent item.
        result["urgent"] = False
    else:
        # docs/instruments.md §2.3: "urgent = q9 > 0, whatever the total"; a severe total with
        # q9 = 0 is not urgent (PHQ-9 scoring guide, Pfizer/MacArthur).
        item9 = values[scale.suicide_item]
        assert isinstance(item9, int)
        result["item9_positive"] = item9 > 0
        result["urgent"] = item9 > 0
    return result
