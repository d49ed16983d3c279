"""Time zones as people type them: any case, never a file path, with a suggestion when unknown.

``/timezone`` (clients and staff) reads an IANA name. ``ZoneInfo`` itself treats its
argument as a file name: 255 characters of a client's words raised ``OSError`` inside a
turn. Here a name is looked up in the list of known zones first, and nothing else reaches
``ZoneInfo``.
"""

from __future__ import annotations

import difflib
import logging
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

log = logging.getLogger(__name__)
MAX_ZONE = 64  # no IANA zone name is longer; longer text is not a zone
_ZONES: dict[str, str] = {}  # casefolded IANA name -> its spelling, filled on first use


def _known() -> dict[str, str]:
    if not _ZONES:
        _ZONES.update({name.casefold(): name for name in available_timezones()})
    return _ZONES


def zone_named(text: str) -> ZoneInfo | None:
    """The IANA time zone someone typed (any case), or ``None`` for anything else."""
    wanted = text.strip()
    if not wanted or len(wanted) > MAX_ZONE:
        return None
    name = _known().get(wanted.casefold())
    if name is None:
        return None
    try:
        return ZoneInfo(name)
    except (ValueError, OSError, ZoneInfoNotFoundError):
        return None


def close_zones(text: str, limit: int = 3) -> list[str]:
    """IANA names close to what was typed ("Kiev", "europe/kiyv"), for a suggestion."""
    wanted = text.strip().casefold().replace(" ", "_")
    if not wanted or len(wanted) > MAX_ZONE:
        return []
    known = _known()
    by_city = {key.rsplit("/", 1)[-1]: key for key in known if "/" in key}
    found = difflib.get_close_matches(wanted, list(known), n=limit, cutoff=0.75)
    for city in difflib.get_close_matches(wanted, list(by_city), n=limit, cutoff=0.75):
        if by_city[city] not in found:
            found.append(by_city[city])
    return sorted({known[key] for key in found[:limit]})


def zone_of(name: str | None) -> ZoneInfo:
    """A stored zone name as a zone; UTC when unset or no longer known."""
    if name:
        try:
            return ZoneInfo(name)
        except (ValueError, OSError, ZoneInfoNotFoundError):
            log.warning("unknown stored time zone %r: times shown in UTC", name[:MAX_ZONE])
    return ZoneInfo("UTC")


__all__ = ["MAX_ZONE", "close_zones", "zone_named", "zone_of"]
