"""URLs of the Cloud API simulator, included by pytake/urls.py only where the app is installed
(``manage.py whatsapp_simulator`` serves these alone)."""

from django.urls import path

from simulator import views

urlpatterns = [
    path("simulator/graph/<str:version>/<str:phone_number_id>/messages", views.graph_messages),
    path("simulator/graph/<str:version>/<str:phone_number_id>/media", views.graph_media_upload),
    path("simulator/graph/<str:version>/<str:business_account_id>/message_templates", views.graph_templates),
    path("simulator/graph/<str:version>/<str:media_id>", views.graph_media),
    path("simulator/media/<str:media_id>/download", views.media_download, name="simulator-media-download"),
    path("simulator/phone/", views.phone_page, name="simulator-phone"),
    path("simulator/phone/api/contacts", views.phone_contacts),
    path("simulator/phone/api/messages", views.phone_messages),
    path("simulator/phone/api/send", views.phone_send),
    path("simulator/phone/api/media/<str:media_id>", views.phone_media),
    path("simulator/phone/api/templates", views.phone_templates),
    path("simulator/phone/api/templates/status", views.phone_template_status),
    path("simulator/faults", views.faults),
]
