"""Template helpers for the dashboard's autointerp controls and score chips."""

from django import template

register = template.Library()


@register.simple_tag
def autointerp_choices() -> dict:
    from autointerp.explainers import EXPLAINERS
    from autointerp.scorers import SCORERS

    return {"explainers": list(EXPLAINERS.values()), "scorers": list(SCORERS.values())}


@register.filter
def pct(value) -> int | str:
    """A score as Neuronpedia shows it: round(value × 100)."""
    try:
        return round(float(value) * 100)
    except (TypeError, ValueError):
        return ""


@register.filter
def score_average(scores) -> dict | None:
    """An explanation's average score, as Neuronpedia shows one beside its chips: the mean of its
    score values and how many there are; None without scores. Reads the prefetched scores."""
    values = [float(s.value) for s in scores]
    if not values:
        return None
    return {"mean": sum(values) / len(values), "count": len(values)}


@register.filter
def detail_rows(details) -> list[dict]:
    """Per-example rows of a score's details: eleuther lists, or recall_alt's {top, zero, decoy}."""
    rows = []
    if isinstance(details, list):
        for d in details:
            rows.append(
                {
                    "group": "activating" if d.get("ground_truth") else "non-activating",
                    "text": d.get("text", ""),
                    "result": d.get("prediction")
                    if "prediction" in d
                    else round(float(d.get("similarity", 0)), 3),
                    "correct": d.get("correct"),
                }
            )
    elif isinstance(details, dict):
        for group in ("top", "zero", "decoy"):
            for d in details.get(group, []):
                rows.append(
                    {
                        "group": group,
                        "text": "".join(d.get("tokens", [])),
                        "result": d.get("match"),
                        "correct": d.get("correct"),
                    }
                )
    return rows


@register.simple_tag
def autointerp_job_forms() -> dict:
    """Unbound "Explain features" / "Score explanations" forms for a source page's owner."""
    from autointerp.forms import BatchJobForm

    return {"explain": BatchJobForm(kind="explain"), "score": BatchJobForm(kind="score")}
