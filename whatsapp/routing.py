from django.urls import path

from whatsapp.consumers import SimulatorPhoneConsumer

websocket_urlpatterns = [
    path("ws/simulator/phone/", SimulatorPhoneConsumer.as_asgi()),
]
