from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from conversations.flow_views import webchat_page
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
    path("chat/<slug:tenant_slug>/", webchat_page, name="webchat-page"),
    path("", include("whatsapp.urls")),
]
