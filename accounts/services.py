"""Signing out: one session (its refresh token) or every session of a user."""

from django.db import transaction
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.models import SignOut
from conversations.models import User


def session_sign_out(*, refresh: RefreshToken) -> None:
    """Blacklist one refresh token: it can no longer be exchanged for access tokens. Its access
    tokens run out within ``ACCESS_TOKEN_LIFETIME``; a socket opened with one closes then (4001)."""
    refresh.blacklist()


@transaction.atomic
def user_sign_out_everywhere(*, user: User) -> SignOut:
    """Refuse every token of ``user`` issued until now (access and refresh, REST and WebSocket),
    blacklist their outstanding refresh tokens, and close their open sockets on every server
    process (``realtime.access``: the save below is the change it hears of)."""
    _blacklist_outstanding(user)
    sign_out, _ = SignOut.objects.update_or_create(user=user, defaults={"at": timezone.now()})
    return sign_out


@transaction.atomic
def user_password_change(*, user: User, new_password: str) -> RefreshToken:
    """Set ``user``'s password. Every token issued before is refused from now on (simplejwt's
    revoke claim: a hash of the password), their refresh tokens are blacklisted, and their open
    sockets close on every server process (``realtime.access``). Returns a new refresh token
    (with its access token) for the caller to go on with."""
    user.set_password(new_password)
    user.save(update_fields=["password"])
    _blacklist_outstanding(user)
    return RefreshToken.for_user(user)


def _blacklist_outstanding(user: User) -> None:
    outstanding = OutstandingToken.objects.filter(user=user, blacklistedtoken__isnull=True)
    BlacklistedToken.objects.bulk_create(
        [BlacklistedToken(token=token) for token in outstanding], ignore_conflicts=True
    )
