from django.urls import path

from realtime.views import BroadcastView, RealtimeStatsView

urlpatterns = [
    path("realtime/stats/", RealtimeStatsView.as_view(), name="realtime-stats"),
    path("broadcast/", BroadcastView.as_view(), name="broadcast"),
]
