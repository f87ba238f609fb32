"""Celery tasks of the service flow: thin wrappers that take ids and call ``flow.services``.
Their names are kept from when the flow lived in ``conversations`` (queued tasks carry them)."""

from celery import shared_task

from flow import moves
from flow import services as flow


@shared_task(name="conversations.flow_inbound_received", acks_late=True)
def flow_inbound_received(message_id: int) -> None:
    flow.inbound_received(message_id=message_id)


@shared_task(name="conversations.queue_sweep")
def queue_sweep() -> int:
    return flow.queue_sweep()


@shared_task(name="conversations.auto_resolve")
def auto_resolve() -> int:
    return flow.conversations_auto_resolve()


@shared_task(name="conversations.requeue_absent_agents")
def requeue_absent_agents() -> int:
    return flow.agents_requeue_absent()


@shared_task(name="flow.wake_snoozed")
def wake_snoozed() -> int:
    return moves.snoozed_wake_due()
