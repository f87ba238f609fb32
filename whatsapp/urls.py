from django.urls import path
from rest_framework.routers import SimpleRouter

from whatsapp import api, views

router = SimpleRouter(trailing_slash=True)
router.register("api/whatsapp/templates", api.TemplateViewSet, basename="whatsapp-template")
router.register("api/whatsapp/numbers", api.NumberViewSet, basename="whatsapp-number")

urlpatterns = [
    path("webhooks/whatsapp/", views.webhook, name="whatsapp-webhook"),
    *router.urls,
]
