from django.contrib import admin, messages
from django.shortcuts import redirect

from autointerp.models import AutointerpRun, UserLLMKey


@admin.register(AutointerpRun)
class AutointerpRunAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "kind",
        "status",
        "source",
        "total",
        "done",
        "skipped",
        "failed",
        "calls",
        "started_at",
    )
    list_filter = ("kind", "status")
    raw_id_fields = ("source", "user")
    readonly_fields = ("failures", "params")
    show_full_result_count = False


@admin.register(UserLLMKey)
class UserLLMKeyAdmin(admin.ModelAdmin):
    list_display = ("user", "base_url", "default_model", "key_hint", "updated_at")
    exclude = ("encrypted_key",)  # never shown, not even to staff
    readonly_fields = ("key_hint",)
    raw_id_fields = ("user",)


# --- batch explain / score / embed as jobs (helper J): /admin/autointerp-jobs/ and a Source action --


def autointerp_jobs_view(request):
    """Start a batch explain or score job for a source (or an embedding backfill), and watch them."""
    from django import forms
    from django.template.response import TemplateResponse

    from autointerp.forms import BatchJobForm
    from autointerp.jobs import (
        KIND_EMBED,
        KIND_EXPLAIN,
        KIND_SCORE,
        autointerp_job_create,
        embeddings_job_create,
    )
    from models_app.models import Source
    from neuronsite.errors import ApplicationError
    from neuronsite.jobs.models import ACTIVE_STATES, Job

    def source_field():
        return forms.ModelChoiceField(
            queryset=Source.objects.select_related("model").order_by("model__name", "name"), label="Source"
        )

    kind = request.POST.get("kind") or request.GET.get("kind") or "explain"
    kind = kind if kind in ("explain", "score", "embed") else "explain"
    initial = {"source": request.GET.get("source")} if request.GET.get("source") else {}
    forms_by_kind = {}
    for k in ("explain", "score"):
        form = BatchJobForm(
            request.POST if request.method == "POST" and k == kind else None, kind=k, initial=initial
        )
        form.fields = {"source": source_field(), **form.fields}
        forms_by_kind[k] = form
    if request.method == "POST":
        try:
            if kind == "embed":
                job = embeddings_job_create(user=request.user, force=request.POST.get("force") == "on")
            else:
                form = forms_by_kind[kind]
                job = None
                if form.is_valid():
                    job = autointerp_job_create(
                        source=form.cleaned_data["source"], user=request.user, **form.job_kwargs()
                    )
        except ApplicationError as exc:
            forms_by_kind.get(kind, forms_by_kind["explain"]).add_error(None, exc.message)
        else:
            if job is not None:
                messages.success(request, f"Queued job {job.pk}: {job.title}.")
                return redirect("admin:autointerp_jobs")
    jobs = list(
        Job.objects.filter(kind__in=(KIND_EXPLAIN, KIND_SCORE, KIND_EMBED)).select_related("owner")[:50]
    )
    context = {
        **admin.site.each_context(request),
        "title": "Explanations with an LLM (jobs)",
        "explain_form": forms_by_kind["explain"],
        "score_form": forms_by_kind["score"],
        "jobs": jobs,
        "refresh": any(j.state in ACTIVE_STATES for j in jobs),
    }
    return TemplateResponse(
        request,
        "admin/autointerp/jobs.html",
        context,
        status=400 if any(f.errors for f in forms_by_kind.values()) else 200,
    )


@admin.action(description="Explain / score features with an LLM (job)")
def autointerp_jobs_action(modeladmin, request, queryset):
    from django.urls import reverse

    source = queryset.first()
    url = reverse("admin:autointerp_jobs")
    return redirect(f"{url}?source={source.pk}" if source else url)


def _register() -> None:
    from django.urls import path

    from models_app.models import Source

    original_get_urls = admin.site.get_urls

    def get_urls():
        extra = [
            path("autointerp-jobs/", admin.site.admin_view(autointerp_jobs_view), name="autointerp_jobs")
        ]
        return extra + original_get_urls()

    admin.site.get_urls = get_urls
    source_admin = admin.site._registry.get(Source)
    if source_admin is not None:
        actions = list(source_admin.actions or [])
        if autointerp_jobs_action not in actions:
            source_admin.actions = [*actions, autointerp_jobs_action]


_register()
