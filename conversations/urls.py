from django.urls import path
from rest_framework.routers import SimpleRouter
from rest_framework_simplejwt.views import TokenRefreshView, TokenVerifyView

from conversations import toolbox_views, views
from conversations.auth import TokenObtainPairView

router = SimpleRouter(trailing_slash=True)
router.register("conversations", views.ConversationViewSet, basename="conversation")
router.register("contacts", views.ContactViewSet, basename="contact")
router.register("labels", toolbox_views.LabelViewSet, basename="label")
router.register("saved-replies", toolbox_views.SavedReplyViewSet, basename="saved-reply")
router.register("notifications", toolbox_views.NotificationViewSet, basename="notification")
router.register("contact-attributes", toolbox_views.ContactAttributeViewSet, basename="contact-attribute")

urlpatterns = [
    path("auth/token/", TokenObtainPairView.as_view(), name="token_obtain_pair"),
    path("auth/token/refresh/", TokenRefreshView.as_view(), name="token_refresh"),
    path("auth/token/verify/", TokenVerifyView.as_view(), name="token_verify"),
    path(
        "conversations/<int:conversation_id>/messages/",
        views.ConversationMessagesView.as_view(),
        name="conversation-messages",
    ),
    path("messages/<int:message_id>/media/", views.MessageMediaView.as_view(), name="message-media"),
    path("messages/<int:message_id>/media/link/", views.MessageMediaLinkView.as_view(), name="message-media-link"),
    path("messages/<int:message_id>/media/retry/", views.MessageMediaRetryView.as_view(), name="message-media-retry"),
    path("conversations/<int:conversation_id>/notes/", views.NoteCreateView.as_view(), name="conversation-notes"),
    path("search/", toolbox_views.SearchView.as_view(), name="search"),
    path(
        "contacts/<int:contact_id>/notes/<int:note_id>/",
        views.ContactNoteDeleteView.as_view(),
        name="contact-note-delete",
    ),
    *router.urls,
]
