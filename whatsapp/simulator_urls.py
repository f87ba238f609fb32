"""URLs of the Cloud API simulator alone (``manage.py whatsapp_simulator`` serves only these)."""

from django.urls import path

from whatsapp import simulator_views

urlpatterns = [
    path("simulator/graph/<str:version>/<str:phone_number_id>/messages", simulator_views.graph_messages),
    path("simulator/graph/<str:version>/<str:media_id>", simulator_views.graph_media),
    path("simulator/media/<str:media_id>/download", simulator_views.media_download, name="simulator-media-download"),
    path("simulator/phone/", simulator_views.phone_page, name="simulator-phone"),
    path("simulator/phone/api/contacts", simulator_views.phone_contacts),
    path("simulator/phone/api/messages", simulator_views.phone_messages),
    path("simulator/phone/api/send", simulator_views.phone_send),
    path("simulator/faults", simulator_views.faults),
]
