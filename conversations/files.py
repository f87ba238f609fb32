"""Media files in storage: writing them, and handing them to someone who may read them.

Storage is Django's (``STORAGES["default"]``): the local file system by default, any
S3-compatible store when ``PYTAKE_MEDIA_S3_BUCKET`` is set (django-storages). Nothing is public:
``MEDIA_URL`` serves nothing, and a file leaves only through ``media_response`` after the
audience rule has said yes (``conversations.access``), or through a short-lived link issued
after the same check:

- local storage: the server streams the file, or, behind nginx (``PYTAKE_MEDIA_ACCEL_PREFIX``),
  answers with ``X-Accel-Redirect`` to an internal location so that nginx streams it;
- S3: a redirect to a presigned URL that expires in ``PYTAKE_MEDIA_LINK_SECONDS``, with the
  content type and file name forced by the signature (``response-content-*``).

Every answer carries the checked ``Content-Type``, ``Content-Disposition`` with the original
name, and ``X-Content-Type-Options: nosniff``.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import IO
from urllib.parse import urlsplit

from django.conf import settings
from django.core import signing
from django.core.files import File
from django.core.files.storage import Storage, storages
from django.http import FileResponse, HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.urls import reverse
from django.utils import timezone

from conversations.media import SNIFF_BYTES, content_disposition
from conversations.models import Attachment

log = logging.getLogger(__name__)

CHUNK = 64 * 1024
_LINK_SALT = "pytake.media.link"


def media_storage() -> Storage:
    return storages["default"]


def is_s3(storage: Storage) -> bool:
    return type(storage).__module__.startswith("storages.backends.s3")


@dataclass
class Spooled:
    """A file read once into a temporary file (memory up to 1 MB, then disk), with what was
    learnt while reading it: its first bytes, size and sha256."""

    handle: IO[bytes]
    head: bytes
    size: int
    sha256: str

    def close(self) -> None:
        self.handle.close()


class TooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"larger than {limit} bytes")
        self.limit = limit


def spool(chunks: Iterable[bytes], *, max_bytes: int) -> Spooled:
    """Copy ``chunks`` into a temporary file, hashing as it goes; stops with ``TooLarge`` as soon
    as more than ``max_bytes`` came, without reading the rest. Memory stays at one chunk plus
    the spooled first megabyte, whatever the file's size."""
    handle = tempfile.SpooledTemporaryFile(max_size=1024 * 1024)  # noqa: SIM115 (returned to the caller)
    digest = hashlib.sha256()
    head = b""
    size = 0
    try:
        for chunk in chunks:
            if not chunk:
                continue
            size += len(chunk)
            if size > max_bytes:
                raise TooLarge(max_bytes)
            if len(head) < SNIFF_BYTES:
                head += chunk[: SNIFF_BYTES - len(head)]
            digest.update(chunk)
            handle.write(chunk)
    except BaseException:
        handle.close()
        raise
    handle.seek(0)
    return Spooled(handle=handle, head=head, size=size, sha256=digest.hexdigest())


def file_chunks(upload: IO[bytes]) -> Iterable[bytes]:
    while chunk := upload.read(CHUNK):
        yield chunk


def attachment_save_file(attachment: Attachment, spooled: Spooled) -> None:
    """Write the spooled bytes to storage under ``attachment.file`` (its ``upload_to`` path).
    The row itself is not saved here."""
    spooled.handle.seek(0)
    attachment.file.save("upload", File(spooled.handle), save=False)


def file_delete(name: str) -> None:
    """Best effort: a file whose row was never committed."""
    if name:
        try:
            media_storage().delete(name)
        except Exception:
            log.warning("Could not delete the orphan file %s", name, exc_info=True)


# --- serving --------------------------------------------------------------------------------------


def _headers(response: HttpResponseBase, attachment: Attachment) -> HttpResponseBase:
    response["Content-Type"] = attachment.mime_type or "application/octet-stream"
    response["Content-Disposition"] = content_disposition(attachment.filename, attachment.mime_type)
    response["X-Content-Type-Options"] = "nosniff"
    # A file is data, never a page: no script, no plugin, even if a browser guessed otherwise.
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, max-age=300"
    return response


def media_response(attachment: Attachment) -> HttpResponseBase:
    """The file's bytes (or the way to them) for a caller who may read its message."""
    storage = media_storage()
    name = attachment.file.name
    if is_s3(storage):
        url = presigned_url(attachment)
        redirect = HttpResponseRedirect(url)
        redirect["Cache-Control"] = "no-store"
        return redirect
    prefix = str(settings.PYTAKE_MEDIA_ACCEL_PREFIX).rstrip("/")
    if prefix:
        accel = HttpResponse()
        accel["X-Accel-Redirect"] = f"{prefix}/{name}"
        return _headers(accel, attachment)
    streamed = FileResponse(storage.open(name, "rb"))
    if attachment.size is not None:
        streamed["Content-Length"] = str(attachment.size)
    return _headers(streamed, attachment)


def presigned_url(attachment: Attachment) -> str:
    storage = media_storage()
    return str(
        storage.url(  # type: ignore[call-arg]  # S3Storage's url takes these
            attachment.file.name,
            parameters={
                "ResponseContentType": attachment.mime_type or "application/octet-stream",
                "ResponseContentDisposition": content_disposition(attachment.filename, attachment.mime_type),
            },
            expire=int(settings.PYTAKE_MEDIA_LINK_SECONDS),
        )
    )


def media_link(attachment: Attachment, *, absolute: str = "") -> tuple[str, datetime]:
    """A URL that serves the file without credentials for ``PYTAKE_MEDIA_LINK_SECONDS`` (for an
    ``<img src>``, which cannot send a bearer token). Issue it only to a caller who may read the
    message: whoever holds it may fetch the file until it expires."""
    seconds = int(settings.PYTAKE_MEDIA_LINK_SECONDS)
    expires = timezone.now() + timedelta(seconds=seconds)
    if is_s3(media_storage()):
        return presigned_url(attachment), expires
    token = signing.dumps({"a": attachment.pk, "f": attachment.file.name}, salt=_LINK_SALT, compress=True)
    return absolute + reverse("media-signed", args=[token]), expires


def attachment_from_link(token: str) -> Attachment | None:
    """The attachment a link names, if its signature holds and it has not expired."""
    try:
        data = signing.loads(token, salt=_LINK_SALT, max_age=int(settings.PYTAKE_MEDIA_LINK_SECONDS))
    except signing.BadSignature:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("a"), int) or not isinstance(data.get("f"), str):
        return None
    return Attachment.objects.filter(pk=data["a"], file=data["f"]).exclude(file="").first()


# --- who else may ask for a file ------------------------------------------------------------------

_customer_authentications: list[type] = []


def customer_authentication_register(authentication: type) -> None:
    """A channel whose customers hold their own token (web chat) lets them fetch the files of
    their conversation: its DRF authentication class resolves ``request.user`` to an object with
    the ``conversation_id`` the token is for. Called from the channel's ``AppConfig.ready()``."""
    if authentication not in _customer_authentications:
        _customer_authentications.append(authentication)


def customer_authentications() -> list[type]:
    return list(_customer_authentications)


def link_origin() -> str | None:
    """The origin media links point to when it is not this server's (S3: the store's presigned
    URLs), for a page's Content-Security-Policy (``img-src``, ``media-src``); None for local
    storage, whose links are same-origin. Signing a URL needs no network call."""
    storage = media_storage()
    if not is_s3(storage):
        return None
    parts = urlsplit(str(storage.url("origin-probe")))
    return f"{parts.scheme}://{parts.netloc}"
