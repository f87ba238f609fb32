from django.urls import path

from webchat import views

urlpatterns = [
    path("api/webchat/sessions/", views.WebchatSessionView.as_view(), name="webchat-sessions"),
    path("api/webchat/messages/", views.WebchatFileView.as_view(), name="webchat-messages"),
    path("api/webchat/conversation/", views.WebchatConversationView.as_view(), name="webchat-conversation"),
    path("chat/<slug:tenant_slug>/", views.webchat_page, name="webchat-page"),
]
