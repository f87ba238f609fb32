"""The one URL outside /api/ that serves a file: a signed, short-lived media link."""

from django.urls import path

from conversations import views

urlpatterns = [path("media/signed/<str:token>/", views.media_signed, name="media-signed")]
