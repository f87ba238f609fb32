"""What a media file is and whether a channel may carry it: content sniffing and the limits.

The type of a file is decided here from its first bytes (magic numbers), never from its name or
a declared ``Content-Type`` alone: a name or a declared type that says something else is a lie
(``file_type_mismatch``), content this module does not recognise is refused
(``unsupported_file_type``). HTML, SVG and anything scriptable are never recognised, so they can
never be stored as media nor served with a type a browser would run.

A small pure check rather than libmagic (``python-magic``): the list of types PyTake carries is
short and fixed by the WhatsApp Cloud API, a pure check needs no system library in the image,
and it answers only with types on that list (libmagic would happily say ``text/html``, which we
would then have to refuse anyway).

The limits are the Cloud API's (Meta's "Supported media types"), the strictest of PyTake's
channels; web chat applies the same table, with customers limited to images and documents.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from conversations.models import MessageType
from pytake.errors import ErrorCode, InvalidInput

KB = 1024
MB = 1024 * 1024

# Bytes read from the start of a file to decide its type.
SNIFF_BYTES = 4096

IMAGE_TYPES = frozenset({"image/jpeg", "image/png"})
STICKER_TYPES = frozenset({"image/webp"})
VIDEO_TYPES = frozenset({"video/mp4", "video/3gpp"})
AUDIO_TYPES = frozenset({"audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg"})
OFFICE_TYPES = {
    ".doc": "application/msword",
    ".xls": "application/vnd.ms-excel",
    ".ppt": "application/vnd.ms-powerpoint",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
}
DOCUMENT_TYPES = frozenset({"application/pdf", "text/plain", *OFFICE_TYPES.values()})

# Meta's per-type maximum sizes (bytes).
MAX_BYTES: dict[str, int] = {
    MessageType.IMAGE: 5 * MB,
    MessageType.VIDEO: 16 * MB,
    MessageType.AUDIO: 16 * MB,
    MessageType.DOCUMENT: 100 * MB,
    MessageType.STICKER: 100 * KB,  # a static sticker
}
ANIMATED_STICKER_MAX_BYTES = 500 * KB
MEDIA_TYPES = frozenset(MAX_BYTES)

# What a file name's extension claims, to catch a lie (an HTML page named photo.jpg).
_EXTENSION_CLAIMS: dict[str, str] = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
    ".mp4": "video/mp4",
    ".3gp": "video/3gpp",
    ".aac": "audio/aac",
    ".amr": "audio/amr",
    ".mp3": "audio/mpeg",
    ".m4a": "audio/mp4",
    ".ogg": "audio/ogg",
    ".opus": "audio/ogg",
    ".pdf": "application/pdf",
    ".txt": "text/plain",
    **OFFICE_TYPES,
}
# A declared type and the sniffed one that are the same thing under two names.
_SAME = {"video/3gp": "video/3gpp", "image/jpg": "image/jpeg", "audio/mp3": "audio/mpeg", "audio/x-m4a": "audio/mp4"}


@dataclass(frozen=True)
class Sniffed:
    mime_type: str
    animated: bool = False  # an animated WebP
    opus: bool = False  # an OGG holding Opus (what WhatsApp accepts, and voice notes are)


def sniff(head: bytes, *, filename: str = "") -> Sniffed | None:
    """The type of a file from its first bytes (``SNIFF_BYTES`` of them), or None when it is not
    one PyTake carries. ``filename`` only separates formats that share a container (an Office
    file is a ZIP or an OLE compound file) and plain text, which has no magic number."""
    ext = os.path.splitext(filename.lower())[1]
    if head.startswith(b"\xff\xd8\xff"):
        return Sniffed("image/jpeg")
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return Sniffed("image/png")
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        # An extended WebP (VP8X) says in its flags whether it is animated; ANIM chunk otherwise.
        animated = (head[12:16] == b"VP8X" and bool(head[20] & 0x02)) or b"ANIM" in head[12:]
        return Sniffed("image/webp", animated=animated)
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand.startswith(b"3g"):
            return Sniffed("video/3gpp")
        if brand in (b"M4A ", b"M4B "):
            return Sniffed("audio/mp4")
        return Sniffed("video/mp4")
    if head.startswith(b"OggS"):
        return Sniffed("audio/ogg", opus=b"OpusHead" in head)
    if head.startswith(b"#!AMR"):
        return Sniffed("audio/amr")
    if head.startswith(b"ID3"):
        return Sniffed("audio/mpeg")
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        # MPEG audio frame sync: layer bits 00 are AAC in ADTS framing, the others MP3.
        return Sniffed("audio/aac" if head[1] & 0x06 == 0 else "audio/mpeg")
    if head.startswith(b"%PDF-"):
        return Sniffed("application/pdf")
    if head.startswith(b"PK\x03\x04") and ext in (".docx", ".xlsx", ".pptx"):
        return Sniffed(OFFICE_TYPES[ext])
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1") and ext in (".doc", ".xls", ".ppt"):
        return Sniffed(OFFICE_TYPES[ext])
    if ext == ".txt" and _plain_text(head):
        return Sniffed("text/plain")
    return None


def _plain_text(head: bytes) -> bool:
    """UTF-8 text with no NUL and nothing a browser would take for markup."""
    if b"\x00" in head:
        return False
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        # The sniffed window may cut a multi-byte character at its end.
        try:
            text = head[:-3].decode("utf-8")
        except UnicodeDecodeError:
            return False
    start = text.lstrip().lower()[:200]
    return not any(tag in start for tag in ("<html", "<!doctype", "<script", "<svg", "<?xml", "<body", "<head"))


def kind_for(sniffed: Sniffed) -> str:
    """The message type a checked file is sent as."""
    mime = sniffed.mime_type
    if mime in IMAGE_TYPES:
        return MessageType.IMAGE
    if mime in STICKER_TYPES:
        return MessageType.STICKER
    if mime in VIDEO_TYPES:
        return MessageType.VIDEO
    if mime in AUDIO_TYPES:
        return MessageType.AUDIO
    return MessageType.DOCUMENT


def max_bytes_for(kind: str, *, animated: bool = False) -> int:
    if kind == MessageType.STICKER and animated:
        return ANIMATED_STICKER_MAX_BYTES
    return MAX_BYTES[kind]


def _human(size: int) -> str:
    return f"{size // MB} MB" if size >= MB else f"{size // KB} KB"


@dataclass(frozen=True)
class CheckedFile:
    kind: str  # image, video, audio, document, sticker
    mime_type: str
    animated: bool
    voice: bool  # an OGG/Opus recording: shown and sent as a voice note


def check_file(
    *, head: bytes, size: int, filename: str, declared_type: str = "", kinds: frozenset[str] = MEDIA_TYPES
) -> CheckedFile:
    """Check a file before anything is stored or sent: not empty, a type PyTake carries and that
    ``kinds`` allows, not lying about itself, within Meta's limit for its kind. Raises
    ``InvalidInput`` with a ``code`` and a message that names the limit."""
    if size <= 0 or not head:
        raise InvalidInput("The file is empty.", code=ErrorCode.EMPTY_FILE)
    sniffed = sniff(head, filename=filename)
    ext = os.path.splitext(filename.lower())[1]
    claimed = _EXTENSION_CLAIMS.get(ext)
    declared = declared_type.split(";")[0].strip().lower()
    declared = _SAME.get(declared, declared)
    if sniffed is None:
        if claimed or declared.startswith(("image/", "video/", "audio/")):
            raise InvalidInput(
                f"The file's content is not the {claimed or declared} its name or type says.",
                code=ErrorCode.FILE_TYPE_MISMATCH,
                extra={"claimed": claimed or declared},
            )
        raise InvalidInput(
            "This kind of file cannot be sent: images (JPEG, PNG), stickers (WebP), videos (MP4, 3GP), "
            "audio (AAC, AMR, MP3, M4A, OGG/Opus) and documents (PDF, text, Word, Excel, PowerPoint).",
            code=ErrorCode.UNSUPPORTED_FILE_TYPE,
        )
    mime = sniffed.mime_type
    lies = (claimed is not None and claimed != mime) or (
        declared not in ("", "application/octet-stream", mime) and not _compatible(declared, mime)
    )
    if lies:
        raise InvalidInput(
            f"The file's content is {mime}, not the {claimed if claimed and claimed != mime else declared} "
            "its name or type says.",
            code=ErrorCode.FILE_TYPE_MISMATCH,
            extra={"content_type": mime},
        )
    if mime == "audio/ogg" and not sniffed.opus:
        raise InvalidInput(
            "OGG audio must be Opus (WhatsApp accepts no other OGG codec).", code=ErrorCode.UNSUPPORTED_FILE_TYPE
        )
    kind = kind_for(sniffed)
    if kind not in kinds:
        allowed = ", ".join(sorted(kinds))
        raise InvalidInput(f"A {kind} cannot be sent here (allowed: {allowed}).", code=ErrorCode.UNSUPPORTED_FILE_TYPE)
    limit = max_bytes_for(kind, animated=sniffed.animated)
    if size > limit:
        label = "an animated sticker" if kind == MessageType.STICKER and sniffed.animated else f"a {kind}"
        raise InvalidInput(
            f"The file is {_human(size)}; WhatsApp takes at most {_human(limit)} for {label}.",
            code=ErrorCode.FILE_TOO_LARGE,
            extra={"max_bytes": limit, "kind": kind, "size": size},
        )
    return CheckedFile(kind=kind, mime_type=mime, animated=sniffed.animated, voice=sniffed.opus)


def _compatible(declared: str, mime: str) -> bool:
    """A declared type from a browser that names the same content less precisely."""
    if declared in ("audio/opus", "audio/webm") and mime == "audio/ogg":
        return True
    return declared == "text/plain" and mime == "text/plain"


def content_disposition(filename: str, mime_type: str) -> str:
    """Images, audio and video are shown inline; everything else is a download. Never HTML or
    SVG: ``sniff`` knows neither."""
    from django.utils.http import content_disposition_header

    inline = mime_type.startswith(("image/", "audio/", "video/")) and mime_type != "image/svg+xml"
    return content_disposition_header(not inline, filename or "file") or "attachment"


def extension_for(mime_type: str) -> str:
    for ext, mime in _EXTENSION_CLAIMS.items():
        if mime == mime_type:
            return ext
    return ".bin"
