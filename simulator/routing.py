"""The phone page's socket; pytake/asgi.py gathers it with every installed app's routing."""

from django.urls import path

from simulator.consumers import SimulatorPhoneConsumer

websocket_urlpatterns = [
    path("ws/simulator/phone/", SimulatorPhoneConsumer.as_asgi()),
]
