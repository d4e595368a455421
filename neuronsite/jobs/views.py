"""The Jobs page: the user's jobs (staff: all) with live progress, cancel and retry."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from neuronsite.errors import ApplicationError
from neuronsite.jobs import selectors, services


def jobs_page(request):
    jobs = selectors.jobs_list(user=request.user)
    return render(request, "jobs/jobs.html", {"jobs": jobs})


@login_required
@require_POST
def job_cancel(request, job_id: int):
    try:
        selectors.job_get(job_id=job_id, user=request.user)
        services.job_cancel(job_id=job_id, user=request.user)
        messages.success(request, f"Job {job_id}: cancel requested.")
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("jobs")


@login_required
@require_POST
def job_retry(request, job_id: int):
    try:
        selectors.job_get(job_id=job_id, user=request.user)
        services.job_retry(job_id=job_id, user=request.user)
        messages.success(request, f"Job {job_id} queued again.")
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("jobs")
