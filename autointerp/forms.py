"""Forms for starting batch autointerp jobs (source page and admin)."""

from __future__ import annotations

from django import forms

from autointerp.explainers import EXPLAINERS
from autointerp.scorers import SCORERS

LIMIT_MAX = 1_000_000


class BatchJobForm(forms.Form):
    """Explain (``kind="explain"``) or score (``kind="score"``) a source's features as a job."""

    type_name = forms.ChoiceField(label="Type")
    llm_model = forms.CharField(
        label="LLM model",
        required=False,
        max_length=200,
        help_text="e.g. gpt-4o-mini or a model on your own provider; empty for the default",
    )
    limit = forms.IntegerField(
        label="Limit",
        required=False,
        min_value=1,
        max_value=LIMIT_MAX,
        help_text="at most this many not yet done (empty: all)",
        error_messages={
            "min_value": "Limit must be at least %(limit_value)s.",
            "max_value": "Limit must be at most %(limit_value)s.",
        },
    )
    features = forms.RegexField(
        label="Features",
        regex=r"^\d*:\d*$",
        required=False,
        help_text="index range a:b (b exclusive), empty for all",
        error_messages={"invalid": "Features must look like 0:100."},
    )
    concurrency = forms.IntegerField(
        label="Concurrent LLM calls",
        initial=8,
        min_value=1,
        max_value=512,
        error_messages={
            "min_value": "Concurrent LLM calls must be at least %(limit_value)s.",
            "max_value": "Concurrent LLM calls must be at most %(limit_value)s.",
        },
    )

    def __init__(self, *args, kind: str, **kwargs):
        super().__init__(*args, prefix=kind, **kwargs)
        self.kind = kind
        specs = EXPLAINERS if kind == "explain" else SCORERS
        self.fields["type_name"].choices = [(name, name) for name in specs]
        self.fields["type_name"].label = "Explanation type" if kind == "explain" else "Scorer"
        if kind == "score":
            self.fields["explanation_type"] = forms.CharField(
                label="Only explanations of type", required=False, max_length=100
            )

    def job_kwargs(self) -> dict:
        v = self.cleaned_data
        return {
            "kind": self.kind,
            "type_name": v["type_name"],
            "llm_model": v["llm_model"] or None,
            "limit": v["limit"],
            "features": v["features"] or None,
            "concurrency": v["concurrency"] or 8,
            "explanation_type": v.get("explanation_type") or None,
        }
