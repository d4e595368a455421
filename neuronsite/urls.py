from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

import neuronsite.openapi  # noqa: F401  (registers the x-api-key scheme with drf-spectacular)
from neuronsite.api_routing import api_fallback

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-redoc"),
    path("api/", include("models_app.api.urls")),
    path("api/", include("models_app.api.write_urls")),
    path("api/", include("features.api.upload_urls")),
    path("api/", include("inference.api.urls")),
    path("api/", include("autointerp.api.urls")),  # autointerp (helper F): before features' search
    path("api/", include("features.api.urls")),
    path("api/", include("features.api.social_urls")),
    # Issue 11 (client compatibility): batch features, explanation get/export, list comments,
    # bookmarks, activation get / source activations.
    path("api/", include("features.api.client_urls")),
    path("api/", include("inference.api.client_urls")),
    path("api/", include("neuronsite.jobs.urls_api")),  # jobs (issue 12)
    path("api/", include("features.api.job_upload_urls")),  # jobs: web upload (issue 12)
    path("api/", include("graphs.api.urls")),  # graphs (helper G)
    path("api/", include("monitor.api.urls")),  # monitor: chat, concepts, attribution (issue 15)
    path("api/", include("monitor.api.steer_urls")),  # monitor: linter, steer by description (issue 15)
    # Issue 10/11 routing: the other trailing-slash spelling of any API route, else a JSON 404.
    # Keep this the LAST "api/" pattern (before the page routes, which would swallow /api/a/b).
    re_path(r"^api(?:/(?P<rest>.*))?$", api_fallback, name="api-fallback"),
    path("", include("neuronsite.jobs.urls")),  # jobs (issue 12)
    path("", include("autointerp.urls")),  # autointerp (helper F): before features' search page
    path("", include("accounts.urls")),
    path("", include("monitor.urls")),  # monitor pages (issue 15): before features' catch-alls
    path("", include("graphs.urls")),  # graphs viewer (helper G): before features' catch-alls
    path("", include("features.urls")),
]

if settings.DEBUG:
    from django.contrib.staticfiles.urls import staticfiles_urlpatterns

    urlpatterns += staticfiles_urlpatterns()

# JSON errors under /api/, Django's pages elsewhere (neuronsite/api_routing.py).
handler400 = "neuronsite.api_routing.handler400"
handler403 = "neuronsite.api_routing.handler403"
handler404 = "neuronsite.api_routing.handler404"
handler500 = "neuronsite.api_routing.handler500"
