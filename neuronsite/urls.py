from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

import neuronsite.openapi  # noqa: F401  (registers the x-api-key scheme with drf-spectacular)

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-redoc"),
    path("api/", include("models_app.api.urls")),
    path("api/", include("models_app.api.write_urls")),
    path("api/", include("features.api.upload_urls")),
    path("api/", include("inference.api.urls")),
    path("api/", include("features.api.urls")),
    path("api/", include("features.api.social_urls")),
    path("", include("accounts.urls")),
    path("", include("features.urls")),
]

if settings.DEBUG:
    from django.contrib.staticfiles.urls import staticfiles_urlpatterns

    urlpatterns += staticfiles_urlpatterns()
