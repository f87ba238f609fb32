"""Cursor pagination that validates what the client sends back.

DRF decodes the cursor (base64 of ``o=<offset>&r=<reverse>&p=<position>``) and hands the
position to the database as it is: a forged cursor with a position that is not a value of the
ordering field (a date that is not a date, a NUL byte PostgreSQL refuses) answered 500, and an
undecodable one 404. Here both are a 400 ``invalid_cursor``, and a ``page_size`` that is not a
whole number from 1 to ``max_page_size`` is a 400 ``invalid`` (DRF silently used the default).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Model, QuerySet
from rest_framework.exceptions import NotFound
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.request import Request

from pytake.errors import ErrorCode, InvalidInput


class StrictCursorPagination(CursorPagination):
    model: type[Model] | None = None

    def paginate_queryset(self, queryset: QuerySet[Any], request: Request, view: Any = None) -> Any:
        self.model = queryset.model
        return super().paginate_queryset(queryset, request, view)

    def get_page_size(self, request: Request) -> int:
        raw = request.query_params.get(self.page_size_query_param) if self.page_size_query_param else None
        default, largest = int(self.page_size or 1), int(self.max_page_size or self.page_size or 1)
        if raw is None:
            return default
        if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= largest:
            raise InvalidInput(
                f"{self.page_size_query_param} must be a whole number from 1 to {largest}.",
                extra={"fields": {self.page_size_query_param: ["Invalid page size."]}},
            )
        return int(raw)

    def decode_cursor(self, request: Request) -> Cursor | None:
        try:
            cursor = super().decode_cursor(request)
        except NotFound:
            raise _invalid_cursor() from None
        if cursor is None or cursor.position is None:
            return cursor
        position = str(cursor.position)
        if "\x00" in position or len(position) > 512:
            raise _invalid_cursor()
        if self.model is not None:
            field = self.model._meta.get_field(str(self.ordering[0]).lstrip("-"))
            try:
                field.to_python(position)  # type: ignore[union-attr]  # an ordering field is a concrete field
            except (ValidationError, ValueError, TypeError, OverflowError):
                raise _invalid_cursor() from None
        return cursor


def _invalid_cursor() -> InvalidInput:
    return InvalidInput("The cursor is not one this server handed out.", code=ErrorCode.INVALID_CURSOR)
