"""The project's URLs. Each app's are included by dotted path, so this module imports no app."""

from django.apps import apps
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from pytake import pages
from pytake.health import healthz, readyz
from pytake.metrics import metrics_view

urlpatterns = [
    path("", pages.inbox, name="inbox"),
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/auth/", include("accounts.urls")),  # before api/: password, logout, logout-all
    path("api/", include("conversations.urls")),
    path("", include("conversations.file_urls")),
    path("api/", include("flow.urls")),
    path("api/", include("realtime.urls")),
    path("", include("webchat.urls")),
    path("", include("whatsapp.urls")),
]

if apps.is_installed("simulator"):  # PYTAKE_SIMULATOR: the Cloud API simulator and its phone page
    urlpatterns.append(path("", include("simulator.urls")))
