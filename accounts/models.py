"""What the server remembers about a user's sessions beyond the tokens themselves."""

from django.conf import settings
from django.db import models


class SignOut(models.Model):
    """The last time a user signed out everywhere: every token issued up to that second is refused
    (REST and WebSocket), and the refresh tokens outstanding then are blacklisted."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="sign_out"
    )
    at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.user_id} signed out everywhere at {self.at:%Y-%m-%d %H:%M:%S}"
