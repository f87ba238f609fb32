from typing import Any

from django.apps import AppConfig


def hand_to_flow(sender: Any, *, message_id: int, **kwargs: Any) -> None:
    """A customer's message was stored: the bot answers it, or the queue takes the conversation
    (a Celery task, so the customer's request never waits for the bot)."""
    from flow import tasks  # the task module needs the app registry, ready by the time this runs

    tasks.flow_inbound_received.delay(message_id)


def queue_moved(sender: Any, *, tenant_id: int, **kwargs: Any) -> None:
    from flow import services  # needs the app registry, as above

    services.queue_changed(tenant_id=tenant_id)


class FlowConfig(AppConfig):
    name = "flow"
    verbose_name = "Service flow"

    def ready(self) -> None:
        # Imported here: models load only once the app registry is ready.
        from conversations.signals import customer_message_received
        from flow import agents, assignment, services
        from pytake import metrics
        from realtime.presence import presence_changed

        customer_message_received.connect(hand_to_flow, dispatch_uid="flow.hand_to_flow")
        assignment.queue_moved.connect(queue_moved, dispatch_uid="flow.queue_moved")
        presence_changed.connect(agents.presence_changed, dispatch_uid="flow.presence_changed")
        metrics.register_backlog(services.backlog_figures)
