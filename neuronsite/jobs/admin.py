from django.contrib import admin, messages

from neuronsite.errors import ApplicationError
from neuronsite.jobs import services
from neuronsite.jobs.models import Job


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ("id", "kind", "title", "owner", "state", "done", "total", "created_at", "finished_at")
    list_filter = ("state", "kind")
    search_fields = ("title", "owner__username")
    raw_id_fields = ("owner",)
    readonly_fields = (
        "parts",
        "log",
        "results",
        "error",
        "created_at",
        "started_at",
        "finished_at",
        "updated_at",
    )
    show_full_result_count = False
    actions = ["cancel_jobs", "retry_jobs"]

    @admin.action(description="Cancel the selected jobs")
    def cancel_jobs(self, request, queryset):
        self._each(request, queryset, services.job_cancel, "cancel requested")

    @admin.action(description="Retry the selected failed or cancelled jobs")
    def retry_jobs(self, request, queryset):
        self._each(request, queryset, services.job_retry, "queued again")

    def _each(self, request, queryset, service, verb):
        for job in queryset:
            try:
                service(job_id=job.pk, user=request.user)
                messages.success(request, f"Job {job.pk}: {verb}.")
            except ApplicationError as exc:
                messages.error(request, f"Job {job.pk}: {exc.message}")
