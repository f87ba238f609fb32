from django.urls import include, path

from whatsapp import views

urlpatterns = [
    path("webhooks/whatsapp/", views.webhook, name="whatsapp-webhook"),
    # The built-in Cloud API simulator (every view is a 404 unless WHATSAPP_SIMULATOR_ENABLED).
    path("", include("whatsapp.simulator_urls")),
]
