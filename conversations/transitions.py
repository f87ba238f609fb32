"""State machines as data: the allowed moves of a conversation and the order of message statuses."""

from conversations.models import ConversationStatus, MessageStatus

# pending: waiting on the customer; snoozed: set aside until ``snoozed_until`` (Celery beat
# reopens it then, and so does the customer writing first).
CONVERSATION_TRANSITIONS: dict[str, frozenset[str]] = {
    ConversationStatus.OPEN: frozenset(
        {ConversationStatus.PENDING, ConversationStatus.SNOOZED, ConversationStatus.RESOLVED}
    ),
    ConversationStatus.PENDING: frozenset(
        {ConversationStatus.OPEN, ConversationStatus.SNOOZED, ConversationStatus.RESOLVED}
    ),
    ConversationStatus.SNOOZED: frozenset(
        {ConversationStatus.OPEN, ConversationStatus.PENDING, ConversationStatus.RESOLVED}
    ),
    ConversationStatus.RESOLVED: frozenset({ConversationStatus.OPEN}),
}

# sent < delivered < read; "failed" is terminal and can follow any non-read status.
MESSAGE_STATUS_RANK: dict[str, int] = {
    MessageStatus.PENDING: 0,
    MessageStatus.SENT: 1,
    MessageStatus.DELIVERED: 2,
    MessageStatus.READ: 3,
}


def conversation_can_move(current: str, new: str) -> bool:
    return new in CONVERSATION_TRANSITIONS.get(current, frozenset())


def message_status_can_advance(current: str, new: str) -> bool:
    """True when ``new`` moves a message forward. Statuses never go backwards; failed is final."""
    if current == MessageStatus.FAILED:
        return False
    if new == MessageStatus.FAILED:
        return current != MessageStatus.READ
    return MESSAGE_STATUS_RANK.get(new, -1) > MESSAGE_STATUS_RANK.get(current, -1)
