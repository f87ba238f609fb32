from django.urls import path
from rest_framework.routers import SimpleRouter

from flow import views

router = SimpleRouter(trailing_slash=True)
router.register("conversations", views.ConversationMovesViewSet, basename="conversation")

urlpatterns = [
    path("me/", views.MeView.as_view(), name="me"),
    path("agents/", views.AgentListView.as_view(), name="agents"),
    path("queue/", views.QueueView.as_view(), name="queue"),
    *router.urls,
]
