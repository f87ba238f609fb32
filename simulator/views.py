"""HTTP face of the Cloud API simulator (see ``simulator.services``). Its URLs exist only where
the simulator is installed (``PYTAKE_SIMULATOR``)."""

from __future__ import annotations

import json
import time

from django.conf import settings
from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt, ensure_csrf_cookie
from django.views.decorators.http import require_http_methods

from conversations.models import Contact, WhatsAppAccount
from pytake.errors import error_body
from simulator import services, sim_templates
from simulator.models import FaultKind, SimulatedMedia, SimulatedMessage, SimulatorFault


def _answer(answer: services.GraphAnswer) -> JsonResponse:
    return JsonResponse(answer.body, status=answer.status)


def _bad(code: str, message: str, status: int = 400) -> JsonResponse:
    return JsonResponse(error_body(code, message), status=status)


# --- Graph API -----------------------------------------------------------------------------------


@csrf_exempt
@require_http_methods(["POST"])
def graph_messages(request: HttpRequest, version: str, phone_number_id: str) -> HttpResponse:
    return _answer(services.handle_messages_post(phone_number_id, request.headers.get("Authorization"), request.body))


@require_http_methods(["GET"])
def graph_media(request: HttpRequest, version: str, media_id: str) -> HttpResponse:
    url = request.build_absolute_uri(reverse("simulator-media-download", args=[media_id]))
    url += f"?ts={int(time.time())}"  # short-lived, like Meta's
    return _answer(services.handle_media_get(media_id, request.headers.get("Authorization"), url))


@csrf_exempt
@require_http_methods(["POST"])
def graph_media_upload(request: HttpRequest, version: str, phone_number_id: str) -> HttpResponse:
    upload = request.FILES.get("file")
    return _answer(
        services.handle_media_upload(
            phone_number_id,
            request.headers.get("Authorization"),
            {k: str(v) for k, v in request.POST.items()},
            (upload.name or "file", upload.content_type or "application/octet-stream", upload.read())
            if upload is not None
            else None,
        )
    )


@require_http_methods(["GET"])
def graph_templates(request: HttpRequest, version: str, business_account_id: str) -> HttpResponse:
    """``GET /{waba-id}/message_templates``: one page (``limit``, ``after``), Meta's paging."""
    account = sim_templates.account_for_waba(business_account_id, request.headers.get("Authorization"))
    if account is None:
        return _answer(services.graph_error(401, 190, "Error validating access token: The access token is invalid."))
    try:
        limit = max(1, min(int(request.GET.get("limit", "25")), 1000))
    except ValueError:
        return _answer(services.graph_error(400, 100, "(#100) Param limit must be a number."))
    base = request.build_absolute_uri(request.path)
    return JsonResponse(
        sim_templates.templates_page(
            business_account_id=business_account_id, after=request.GET.get("after", ""), limit=limit, base_url=base
        )
    )


@require_http_methods(["GET"])
def media_download(request: HttpRequest, media_id: str) -> HttpResponseBase:
    result = services.media_file(media_id, request.headers.get("Authorization"), request.GET.get("ts", ""))
    if isinstance(result, services.GraphAnswer):
        return _answer(result)
    return FileResponse(result.file.open("rb"), content_type=result.mime_type)


@require_http_methods(["GET"])
def phone_media(request: HttpRequest, media_id: str) -> HttpResponseBase:
    """A file of the phone's thread, for the phone page (sent by it or to it)."""
    media = SimulatedMedia.objects.filter(media_id=media_id).first()
    if media is None:
        return _bad("not_found", "Media not found.", 404)
    response = FileResponse(media.file.open("rb"), content_type=media.mime_type.split(";")[0])
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


@csrf_exempt
@require_http_methods(["POST", "DELETE"])
def faults(request: HttpRequest) -> HttpResponse:
    """Arm failures: ``{"kind": "server_error" | "rate_limit" | "outside_window", "count": 1,
    "phone_number_id": "", "wa_id": ""}``. DELETE disarms all."""
    if request.method == "DELETE":
        SimulatorFault.objects.all().delete()
        return JsonResponse({"status": "cleared"})
    try:
        body = json.loads(request.body or b"{}")
        kind = str(body["kind"])
        count = int(body.get("count", 1))
    except (ValueError, KeyError, TypeError):
        return _bad("invalid", "Send JSON with kind and count.")
    if kind not in FaultKind.values or not 1 <= count <= 1000:
        return _bad("invalid", f"kind must be one of {', '.join(FaultKind.values)}; count 1..1000.")
    fault = SimulatorFault.objects.create(
        kind=kind,
        remaining=count,
        phone_number_id=str(body.get("phone_number_id", "")),
        wa_id=str(body.get("wa_id", "")),
    )
    return JsonResponse({"id": fault.pk, "kind": kind, "remaining": count}, status=201)


# --- The phone page ---------------------------------------------------------------------------------


@ensure_csrf_cookie
@require_http_methods(["GET"])
def phone_page(request: HttpRequest) -> HttpResponse:
    accounts = list(
        WhatsAppAccount.objects.filter(is_active=True)
        .order_by("pk")
        .values("phone_number_id", "display_phone_number", "name")
    )
    return render(
        request,
        "simulator/phone.html",
        {"accounts": accounts, "accounts_json": accounts, "graph_base": settings.WHATSAPP_GRAPH_BASE_URL or "built-in"},
    )


@require_http_methods(["GET"])
def phone_contacts(request: HttpRequest) -> HttpResponse:
    """Customers the phone can play: the number's tenant contacts plus any the phone has used."""
    phone_number_id = request.GET.get("phone_number_id", "")
    account = WhatsAppAccount.objects.filter(phone_number_id=phone_number_id).first()
    if account is None:
        return _bad("not_found", "Unknown phone_number_id.", 404)
    found: dict[str, str] = {}
    for wa_id, name, profile in (
        Contact.objects.filter(tenant_id=account.tenant_id)
        .exclude(wa_id="")
        .values_list("wa_id", "name", "profile_name")[:200]
    ):
        found[wa_id] = profile or name or wa_id
    for wa_id in (
        SimulatedMessage.objects.filter(phone_number_id=phone_number_id)
        .values_list("wa_id", flat=True)
        .distinct()[:200]
    ):
        found.setdefault(wa_id, wa_id)
    return JsonResponse(
        {"results": [{"wa_id": k, "name": v} for k, v in sorted(found.items(), key=lambda kv: kv[1].lower())]}
    )


@require_http_methods(["GET"])
def phone_messages(request: HttpRequest) -> HttpResponse:
    phone_number_id = request.GET.get("phone_number_id", "")
    wa_id = request.GET.get("wa_id", "")
    rows = SimulatedMessage.objects.filter(phone_number_id=phone_number_id, wa_id=wa_id).order_by("-created_at", "-id")[
        :200
    ]
    return JsonResponse({"results": [services.sim_message_data(m) for m in reversed(list(rows))]})


@require_http_methods(["POST"])
def phone_send(request: HttpRequest) -> HttpResponse:
    """The customer sends: form fields phone_number_id, wa_id, name, text, optional file, or
    reply_id + reply_title (a tap on a reply button); action (reply, react, edit, delete) with
    target (the wamid it is about) and emoji; username (a customer hiding their number)."""
    upload = request.FILES.get("file")
    reply_id, reply_title = request.POST.get("reply_id", ""), request.POST.get("reply_title", "")
    try:
        message = services.phone_send(
            phone_number_id=request.POST.get("phone_number_id", ""),
            wa_id=request.POST.get("wa_id", ""),
            name=request.POST.get("name", ""),
            text=request.POST.get("text", ""),
            upload=(upload.name or "file", upload.content_type or "application/octet-stream", upload.read())
            if upload is not None
            else None,
            reply=(reply_id[:256], reply_title[:20]) if reply_id and reply_title else None,
            voice=request.POST.get("voice", "") in ("1", "true", "on"),
            action=request.POST.get("action", "")[:16],
            target=request.POST.get("target", "")[:256],
            emoji=request.POST.get("emoji", "")[:16],
            username=request.POST.get("username", "")[:40],
        )
    except services.PhoneError as exc:
        return _bad("invalid", str(exc))
    return JsonResponse(services.sim_message_data(message), status=202)


@require_http_methods(["GET"])
def phone_templates(request: HttpRequest) -> HttpResponse:
    """The number's business account templates and their status, for the operator control."""
    return JsonResponse({"results": sim_templates.templates_for_phone(request.GET.get("phone_number_id", ""))})


@require_http_methods(["POST"])
def phone_template_status(request: HttpRequest) -> HttpResponse:
    """The operator changes a template's status (form fields phone_number_id, template_id,
    status, reason): PyTake gets ``message_template_status_update``."""
    try:
        template_id = int(request.POST.get("template_id", ""))
        changed = services.template_status_change(
            phone_number_id=request.POST.get("phone_number_id", ""),
            template_id=template_id,
            status=request.POST.get("status", ""),
            reason=request.POST.get("reason", "")[:255],
        )
    except ValueError as exc:
        return _bad("invalid", str(exc) or "template_id must be a number.")
    return JsonResponse(changed, status=202)
