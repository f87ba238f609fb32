"""Channel-layer group names, built in one place.

Channels accepts only ``[A-Za-z0-9-_.]`` and fewer than 100 characters, hence ``tenant.7``.
"""


def tenant(tenant_id: int) -> str:
    """Every staff socket of a tenant (queue, presence, broadcasts, unassigned conversations)."""
    return f"tenant.{tenant_id}"


def supervisors(tenant_id: int) -> str:
    """Sockets of a tenant's supervisors and admins, who see every conversation."""
    return f"supervisors.{tenant_id}"


def user(user_id: int) -> str:
    """Every socket (device, tab) of one user."""
    return f"user.{user_id}"


def conversation(conversation_id: int) -> str:
    """Staff sockets that joined a conversation: its messages, statuses and typing."""
    return f"conversation.{conversation_id}"


def webchat(conversation_id: int) -> str:
    """The web-chat customer's sockets for their one conversation."""
    return f"webchat.{conversation_id}"


def access() -> str:
    """Every server process (its hub): changes to a user's or a tenant's access (``realtime.access``)."""
    return "access"
