"""Screening scores over time as an SVG line chart, drawn on the server.

Pure string building: no JavaScript, no library, every piece of text escaped. One chart
per instrument (each has its own scale and bands): the line of its scores, its band
thresholds as shaded bands with their names, and for PHQ-9 and GAD-7 the points where
the client reached *response* (a drop of 50 % or more from the first score) and
*remission* (a score under 5). The page puts the same numbers in a table beside it.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from cm_bot.domain.needs import DOMAIN_NAMES
from cm_bot.domain.time import aware
from cm_bot.engine.notices import BAND_NAMES
from cm_bot.i18n.translator import Gettext
from cm_bot.scoring.likert import GAD2, GAD7, PHQ2, PHQ9, SumScale
from cm_bot.scoring.trend import (
    NOT_IMPROVING,
    RESPONSE,
    Series,
    ordered,
    series_marks,
)


@dataclass(frozen=True, slots=True)
class Scale:
    """The range of an instrument's score and its bands as (lower edge, band code)."""

    low: int
    high: int
    bands: tuple[tuple[int, str], ...] = ()


def _sum_scale(scale: SumScale) -> Scale:
    return Scale(0, 3 * len(scale.items), scale.bands)


# docs/instruments.md §2.3, §3.3 (bands from cm_bot.scoring.likert); §1.5: the AHC safety
# score runs from 4 to 20 and is positive from 11.
SCALES: dict[str, Scale] = {
    "phq9": _sum_scale(PHQ9),
    "gad7": _sum_scale(GAD7),
    "phq2": _sum_scale(PHQ2),
    "gad2": _sum_scale(GAD2),
    "ahc": Scale(4, 20, ((4, "screen_negative"), (11, "screen_positive"))),
}


def band_label(band: str | None, _: Gettext) -> str:
    """A band code as staff read it ("moderately severe"), in their language."""
    if not band:
        return ""
    return _(BAND_NAMES[band]) if band in BAND_NAMES else band.replace("_", " ")


def domain_label(domain: str, _: Gettext) -> str:
    """An AHC HRSN domain code ("living_situation") as staff read it, in their language."""
    return _(DOMAIN_NAMES[domain]) if domain in DOMAIN_NAMES else domain.replace("_", " ")


def mark_label(mark: str, _: Gettext) -> str:
    """The name of a milestone (response, remission, not improving) in the reader's language."""
    if mark == NOT_IMPROVING:
        return _("not improving")
    return _("response") if mark == RESPONSE else _("remission")


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


# Geometry of one chart (user units of the viewBox; the CSS scales it to the page).
WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 40, 140, 14, 40


def chart_svg(
    series: Series,
    _: Gettext,
    *,
    zone: ZoneInfo | None = None,
    chart_id: str = "chart",
) -> str:
    """One instrument's scores as an accessible SVG (``role="img"``, ``<title>``, ``<desc>``).

    ``zone``: the reader's time zone for the dates (UTC if ``None``); ``chart_id``: a
    prefix unique in the page for the ids ``aria-labelledby`` points at.
    """
    zone = zone or ZoneInfo("UTC")
    points = series.points
    marks = series_marks(series)
    scale = SCALES.get(series.instrument or "") or SCALES.get(series.key)
    values = [p.value for p in points]
    if scale is None:
        top = max([*values, 1.0])
        scale = Scale(min(0, int(min(values, default=0))), int(top + 0.999))
    low, high = scale.low, max(scale.high, int(max(values, default=0) + 0.999))
    span = max(high - low, 1)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def y(value: float) -> float:
        return TOP + plot_h * (1 - (value - low) / span)

    times = [aware(p.at).timestamp() for p in points]
    first_t, last_t = (min(times), max(times)) if times else (0.0, 0.0)

    def x(moment: float) -> float:
        if last_t == first_t:
            return LEFT + plot_w / 2
        return LEFT + plot_w * (moment - first_t) / (last_t - first_t)

    def day(moment: datetime) -> str:
        return f"{aware(moment).astimezone(zone):%Y-%m-%d}"

    title = _("{name} scores over time").format(name=series.name)
    described = [
        _("{date}: {value}").format(date=day(p.at), value=_num(p.value))
        + (f" ({band_label(p.band, _)})" if p.band else "")
        + "".join(f", {mark_label(m, _)}" for m in ordered(mark))
        for p, mark in zip(points, marks, strict=True)
    ]
    desc = "; ".join(described) or _("No scores yet.")
    ids = f"{chart_id}-title {chart_id}-desc"
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="score-chart" role="img" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" aria-labelledby="{_e(ids)}">',
        f'<title id="{_e(chart_id)}-title">{_e(title)}</title>',
        f'<desc id="{_e(chart_id)}-desc">{_e(desc)}</desc>',
    ]
    # Bands: shaded from each lower edge to the next, named at the right; a line at each edge.
    edges = [*scale.bands, (high + 1, "")]
    for index, (lower, band) in enumerate(scale.bands):
        upper = min(edges[index + 1][0], high + 1)
        top_y, bottom_y = y(min(upper - 0.5, high)), y(max(lower - 0.5, low))
        if lower == scale.bands[0][0]:
            bottom_y = y(low)
        if upper > high:
            top_y = y(high)
        out.append(
            f'<rect class="band band-{index}" x="{LEFT}" y="{top_y:.1f}" width="{plot_w}" '
            f'height="{max(bottom_y - top_y, 0):.1f}" fill="#888" '
            f'fill-opacity="{0.04 + 0.05 * index:.2f}"/>'
        )
        if index:
            out.append(
                f'<line class="threshold" x1="{LEFT}" x2="{LEFT + plot_w}" '
                f'y1="{bottom_y:.1f}" y2="{bottom_y:.1f}" stroke="#666" stroke-dasharray="4 3"/>'
            )
        out.append(
            f'<text class="band-label" x="{LEFT + plot_w + 6}" '
            f'y="{(top_y + bottom_y) / 2 + 4:.1f}" '
            f'font-size="11">{_e(f"{lower}+ {band_label(band, _)}")}</text>'
        )
    # Axes: the scale's ends and edges on the left, the first and last dates below.
    out.append(
        f'<line class="axis" x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{TOP + plot_h}" stroke="#333"/>'
        f'<line class="axis" x1="{LEFT}" x2="{LEFT + plot_w}" y1="{TOP + plot_h}" '
        f'y2="{TOP + plot_h}" stroke="#333"/>'
    )
    ticks = sorted({low, high, *(lower for lower, _band in scale.bands)})
    for tick in ticks:
        out.append(
            f'<text class="tick" x="{LEFT - 6}" y="{y(tick) + 4:.1f}" font-size="11" '
            f'text-anchor="end">{tick}</text>'
        )
    if points:
        shown = [points[0]] if len(points) == 1 else [points[0], points[-1]]
        for point, anchor in zip(
            shown, ("start", "end") if len(shown) == 2 else ("middle",), strict=True
        ):
            out.append(
                f'<text class="tick" x="{x(aware(point.at).timestamp()):.1f}" '
                f'y="{TOP + plot_h + 18}" font-size="11" text-anchor="{anchor}">'
                f"{_e(day(point.at))}</text>"
            )
    # The line, then each point with its own tooltip, then the milestones.
    coords = [(x(t), y(p.value)) for t, p in zip(times, points, strict=True)]
    if len(coords) > 1:
        path = " ".join(f"{cx:.1f},{cy:.1f}" for cx, cy in coords)
        out.append(
            f'<polyline class="series" points="{path}" fill="none" stroke="#1f5fa8" '
            f'stroke-width="2"/>'
        )
    for (cx, cy), text, mark in zip(coords, described, marks, strict=True):
        out.append(
            f'<circle class="point" cx="{cx:.1f}" cy="{cy:.1f}" r="4" fill="#1f5fa8">'
            f"<title>{_e(text)}</title></circle>"
        )
        # Near an edge the label reads inwards, clear of the band names on the right.
        anchor = (
            "end" if cx > LEFT + plot_w * 0.8 else "start" if cx < LEFT + plot_w * 0.2 else "middle"
        )
        label_x = cx - 6 if anchor == "end" else cx + 6 if anchor == "start" else cx
        for offset, one in enumerate(ordered(mark)):
            kind = "marker-" + one.replace("_", "-")
            stroke = "#b42318" if one == NOT_IMPROVING else "#1a7f37"  # a concern in red
            out.append(
                f'<circle class="{kind}" cx="{cx:.1f}" cy="{cy:.1f}" r="{8 + 4 * offset}" '
                f'fill="none" stroke="{stroke}" stroke-width="2"/>'
                f'<text class="marker-label {kind}-label" x="{label_x:.1f}" '
                f'y="{cy - 14 - 12 * offset:.1f}" font-size="11" text-anchor="{anchor}">'
                f"{_e(mark_label(one, _))}</text>"
            )
    out.append("</svg>")
    return "\n".join(out)


__all__ = [
    "DOMAIN_NAMES",
    "SCALES",
    "Scale",
    "band_label",
    "chart_svg",
    "domain_label",
    "mark_label",
]
