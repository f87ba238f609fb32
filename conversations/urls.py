from django.urls import path
from rest_framework.routers import SimpleRouter
from rest_framework_simplejwt.views import TokenRefreshView, TokenVerifyView

from conversations import flow_views, views
from conversations.auth import TokenObtainPairView
from realtime.views import RealtimeStatsView

router = SimpleRouter(trailing_slash=True)
router.register("conversations", views.ConversationViewSet, basename="conversation")
router.register("contacts", views.ContactViewSet, basename="contact")

urlpatterns = [
    path("auth/token/", TokenObtainPairView.as_view(), name="token_obtain_pair"),
    path("auth/token/refresh/", TokenRefreshView.as_view(), name="token_refresh"),
    path("auth/token/verify/", TokenVerifyView.as_view(), name="token_verify"),
    path("me/", views.MeView.as_view(), name="me"),
    path("agents/", views.AgentListView.as_view(), name="agents"),
    path("realtime/stats/", RealtimeStatsView.as_view(), name="realtime-stats"),
    path(
        "conversations/<int:conversation_id>/messages/",
        views.ConversationMessagesView.as_view(),
        name="conversation-messages",
    ),
    path("conversations/<int:conversation_id>/notes/", flow_views.NoteCreateView.as_view(), name="conversation-notes"),
    path("queue/", flow_views.QueueView.as_view(), name="queue"),
    path("broadcast/", flow_views.BroadcastView.as_view(), name="broadcast"),
    path("webchat/sessions/", flow_views.WebchatSessionView.as_view(), name="webchat-sessions"),
    path("webchat/conversation/", flow_views.WebchatConversationView.as_view(), name="webchat-conversation"),
    *router.urls,
]
