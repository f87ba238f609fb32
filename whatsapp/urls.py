from django.urls import path
from rest_framework.routers import SimpleRouter

from whatsapp import api, views

router = SimpleRouter(trailing_slash=True)
router.register("api/whatsapp/templates", api.TemplateViewSet, basename="whatsapp-template")

urlpatterns = [
    path("webhooks/whatsapp/", views.webhook, name="whatsapp-webhook"),
    *router.urls,
]
