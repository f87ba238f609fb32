"""Agents coming and going: their availability (set in the inbox) and their presence (sockets,
announced by ``realtime.presence``) decide whether they are given work and whether their
conversations return to the queue."""

from __future__ import annotations

from typing import Any

from conversations.models import Availability, User
from flow import services
from realtime.presence import announce_availability


def user_set_availability(*, user: User, availability: str) -> User:
    """An agent switches between available and away; the tenant sees it as presence. Away: their
    conversations may return to the queue after the grace period; available: they may be given
    waiting conversations."""
    if user.availability != availability:
        user.availability = availability
        user.save(update_fields=["availability"])
        announce_availability(user=user)
        if user.availability == Availability.AWAY:
            services.agent_went_away(user_id=user.pk)
        else:
            services.agent_came_back(user_id=user.pk)
    return user


def presence_changed(sender: Any, *, tenant_id: int, online: list[int], offline: list[int], **kwargs: Any) -> None:
    """A presence window closed (``realtime.presence.presence_changed``): those gone are absent
    from now on; those back and available are not, and the queue may give them work."""
    if offline:
        services.agents_went_away(user_ids=offline)
    available = set(
        User.objects.filter(pk__in=online, availability=Availability.AVAILABLE).values_list("pk", flat=True)
    )
    back = [pk for pk in online if pk in available]
    if back:
        services.agents_came_back(tenant_id=tenant_id, user_ids=back)
