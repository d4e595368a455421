"""Reads for jobs: the ones a user may see (their own; staff see all; public ones to everyone)."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from neuronsite.errors import NotFound
from neuronsite.jobs.models import Job

PAGE_SIZE = 50


def jobs_visible(*, user) -> QuerySet[Job]:
    qs = Job.objects.select_related("owner")
    if user is not None and user.is_authenticated and user.is_staff:
        return qs
    if user is not None and user.is_authenticated:
        return qs.filter(Q(owner=user) | Q(public=True))
    return qs.filter(public=True)


def jobs_list(*, user, mine_only: bool = False, limit: int = PAGE_SIZE) -> list[Job]:
    qs = jobs_visible(user=user)
    if mine_only and user is not None and user.is_authenticated:
        qs = qs.filter(owner=user)
    return list(qs[:limit])


def job_get(*, job_id: int, user) -> Job:
    job = jobs_visible(user=user).filter(pk=job_id).first()
    if job is None:
        raise NotFound(f"Job {job_id} not found.")
    return job


def job_public_active() -> Job | None:
    """The newest public job still running (the demo seeding, shown on the home page)."""
    from neuronsite.jobs.models import ACTIVE_STATES

    return Job.objects.filter(public=True, state__in=ACTIVE_STATES).order_by("-created_at").first()
