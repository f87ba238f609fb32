"""The service flow: the bot answers first, hands over to a human, the queue assigns.

Entry points (call them after the change that triggers them has committed):

- ``inbound_received(message_id=…)``: an inbound customer message was saved (web chat or WhatsApp).
  The bot answers when no agent has the conversation and it is not already waiting; the answer may
  put it in the queue.
- ``queue_changed(tenant_id=…)``: the queue or an agent's load changed: assign what can be
  assigned, then tell waiting customers their new position.
- ``agents_went_away(user_ids=…)`` / ``agents_came_back(tenant_id=…, user_ids=…)``: presence or
  availability changed (the singular ``agent_went_away`` / ``agent_came_back`` for one agent).

``FlowConfig.ready()`` connects these to what the layers below announce: a customer's message
(``conversations.signals``), presence (``realtime.presence``), and the queue moving
(``flow.assignment``).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Min
from django.utils import timezone

from conversations import interactive, services
from conversations.access import Audience, Recipients
from conversations.channels import dispatch_on_commit
from conversations.models import (
    Availability,
    Channel,
    Conversation,
    ConversationStatus,
    Direction,
    Message,
    MessageStatus,
    MessageType,
    SenderType,
    User,
)
from flow import assignment, queue
from flow.bot.engine import BotAnswer, BotContext
from flow.bot.models import IntentKind
from flow.bot.service import (
    bot_context_for,
    bot_settings_for,
    consecutive_fallbacks,
    engine_for,
    escalation_reason,
)
from flow.models import AgentAbsence, QueueTicket
from pytake.errors import Conflict
from realtime import groups
from realtime.events import publish_ephemeral

log = logging.getLogger(__name__)


def inbound_received(*, message_id: int) -> None:
    """Run the bot on a committed inbound customer message (idempotent enough to be retried: a
    conversation that an agent took or that already waits is left alone)."""
    message = Message.objects.select_related("conversation").filter(pk=message_id).first()
    if message is None or message.direction != Direction.INBOUND or message.sender_type != SenderType.CONTACT:
        return
    conversation = message.conversation
    if conversation.assignee_id is not None or conversation.queued_at is not None:
        return
    # Already answered (a retried task)? Compare row ids, not times: WhatsApp's timestamps have
    # whole seconds, so a reply written a moment before this message can carry a later time.
    if Message.objects.filter(conversation=conversation, sender_type=SenderType.BOT, pk__gt=message.pk).exists():
        return
    bot = bot_settings_for(tenant_id=conversation.tenant_id)
    if not bot.enabled:
        queue_request_human(conversation=conversation, reason="bot_disabled")
        return
    context = bot_context_for(conversation=conversation, before=message)
    answer = engine_for(bot).answer(text=message.text, context=context)
    reason = escalation_reason(
        answer=answer, previous_fallbacks=consecutive_fallbacks(conversation=conversation), bot=bot
    )
    if reason is not None:
        _say_what_happens_next(answer=answer, context=context, tenant_id=conversation.tenant_id)
    with transaction.atomic():
        conversation = services.conversation_lock(conversation)
        if conversation.assignee_id is not None or conversation.queued_at is not None:
            return  # an agent took it while the bot was thinking
        reply = _bot_message_locked(conversation=conversation, answer=answer, escalation=reason)
        entered = reason is not None and queue.queue_enter_locked(conversation=conversation, reason=reason)
        conversation.save()
        if entered:
            queue.queue_updated(tenant_id=conversation.tenant_id, conversation_id=conversation.pk, reason="queued")
        dispatch_on_commit(reply)
        if entered:
            transaction.on_commit(lambda: queue_changed(tenant_id=conversation.tenant_id), robust=True)


def _say_what_happens_next(*, answer: BotAnswer, context: BotContext, tenant_id: int) -> None:
    """The words of a hand-off must match what follows it. Out of business hours with nobody to
    take it, the customer is told they stay in line until opening; otherwise an agent is coming
    (an online agent with room gets it at once, out of hours too, and says hello), whatever the
    engine answered: a fallback would repeat, a closed-hours notice would be false."""
    agent_ready = settings.PYTAKE_AUTO_ASSIGN and bool(queue.available_agents(tenant_id=tenant_id))
    if not context.is_open() and not agent_ready:
        answer.text, answer.quick_replies = context.special(IntentKind.OUT_OF_HOURS, answer.language)
    elif answer.kind != IntentKind.HANDOFF or not context.is_open():
        answer.text, answer.quick_replies = context.special(IntentKind.HANDOFF, answer.language)


def queue_request_human(*, conversation: Conversation, reason: str) -> bool:
    """Put a conversation in the queue without a bot answer (bot off, or a staff action).
    Returns whether it entered the queue."""
    with transaction.atomic():
        conversation = services.conversation_lock(conversation)
        if not queue.queue_enter_locked(conversation=conversation, reason=reason):
            return False
        conversation.save()
        queue.queue_updated(tenant_id=conversation.tenant_id, conversation_id=conversation.pk, reason="queued")
        transaction.on_commit(lambda: queue_changed(tenant_id=conversation.tenant_id), robust=True)
    return True


def _bot_message_locked(*, conversation: Conversation, answer: BotAnswer, escalation: str | None = None) -> Message:
    """Store a bot answer (outbound, ``pending`` until its channel sends it) with what the bot
    understood in ``content["bot"]`` and its buttons in ``content["quick_replies"]``: those within
    WhatsApp's limits (a model's answer or an intent saved before the limits were checked may
    offer a title the phone would cut)."""
    metadata = answer.metadata()
    buttons = interactive.usable_buttons(body=answer.text, buttons=answer.quick_replies)
    if buttons != answer.quick_replies[:3]:
        log.warning("Bot buttons %r do not fit WhatsApp's limits; sending %r", answer.quick_replies, buttons)
    if escalation:
        metadata["escalation"] = escalation
    message = Message.objects.create(
        tenant_id=conversation.tenant_id,
        conversation=conversation,
        direction=Direction.OUTBOUND,
        sender_type=SenderType.BOT,
        type=MessageType.TEXT,
        content={"text": answer.text, "quick_replies": buttons, "bot": metadata},
        status=MessageStatus.PENDING,
        whatsapp_account=conversation.whatsapp_account,
        created_at=timezone.now(),
    )
    conversation.last_message_at = message.created_at
    conversation.last_message_preview = services.message_preview(message)
    return message


# --- queue ----------------------------------------------------------------------------------------


def queue_changed(*, tenant_id: int) -> None:
    if settings.PYTAKE_AUTO_ASSIGN:
        queue_auto_assign(tenant_id=tenant_id)
    queue_notify_positions(tenant_id=tenant_id)


def queue_auto_assign(*, tenant_id: int, limit: int = 200) -> list[tuple[int, int]]:
    """Give the longest-waiting conversations to the online, available agents with the fewest open
    conversations, within each agent's ``max_open_conversations``. Returns (conversation, agent)
    pairs. Safe to run concurrently with itself and with agents taking conversations."""
    done: list[tuple[int, int]] = []
    for _ in range(limit):
        first = queue.queue_waiting(tenant_id=tenant_id).select_related("tenant").first()
        if first is None:
            break
        agent_id = _assign_to_least_loaded(first)
        if agent_id is None:
            break  # nobody has room
        if agent_id > 0:
            done.append((first.pk, agent_id))
    return done


def _assign_to_least_loaded(conversation: Conversation) -> int | None:
    """Assign one waiting conversation. Returns the agent's id, 0 when the conversation stopped
    waiting meanwhile (try the next one), or None when no agent has room."""
    for candidate in queue.available_agents(tenant_id=conversation.tenant_id):
        with transaction.atomic():
            # The agent's row lock serialises assigners: capacity is checked and used at once.
            agent = User.objects.select_for_update().filter(pk=candidate.pk, is_active=True).first()
            if agent is None or agent.availability != Availability.AVAILABLE:
                continue
            if queue.open_count(user_id=agent.pk) >= agent.max_open_conversations:
                continue
            try:
                assignment.conversation_assign(
                    conversation=conversation, assignee=agent, actor=None, reason="auto", expect_waiting=True
                )
            except Conflict:
                return 0
            return agent.pk
    return None


def queue_notify_positions(*, tenant_id: int) -> int:
    """Tell each waiting customer their position and estimated wait, only when the position
    changed since they were last told: ``queue.position`` over the widget's socket, a message on
    WhatsApp. Returns how many were told."""
    told = 0
    with transaction.atomic():
        waiting = list(
            queue.queue_waiting(tenant_id=tenant_id).select_for_update(of=("self",), no_key=True).order_by("pk")
        )
        if not waiting:
            return 0
        waiting.sort(key=lambda c: (c.queued_at, c.pk))
        tickets = {
            t.conversation_id: t
            for t in QueueTicket.objects.select_for_update()
            .filter(conversation__in=[c.pk for c in waiting], left_at__isnull=True)
            .order_by("pk")
        }
        handling = queue.average_handling_seconds(tenant_id=tenant_id)
        slots = queue.service_slots(tenant_id=tenant_id)
        for position, conversation in enumerate(waiting, start=1):
            ticket = tickets.get(conversation.pk)
            if ticket is None:  # waiting since before tickets existed (e.g. demo data)
                ticket = QueueTicket.objects.create(
                    tenant_id=tenant_id,
                    conversation=conversation,
                    reason="unknown",
                    entered_at=conversation.queued_at or timezone.now(),
                )
            if ticket.last_notified_position == position:
                continue
            ticket.last_notified_position = position
            ticket.save(update_fields=["last_notified_position"])
            estimate = queue.estimate_wait_seconds(position=position, handling_seconds=handling, slots=slots)
            _tell_position(conversation=conversation, position=position, estimate=estimate)
            told += 1
    return told


def _tell_position(*, conversation: Conversation, position: int, estimate: int) -> None:
    if conversation.channel == Channel.WEBCHAT:
        publish_ephemeral(
            routes=[groups.webchat(conversation.pk)],
            type="queue.position",
            data={"position": position, "estimated_wait_seconds": estimate},
            recipients=Recipients(Audience.CUSTOMER, customer=True),
            conversation_id=conversation.pk,
        )
        return
    context = bot_context_for(conversation=conversation)
    template, _ = context.special(IntentKind.QUEUED, context.language)
    minutes = max(1, round(estimate / 60))
    try:
        text = template.format(position=position, minutes=minutes)
    except (KeyError, IndexError, ValueError):
        text = template  # an operator's template with other placeholders: send it as written
    answer = BotAnswer(
        text=text,
        intent="queued",
        kind=IntentKind.QUEUED,
        confidence=1.0,
        sentiment=0.0,
        language=context.language,
        engine="queue",
    )
    reply = _bot_message_locked(conversation=conversation, answer=answer)
    reply.content["queue"] = {"position": position, "estimated_wait_seconds": estimate}
    reply.save(update_fields=["content"])
    conversation.save()
    dispatch_on_commit(reply)


# --- agents coming and going --------------------------------------------------------------------


def agents_went_away(*, user_ids: list[int]) -> None:
    """The agents went offline (last socket closed) or set themselves away. Their conversations
    stay theirs; after ``PYTAKE_AWAY_REQUEUE_SECONDS`` (if set) they return to the queue. An
    absence already recorded keeps its start."""
    AgentAbsence.objects.bulk_create([AgentAbsence(user_id=pk) for pk in user_ids], ignore_conflicts=True)


def agents_came_back(*, tenant_id: int, user_ids: list[int]) -> None:
    """The tenant's agents are online and available again: forget their absences, and give them
    work (one pass of the queue for all of them)."""
    AgentAbsence.objects.filter(user_id__in=user_ids).delete()
    transaction.on_commit(lambda: queue_changed(tenant_id=tenant_id), robust=True)


def agent_went_away(*, user_id: int) -> None:
    agents_went_away(user_ids=[user_id])


def agent_came_back(*, user_id: int) -> None:
    tenant_id = User.objects.filter(pk=user_id).values_list("tenant_id", flat=True).first()
    if tenant_id is not None:
        agents_came_back(tenant_id=tenant_id, user_ids=[user_id])


def agents_requeue_absent(*, now: datetime | None = None) -> int:
    """Return to the queue the open conversations of agents absent for longer than the grace
    period. Returns how many conversations moved. (Celery beat runs this every minute.)"""
    grace = settings.PYTAKE_AWAY_REQUEUE_SECONDS
    if grace <= 0:
        return 0
    now = now or timezone.now()
    moved = 0
    for absence in AgentAbsence.objects.filter(since__lte=now - timedelta(seconds=grace)).select_related("user"):
        user = absence.user
        online = queue.online_user_ids(tenant_id=user.tenant_id) if user.tenant_id else None
        if user.availability == Availability.AVAILABLE and online is not None and user.pk in online:
            absence.delete()  # came back without telling us
            continue
        held = Conversation.objects.filter(assignee=user, status__in=queue.OPEN_STATUSES).order_by("pk")
        for conversation in held:
            assignment.conversation_assign(conversation=conversation, assignee=None, actor=None, reason="agent absent")
            moved += 1
        absence.delete()
    return moved


def conversations_auto_resolve(*, now: datetime | None = None, limit: int = 500) -> int:
    """Resolve conversations without any message for ``PYTAKE_AUTO_RESOLVE_HOURS`` (0: never).
    Returns how many were resolved. (Celery beat runs this every few minutes.)"""
    hours = settings.PYTAKE_AUTO_RESOLVE_HOURS
    if hours <= 0:
        return 0
    cutoff = (now or timezone.now()) - timedelta(hours=hours)
    stale = (
        Conversation.objects.filter(status__in=queue.OPEN_STATUSES, last_message_at__lt=cutoff)
        .exclude(status=ConversationStatus.RESOLVED)
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )
    return sum(assignment.conversation_auto_resolve(conversation_id=pk, inactive_since=cutoff) for pk in list(stale))


def queue_sweep() -> int:
    """Safety net (Celery beat): run ``queue_changed`` for every tenant with a waiting conversation,
    in case an on-commit hook was lost with its process."""
    tenant_ids = (
        Conversation.objects.filter(queued_at__isnull=False, assignee__isnull=True)
        .exclude(status=ConversationStatus.RESOLVED)
        .values_list("tenant_id", flat=True)
        .distinct()
    )
    count = 0
    for tenant_id in list(tenant_ids):
        queue_changed(tenant_id=tenant_id)
        count += 1
    return count


def backlog_figures() -> list[tuple[str, str, float]]:
    """What Prometheus reads of the flow at scrape time (``pytake.metrics.register_backlog``):
    the queue's size and oldest wait, and outbound messages not yet accepted by their channel."""
    waiting = Conversation.objects.filter(assignee__isnull=True, queued_at__isnull=False).exclude(
        status=ConversationStatus.RESOLVED
    )
    figures = waiting.aggregate(n=Count("id"), oldest=Min("queued_at"))
    pending = Message.objects.filter(
        direction=Direction.OUTBOUND, status=MessageStatus.PENDING, whatsapp_message_id__isnull=True
    ).count()
    oldest = figures["oldest"]
    return [
        (
            "pytake_queue_waiting_conversations",
            "Conversations waiting in the queue for a human (not resolved, no assignee).",
            figures["n"],
        ),
        (
            "pytake_queue_oldest_wait_seconds",
            "Seconds the longest-waiting queued conversation has waited (0 when the queue is empty).",
            (timezone.now() - oldest).total_seconds() if oldest else 0.0,
        ),
        (
            "pytake_outbound_pending_messages",
            "Outbound messages still pending (not yet accepted by the Graph API).",
            pending,
        ),
    ]
