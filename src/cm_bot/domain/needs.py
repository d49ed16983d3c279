"""Needs and screening domains as staff read them (flags, the console, reports).

The AHC HRSN domain codes (instruments.md §1.6, ``cm_bot.scoring.ahc.DOMAINS``), the Hunger
Vital Sign's ``hunger`` and the follow-up's own needs, each with a plain English name that is
a msgid, so a staff reader sees it in their language. What a *client* reads ("help with
{need}") is worded apart, in ``cm_bot.engine.referrals.NEED_NAMES``: the grammar differs.
"""

from __future__ import annotations

from cm_bot.i18n.translator import N_

DOMAIN_NAMES = {
    "living_situation": N_("living situation"),
    "food": N_("food"),
    "transportation": N_("transportation"),
    "utilities": N_("utilities"),
    "safety": N_("safety"),
    "financial_strain": N_("financial strain"),
    "employment": N_("employment"),
    "family_community_support": N_("family and community support"),
    "education": N_("education"),
    "physical_activity": N_("physical activity"),
    "substance_use": N_("substance use"),
    "mental_health": N_("mental health"),
    "disabilities": N_("disabilities"),
    "hunger": N_("food"),
    "health": N_("health care"),
    "other": N_("something else"),
}


def staff_need_name(need: str) -> str:
    """A need code as staff read it, in English (a msgid; translate it to show it)."""
    return DOMAIN_NAMES.get(need, need.replace("_", " "))


__all__ = ["DOMAIN_NAMES", "staff_need_name"]
