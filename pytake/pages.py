"""HTML pages. They are shells: the data comes from the REST API and /ws/ (static/pytake/)."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe


@require_safe
def inbox(request: HttpRequest) -> HttpResponse:
    """The agent inbox. Login happens in the page (JWT), so the view needs no session."""
    config = {"api": "/api/", "ws": "/ws/"}
    return render(request, "inbox/index.html", {"config": config})
