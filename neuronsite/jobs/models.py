"""A long job as users see it: who started it, what, its state and progress.

The work itself runs as one or more Procrastinate tasks (``parts``: e.g. the shards of a
dashboard generation); this row aggregates them for the Jobs page, the API and the admin.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class JobState(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    CANCELLING = "cancelling"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


ACTIVE_STATES = (JobState.QUEUED, JobState.RUNNING, JobState.CANCELLING)


class Job(models.Model):
    kind = models.CharField(max_length=40, db_index=True)  # "dashboards", "demo", "import"
    title = models.CharField(max_length=300)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs"
    )
    # shown to everyone (the demo on the home page); otherwise only to the owner and staff
    public = models.BooleanField(default=False)
    state = models.CharField(max_length=12, choices=JobState.choices, default=JobState.QUEUED, db_index=True)
    unit = models.CharField(max_length=40, default="steps")
    done = models.BigIntegerField(default=0)
    total = models.BigIntegerField(default=0)
    rate = models.FloatField(null=True, blank=True)  # units per second since the job started
    # one entry per Procrastinate task: {"task", "queue", "kwargs", "task_id", "state", "done", "total"}
    parts = models.JSONField(default=list)
    log = models.TextField(blank=True, default="")  # the last lines (see services.LOG_LINES)
    results = models.JSONField(default=list)  # [{"label", "url"}]
    error = models.TextField(blank=True, default="")
    cancel_requested = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["owner", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk}: {self.title}"

    @property
    def percent(self) -> int:
        return int(100 * self.done / self.total) if self.total else 0

    @property
    def eta_seconds(self) -> float | None:
        if self.state != JobState.RUNNING or not self.rate or self.total <= self.done:
            return None
        return (self.total - self.done) / self.rate

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE_STATES
