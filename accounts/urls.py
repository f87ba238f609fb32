from django.urls import path

from accounts import views

urlpatterns = [
    path("password/", views.PasswordChangeView.as_view(), name="auth-password"),
    path("logout/", views.LogoutView.as_view(), name="auth-logout"),
    path("logout-all/", views.LogoutEverywhereView.as_view(), name="auth-logout-all"),
]
