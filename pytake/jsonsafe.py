"""JSON from clients, with its nesting bounded.

``json.loads`` recurses once per level of nesting: ``"[" * 50000`` raised ``RecursionError``,
which no handler expected (500 from the API and the webhook, 1011 from the socket). Every JSON a
client sends is read through ``loads`` here (the DRF parser, Meta's webhook, the socket's
frames): past ``MAX_DEPTH`` levels it raises ``JSONTooDeep``, a ``ValueError`` like any other
malformed JSON, before the parser recurses at all.
"""

from __future__ import annotations

import json
import re
from typing import Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser as BaseJSONParser
from rest_framework.utils.json import strict_constant

# Far above anything the product sends or receives (a Meta webhook nests about 8 deep).
MAX_DEPTH = 64
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(rb"[\[\]{}]")


class JSONTooDeep(ValueError):
    pass


def too_deep(data: bytes | str, max_depth: int = MAX_DEPTH) -> bool:
    """Whether ``data`` nests arrays and objects more than ``max_depth`` deep (brackets inside
    strings do not count). Linear, without recursion; only the brackets are looked at."""
    raw = data.encode() if isinstance(data, str) else data
    if raw.count(b"[") + raw.count(b"{") <= max_depth:
        return False  # the common case: not even that many brackets
    depth = 0
    for bracket in _BRACKETS.findall(_STRING.sub(b"", raw)):
        if bracket in (b"[", b"{"):
            depth += 1
            if depth > max_depth:
                return True
        else:
            depth -= 1
    return False


def loads(data: bytes | str, max_depth: int = MAX_DEPTH, **options: Any) -> Any:
    """``json.loads(data, **options)``, refusing (``JSONTooDeep``) what nests more than
    ``max_depth`` deep."""
    if too_deep(data, max_depth):
        raise JSONTooDeep(f"JSON nested more than {max_depth} levels deep.")
    return json.loads(data, **options)


class JSONParser(BaseJSONParser):
    """DRF's JSON parser through ``loads``: too deep is a 400 ``parse_error`` like bad JSON."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = (stream.read() if stream is not None else b"").decode(encoding)
            return loads(text, parse_constant=strict_constant if self.strict else None)
        except JSONTooDeep as exc:
            raise ParseError(str(exc)) from None
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
