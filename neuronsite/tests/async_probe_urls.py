"""A URLconf for test_api_routing: the project's URLs plus one async API view, to show the
trailing-slash twin reaches async views too."""

from django.http import JsonResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt


@csrf_exempt  # as DRF's API views are
async def async_probe(request):
    return JsonResponse({"async": True, "method": request.method})


urlpatterns = [
    path("api/async-probe", async_probe),
    path("", include("neuronsite.urls")),
]
