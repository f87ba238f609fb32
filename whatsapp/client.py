"""A small client for the parts of Meta's Graph API (WhatsApp Cloud API) that PyTake uses.

It knows HTTP and Meta's error format, nothing of PyTake's models. One ``httpx.Client`` per
process keeps connections alive between calls (httpx clients are thread-safe).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, Any
from urllib.parse import urlencode

import httpx
from django.conf import settings

from conversations import interactive

# Meta error codes worth retrying: throttling, temporary service errors (see Meta's
# "Error codes" page for the Cloud API). Anything else with a 4xx status is permanent.
TRANSIENT_CODES = frozenset({1, 2, 4, 17, 80007, 130429, 131000, 131016, 131048, 131056, 133004})
OUTSIDE_WINDOW_CODE = 131047
TEMPLATE_PAGE_SIZE = 100
TEMPLATE_FIELDS = "id,name,language,status,category,components,quality_score,parameter_format,rejected_reason"

_client: httpx.Client | None = None
_client_lock = threading.Lock()


META_GRAPH_BASE_URL = "https://graph.facebook.com"


def _meta_graph_base_url() -> str:
    return META_GRAPH_BASE_URL


# The Graph API root when WHATSAPP_GRAPH_BASE_URL is empty: Meta's, unless an installed app (the
# Cloud API simulator) registers its own in its AppConfig.ready().
_default_base_url: Callable[[], str] = _meta_graph_base_url


def graph_base_url_default(provider: Callable[[], str]) -> None:
    """Make ``provider()`` the Graph API root used while ``WHATSAPP_GRAPH_BASE_URL`` is empty."""
    global _default_base_url
    _default_base_url = provider


def graph_base_url() -> str:
    """The Graph API root: ``WHATSAPP_GRAPH_BASE_URL``, else the registered default (Meta's)."""
    configured = str(settings.WHATSAPP_GRAPH_BASE_URL).rstrip("/")
    return configured or _default_base_url().rstrip("/")


def http_client() -> httpx.Client:
    global _client
    with _client_lock:
        if _client is None:
            timeout = float(settings.WHATSAPP_HTTP_TIMEOUT)
            _client = httpx.Client(
                timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
                limits=httpx.Limits(max_connections=50, max_keepalive_connections=10),
                headers={"User-Agent": "PyTake"},
            )
        return _client


def http_client_close() -> None:
    """Drop the pooled connections (tests, and before a fork)."""
    global _client
    with _client_lock:
        if _client is not None:
            _client.close()
            _client = None


@dataclass
class GraphError(Exception):
    """An error answer (or no answer) from the Graph API.

    ``transient`` says whether trying again later can succeed (timeouts, 5xx, 429, Meta's
    throttling codes); a permanent error will fail the same way every time. ``maybe_sent`` says
    that the request may have reached Meta and been carried out, its answer lost (a read
    timeout, a connection dropped after the request went out): a message sent again at once could
    reach the customer twice, since the Cloud API has no idempotency key.
    """

    http_status: int
    code: int | None
    title: str
    details: str = ""
    transient: bool = False
    raw: dict[str, Any] = field(default_factory=dict)
    maybe_sent: bool = False

    def __str__(self) -> str:
        return f"Graph API error {self.code} (HTTP {self.http_status}): {self.title} {self.details}".strip()


def _error_from(response: httpx.Response) -> GraphError:
    try:
        body = response.json()
    except ValueError:
        body = {}
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        error = {}
    code = error.get("code")
    code = code if isinstance(code, int) else None
    found = error.get("error_data")
    data: dict[str, Any] = found if isinstance(found, dict) else {}
    title = str(error.get("error_user_title") or error.get("message") or response.reason_phrase or "Error")
    details = str(data.get("details") or error.get("error_user_msg") or "")
    transient = (
        response.status_code == 429
        or response.status_code >= 500
        or bool(error.get("is_transient"))
        or (code in TRANSIENT_CODES)
    )
    return GraphError(
        response.status_code, code, title[:255], details, transient, body if isinstance(body, dict) else {}
    )


@dataclass
class MediaInfo:
    url: str
    mime_type: str
    sha256: str
    file_size: int | None


@dataclass(frozen=True)
class Sent:
    """A message the Graph API accepted: its wamid, and the WhatsApp id of the customer it went to
    as Meta resolved the number (``contacts[0].wa_id``; "" when not given)."""

    wamid: str
    wa_id: str = ""


class GraphClient:
    """Calls on behalf of one WhatsApp number (its phone_number_id and access token)."""

    def __init__(self, *, phone_number_id: str, access_token: str, base_url: str | None = None) -> None:
        self.phone_number_id = phone_number_id
        self.access_token = access_token
        self.root = f"{(base_url or graph_base_url()).rstrip('/')}/{settings.WHATSAPP_GRAPH_API_VERSION}"

    def _request(self, method: str, url: str, *, json: dict[str, Any] | None = None) -> httpx.Response:
        try:
            response = http_client().request(
                method, url, json=json, headers={"Authorization": f"Bearer {self.access_token}"}
            )
        except httpx.TransportError as exc:  # timeouts, refused connections, resets
            # Only a failure to connect proves the request never left; after that, it may have.
            never_left = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
            title = f"{type(exc).__name__}: {exc}"[:255]
            raise GraphError(0, None, title, transient=True, maybe_sent=not never_left) from exc
        if response.status_code >= 400:
            raise _error_from(response)
        return response

    def _post_message(self, payload: dict[str, Any]) -> dict[str, Any]:
        body = {"messaging_product": "whatsapp", **payload}
        data = self._request("POST", f"{self.root}/{self.phone_number_id}/messages", json=body).json()
        return data if isinstance(data, dict) else {}

    def send(
        self,
        *,
        to: str,
        kind: str,
        content: dict[str, Any],
        context_wamid: str | None = None,
        callback_data: str = "",
        recipient: str = "",
    ) -> Sent:
        """Send one message; returns its wamid and the WhatsApp id Meta resolved the number to. ``kind`` is the Cloud API type (text, image, …),
        ``content`` the object under it (the ``*_content`` builders below make both).
        ``callback_data`` (``biz_opaque_callback_data``, up to 512 characters) comes back in every
        status webhook of the message, so a status can name the message before its wamid is known.
        ``recipient`` is the customer's business-scoped user id, used when ``to`` (the phone number)
        is unknown; ``context_wamid`` makes the message a reply quoting that one."""
        payload: dict[str, Any] = {"recipient_type": "individual", "type": kind, kind: content}
        if to:
            payload["to"] = to
        else:
            payload["recipient"] = recipient
        if context_wamid:
            payload["context"] = {"message_id": context_wamid}
        if callback_data:
            payload["biz_opaque_callback_data"] = callback_data[:512]
        data = self._post_message(payload)
        messages = data.get("messages")
        if not isinstance(messages, list) or not messages or not isinstance(messages[0], dict):
            raise GraphError(200, None, "The Graph API answered without a message id.", transient=False, raw=data)
        contacts = data.get("contacts")
        first = contacts[0] if isinstance(contacts, list) and contacts and isinstance(contacts[0], dict) else {}
        wa_id = str(first.get("wa_id") or "")
        return Sent(wamid=str(messages[0]["id"]), wa_id=wa_id if wa_id.isdigit() else "")

    def mark_read(self, *, wamid: str, typing: bool = False) -> None:
        """Mark an inbound message (and the ones before it) read; with ``typing`` also show the
        typing indicator, which Meta displays for up to 25 seconds or until we send a message."""
        payload: dict[str, Any] = {"status": "read", "message_id": wamid}
        if typing:
            payload["typing_indicator"] = {"type": "text"}
        self._post_message(payload)

    def message_templates_page(
        self, *, business_account_id: str, after: str = "", limit: int = TEMPLATE_PAGE_SIZE
    ) -> tuple[list[dict[str, Any]], str]:
        """One page of ``GET /{waba-id}/message_templates``: the templates and the cursor of the
        next page ("" on the last one: Meta leaves out ``paging.next`` there)."""
        params: dict[str, str | int] = {"limit": limit, "fields": TEMPLATE_FIELDS}
        if after:
            params["after"] = after
        url = f"{self.root}/{business_account_id}/message_templates?{urlencode(params)}"
        data = self._request("GET", url).json()
        if not isinstance(data, dict) or not isinstance(data.get("data"), list):
            raise GraphError(200, None, "The Graph API answered the template list without data.")
        found = data.get("paging")
        paging: dict[str, Any] = found if isinstance(found, dict) else {}
        found = paging.get("cursors")
        cursors: dict[str, Any] = found if isinstance(found, dict) else {}
        after_cursor = str(cursors.get("after") or "") if paging.get("next") else ""
        return [t for t in data["data"] if isinstance(t, dict)], after_cursor

    def media_info(self, *, media_id: str) -> MediaInfo:
        data = self._request("GET", f"{self.root}/{media_id}").json()
        if not isinstance(data, dict) or not data.get("url"):
            raise GraphError(
                200, None, "The Graph API answered without a media URL.", raw=data if isinstance(data, dict) else {}
            )
        size = data.get("file_size")
        return MediaInfo(
            url=str(data["url"]),
            mime_type=str(data.get("mime_type", "application/octet-stream")),
            sha256=str(data.get("sha256", "")),
            file_size=int(size) if isinstance(size, int | str) and str(size).isdigit() else None,
        )

    @contextmanager
    def media_stream(self, *, url: str, max_bytes: int) -> Iterator[Iterator[bytes]]:
        """The bytes behind a media URL (which needs the access token too), as chunks read from
        the network as they are consumed: a file over ``max_bytes`` (by its ``Content-Length``,
        or counted while reading) stops with a permanent ``GraphError`` without being read whole."""
        headers = {"Authorization": f"Bearer {self.access_token}"}
        try:
            with http_client().stream("GET", url, headers=headers) as response:
                if response.status_code >= 400:
                    response.read()
                    raise _error_from(response)
                declared = response.headers.get("Content-Length", "")
                if declared.isdigit() and int(declared) > max_bytes:
                    raise GraphError(200, None, f"The file is {declared} bytes, over the {max_bytes}-byte limit.")
                yield response.iter_bytes(MEDIA_CHUNK)
        except httpx.TransportError as exc:
            raise GraphError(0, None, f"{type(exc).__name__}: {exc}"[:255], transient=True) from exc

    def media_upload(self, *, handle: IO[bytes], filename: str, mime_type: str) -> str:
        """Upload a file to ``/{phone-number-id}/media`` (multipart, streamed from ``handle``);
        returns Meta's media id, good for sending for 30 days."""
        try:
            response = http_client().post(
                f"{self.root}/{self.phone_number_id}/media",
                data={"messaging_product": "whatsapp", "type": mime_type},
                files={"file": (filename or "file", handle, mime_type)},
                headers={"Authorization": f"Bearer {self.access_token}"},
            )
        except httpx.TransportError as exc:
            raise GraphError(0, None, f"{type(exc).__name__}: {exc}"[:255], transient=True) from exc
        if response.status_code >= 400:
            raise _error_from(response)
        data = response.json()
        if not isinstance(data, dict) or not data.get("id"):
            raise GraphError(200, None, "The Graph API answered the upload without a media id.")
        return str(data["id"])


MEDIA_CHUNK = 64 * 1024


# --- What a message says, as the Cloud API spells it: (type, the object under that type) --------


def text_content(text: str, *, preview_url: bool = False) -> tuple[str, dict[str, Any]]:
    return "text", {"body": text, "preview_url": preview_url}


def buttons_content(text: str, buttons: list[str]) -> tuple[str, dict[str, Any]]:
    """Text with up to three reply buttons (an interactive message); the tap comes back as a
    ``button_reply``. Content over Meta's limits raises ``InvalidInput``
    (``conversations.interactive``) instead of reaching the phone cut."""
    interactive.validate_reply_buttons(body=text, buttons=buttons)
    return "interactive", {
        "type": "button",
        "body": {"text": text},
        "action": {
            "buttons": [
                {"type": "reply", "reply": {"id": f"qr-{i}", "title": title}} for i, title in enumerate(buttons)
            ]
        },
    }


def media_content(
    kind: str, link: str = "", *, media_id: str = "", caption: str = "", filename: str = ""
) -> tuple[str, dict[str, Any]]:
    """A media message by Meta's media id (an upload) or by a public link."""
    content: dict[str, Any] = {"id": media_id} if media_id else {"link": link}
    if caption and kind in {"image", "video", "document"}:
        content["caption"] = caption
    if filename and kind == "document":
        content["filename"] = filename
    return kind, content


def template_content(
    name: str, language: str, components: list[dict[str, Any]] | None = None
) -> tuple[str, dict[str, Any]]:
    content: dict[str, Any] = {"name": name, "language": {"code": language}}
    if components:
        content["components"] = components
    return "template", content


def reaction_content(wamid: str, emoji: str) -> tuple[str, dict[str, Any]]:
    return "reaction", {"message_id": wamid, "emoji": emoji}
