from django import template

from neuronsite.jobs import selectors

register = template.Library()


@register.simple_tag
def public_active_job():
    """The running public job (the demo build) for the home page, or None."""
    return selectors.job_public_active()
