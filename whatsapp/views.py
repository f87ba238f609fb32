"""Meta's webhook endpoint. Thin: the services verify and store; processing is enqueued."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from pytake import jsonsafe
from pytake.errors import ApplicationError, ErrorCode, InvalidInput, error_body
from whatsapp import services, tasks


def _error(exc: ApplicationError) -> JsonResponse:
    return JsonResponse(error_body(exc.code, exc.message, exc.extra), status=exc.status)


@csrf_exempt
@require_http_methods(["GET", "POST"])
def webhook(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        try:
            challenge = services.webhook_verify(
                mode=request.GET.get("hub.mode"),
                token=request.GET.get("hub.verify_token"),
                challenge=request.GET.get("hub.challenge"),
            )
        except ApplicationError as exc:
            return _error(exc)
        return HttpResponse(challenge, content_type="text/plain")

    # Refuse an oversized body before reading it (Content-Length can be absent: checked again after).
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    limit = int(settings.WHATSAPP_WEBHOOK_MAX_BYTES)
    if declared > limit:
        return _error(services.PayloadTooLarge())
    # Read from the stream, not ``request.body``: Meta's deliveries can be larger than Django's
    # DATA_UPLOAD_MAX_MEMORY_SIZE (meant for forms), and this limit is the one that applies here.
    body = request.read(limit + 1)
    if len(body) > limit:
        return _error(services.PayloadTooLarge())
    if jsonsafe.too_deep(body):  # json.loads would recurse until it raised RecursionError
        return _error(InvalidInput("The body nests too deep for a WhatsApp webhook.", code=ErrorCode.INVALID_PAYLOAD))
    try:
        event, created = services.webhook_event_receive(body=body, signature=request.headers.get("X-Hub-Signature-256"))
    except ApplicationError as exc:
        return _error(exc)
    if created:
        transaction.on_commit(lambda: tasks.webhook_event_enqueue(event_id=event.pk), robust=True)
    return JsonResponse({"status": "received", "event_id": event.pk})
