"""A URLconf for test_api_routing: the project's URLs (and error handlers) plus one async API
view, to show the trailing-slash twin reaches async views too, and a view that crashes, to show
a server error under /api/ is JSON."""

from django.http import JsonResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt


@csrf_exempt  # as DRF's API views are
async def async_probe(request):
    return JsonResponse({"async": True, "method": request.method})


def crash_probe(request):
    raise RuntimeError("boom")


urlpatterns = [
    path("api/async-probe", async_probe),
    path("api/crash-probe", crash_probe),
    path("crash-probe", crash_probe),
    path("", include("neuronsite.urls")),
]

# The project's own handler settings, as the root URLconf declares them.
from neuronsite.urls import handler400, handler403, handler404, handler500  # noqa: E402,F401
