"""Admin page for dashboard generation: start a sharded generation job for a source (Procrastinate
tasks run by ``manage.py run_jobs_worker``; see ``inference.dashboards.sharding``) and watch it.

Registered by importing this module from ``inference/admin.py``; it adds
``/admin/dashboards/`` to the admin site and a "Generate dashboards" action to the Source admin.
No torch here: the heavy work happens in the workers.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from models_app.models import Source


class GenerateDashboardsForm(forms.Form):
    source = forms.ModelChoiceField(
        queryset=Source.objects.select_related("model").order_by("model__name", "name")
    )
    corpus = forms.CharField(
        initial="pydoc", help_text="pydoc, a local .txt/.jsonl path, or a HF dataset name"
    )
    n_prompts = forms.IntegerField(initial=1024, min_value=1, max_value=10_000_000)
    ctx_len = forms.IntegerField(initial=64, min_value=2, max_value=100_000)
    features = forms.RegexField(regex=r"^\d*:\d*$", required=False, help_text="a:b, empty for all")
    shards = forms.IntegerField(
        initial=1, min_value=1, max_value=1024, help_text="tasks to split the features into (one per worker)"
    )


def dashboards_view(request):
    from inference.dashboards.sharding import dashboards_job_create
    from neuronsite.errors import ApplicationError
    from neuronsite.jobs.models import ACTIVE_STATES, Job

    if request.method == "POST":
        form = GenerateDashboardsForm(request.POST)
        if form.is_valid():
            source = form.cleaned_data["source"]
            try:
                job = dashboards_job_create(
                    source=source,
                    owner=request.user,
                    corpus=form.cleaned_data["corpus"],
                    n_prompts=form.cleaned_data["n_prompts"],
                    ctx_len=form.cleaned_data["ctx_len"],
                    features=form.cleaned_data["features"] or None,
                    shards=form.cleaned_data["shards"],
                )
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(
                    request,
                    f"Queued dashboard generation job {job.pk} for {source.model.name}/{source.name}.",
                )
                return redirect("admin:inference_dashboards")
    else:
        initial = {"source": request.GET.get("source")} if request.GET.get("source") else {}
        form = GenerateDashboardsForm(initial=initial)
    jobs = list(Job.objects.filter(kind="dashboards").select_related("owner")[:50])
    context = {
        **admin.site.each_context(request),
        "title": "Generate dashboards",
        "form": form,
        "jobs": jobs,
        "refresh": any(j.state in ACTIVE_STATES for j in jobs),
    }
    return TemplateResponse(request, "admin/inference/dashboards.html", context)


@admin.action(description="Generate dashboards for the selected source")
def generate_dashboards_action(modeladmin, request, queryset):
    source = queryset.first()
    url = reverse("admin:inference_dashboards")
    return redirect(f"{url}?source={source.pk}" if source else url)


def _register() -> None:
    original_get_urls = admin.site.get_urls

    def get_urls():
        extra = [path("dashboards/", admin.site.admin_view(dashboards_view), name="inference_dashboards")]
        return extra + original_get_urls()

    admin.site.get_urls = get_urls
    source_admin = admin.site._registry.get(Source)
    if source_admin is not None:
        actions = list(source_admin.actions or [])
        if generate_dashboards_action not in actions:
            source_admin.actions = [*actions, generate_dashboards_action]


_register()
