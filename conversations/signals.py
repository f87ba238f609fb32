"""What the domain announces to the layers above it (the service flow, channels), which connect
their receivers in their ``AppConfig.ready()``. Sent after commit."""

from django.dispatch import Signal

# A customer's message was stored (web chat or WhatsApp): ``message_id``. The service flow
# answers it (the bot) or queues the conversation for a human.
customer_message_received = Signal()
