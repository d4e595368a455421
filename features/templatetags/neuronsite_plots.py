"""Server-rendered SVG plots (no JavaScript): histograms of activations and logits, and a
density bar. Numbers are formatted by us; every text label is escaped."""

from django import template
from django.utils.html import escape
from django.utils.safestring import mark_safe

register = template.Library()

WIDTH, HEIGHT, PAD_LEFT, PAD_BOTTOM, PAD_TOP = 320, 130, 34, 18, 6


def _fmt(x: float) -> str:
    if x == 0:
        return "0"
    if abs(x) >= 1000 or abs(x) < 0.01:
        return f"{x:.2g}"
    return f"{x:.3g}"


@register.simple_tag
def histogram_svg(values, heights, label: str, signed: bool = False):
    """Bars at ``values`` (x, bin centres) with ``heights`` (y). ``signed`` colours negative x
    red and positive x blue (logit histograms); otherwise all bars are green."""
    values = list(values or [])
    heights = list(heights or [])
    n = min(len(values), len(heights))
    title = escape(label)
    if n == 0:
        return mark_safe(f'<p class="muted small">{title}: no data.</p>')
    values, heights = values[:n], heights[:n]
    x_lo, x_hi = min(values), max(values)
    y_hi = max(heights) or 1.0
    plot_w = WIDTH - PAD_LEFT - 4
    plot_h = HEIGHT - PAD_BOTTOM - PAD_TOP
    bar_w = max(1.0, plot_w / n - 1)
    span = (x_hi - x_lo) or 1.0
    rects = []
    for x, h in zip(values, heights, strict=True):
        px = PAD_LEFT + (x - x_lo) / span * (plot_w - bar_w)
        ph = max(0.0, h) / y_hi * plot_h
        colour = ("#c0392b" if x < 0 else "#2f6fba") if signed else "#2e8b57"
        rects.append(
            f'<rect x="{px:.1f}" y="{PAD_TOP + plot_h - ph:.1f}" width="{bar_w:.1f}" height="{ph:.1f}" '
            f'fill="{colour}"><title>{_fmt(x)}: {_fmt(h)}</title></rect>'
        )
    base_y = PAD_TOP + plot_h
    axis = (
        f'<line x1="{PAD_LEFT}" y1="{base_y}" x2="{WIDTH - 4}" y2="{base_y}" stroke="#999"/>'
        f'<text x="{PAD_LEFT}" y="{HEIGHT - 4}" class="ax">{_fmt(x_lo)}</text>'
        f'<text x="{WIDTH - 4}" y="{HEIGHT - 4}" class="ax" text-anchor="end">{_fmt(x_hi)}</text>'
        f'<text x="{PAD_LEFT - 3}" y="{PAD_TOP + 8}" class="ax" text-anchor="end">{_fmt(y_hi)}</text>'
        f'<text x="{PAD_LEFT - 3}" y="{base_y}" class="ax" text-anchor="end">0</text>'
    )
    return mark_safe(
        f'<svg class="hist" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{title}: {n} bars '
        f'from {_fmt(x_lo)} to {_fmt(x_hi)}"><title>{title}</title>{axis}{"".join(rects)}</svg>'
    )


@register.simple_tag
def density_bar(frac):
    """Activation density as a percentage with a log-scaled bar (densities span 1e-6..1)."""
    import math

    if frac is None:
        return mark_safe('<span class="muted">—</span>')
    frac = float(frac)
    pct = frac * 100
    width = 0.0 if frac <= 0 else max(2.0, min(100.0, (math.log10(frac) + 6) / 6 * 100))
    text = f"{pct:.3g}%"
    return mark_safe(
        f'<span class="density"><span class="bar" style="width:{width:.0f}%"></span></span> '
        f'<span title="fraction of tokens where the feature is active">{text}</span>'
    )
