"""Small inline SVG charts for the console (no script, no remote asset): bars per month, stacked by series,
and a progress bar against a target. Every label is escaped; colours come from the stylesheet classes."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape

from markupsafe import Markup

MONTHS = tuple(f"T{m}" for m in range(1, 13))


def bars(title: str, labels: Sequence[str], series: Mapping[str, Sequence[float]], *, width: int = 480,
         height: int = 220) -> Markup:
    """Stacked bars: one bar per label, one coloured segment per series (legend underneath)."""
    left, right, top, bottom = 40, 6, 14, 44
    inner_w, inner_h = width - left - right, height - top - bottom
    totals = [sum(values[i] for values in series.values()) for i in range(len(labels))]
    peak = _nice_top(max(totals, default=0))
    step = inner_w / max(1, len(labels))
    bar_w = step * 0.64
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" '
             f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>']
    for k in range(5):  # grid and scale
        value = peak * k / 4
        y = top + inner_h - inner_h * k / 4
        parts.append(f'<line class="grid" x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(
            f'<text class="axis" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{_n(value)}</text>'
        )
    for i, label in enumerate(labels):
        x = left + step * i + (step - bar_w) / 2
        base = top + inner_h
        for s, (name, values) in enumerate(series.items()):
            h = inner_h * values[i] / peak
            if h > 0:
                base -= h
                parts.append(
                    f'<rect class="s{s % 6}" x="{x:.1f}" y="{base:.1f}" width="{bar_w:.1f}" height="{h:.1f}">'
                    f"<title>{escape(label)} · {escape(name)}: {_n(values[i])}</title></rect>"
                )
        parts.append(f'<text class="axis" x="{x + bar_w / 2:.1f}" y="{top + inner_h + 16}" '
                     f'text-anchor="middle">{escape(label)}</text>')
    x = left
    for s, name in enumerate(series):
        parts.append(f'<rect class="s{s % 6}" x="{x}" y="{height - 16}" width="10" height="10"/>'
                     f'<text class="legend" x="{x + 14}" y="{height - 7}">{escape(name)}</text>')
        x += 24 + 8 * len(name)  # DejaVu Sans at 13px: about 8 units a character
    parts.append("</svg>")
    return Markup("".join(parts))


def progress(title: str, value: float, target: float, *, width: int = 480) -> Markup:
    """A horizontal bar: `value` of `target` (the bar stops at the frame past 100%)."""
    share = 0.0 if target <= 0 else value / target
    filled = (width - 2) * min(1.0, share)
    text = f"{_n(value)} / {_n(target)} ({share * 100:.0f}%)".replace(".", ",")
    return Markup(
        f'<svg class="chart progress" viewBox="0 0 {width} 44" role="img" '
        f'aria-label="{escape(title)}: {text}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
        f'<rect class="track" x="1" y="1" width="{width - 2}" height="26" rx="4"/>'
        f'<rect class="s0" x="1" y="1" width="{filled:.1f}" height="26" rx="4"/>'
        f'<text class="legend" x="8" y="40">{escape(text)}</text></svg>'
    )


def _nice_top(value: float) -> float:
    """The scale's top: four equal whole steps of 1, 2, (2.5,) 5 times a power of ten."""
    step = max(1.0, value / 4)
    magnitude = 10 ** math.floor(math.log10(step))
    for factor in ((1, 2, 2.5, 5, 10) if magnitude >= 10 else (1, 2, 5, 10)):
        if step <= factor * magnitude:
            return 4 * factor * magnitude
    return 4 * step  # not reached


def _n(value: float) -> str:
    return f"{value:,.0f}".replace(",", ".")
