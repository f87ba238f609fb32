"""static/pytake/media.js in Chromium, with no server (the harness page): the DOM it builds for a
message's ``media`` object in each state (pending, failed with a retry, ready) and kind, its
labels in English and Portuguese, and that a picture's source is the short-lived link fetched
with the bearer token, never the authenticated URL itself."""

import base64
import json

import pytest

from tests import media_samples as samples

pytestmark = [pytest.mark.browser, pytest.mark.once]  # no server, no database: the same in both passes

PNG_DATA_URL = "data:image/png;base64," + base64.b64encode(samples.PNG).decode()


def media(**fields):
    base = {
        "url": "/api/messages/42/media/",
        "mime_type": "image/png",
        "filename": "",
        "size": 68,
        "caption": "",
        "sha256": "0" * 64,
        "status": "ready",
        "error": None,
        "voice": False,
        "animated": False,
    }
    return {**base, **fields}


@pytest.fixture
def page(harness_page):
    seen = []

    def link(route):
        seen.append(route.request.headers.get("authorization"))
        route.fulfill(
            body=json.dumps({"url": PNG_DATA_URL, "expires_at": "2099-01-01T00:00:00Z"}),
            content_type="application/json",
        )

    harness_page.route("**/api/messages/42/media/link/", link)
    harness_page.evaluate(
        "async () => { window.media = await import('/static/pytake/media.js');"
        " window.i18n = await import('/static/pytake/i18n.js'); }"
    )
    harness_page.seen = seen
    return harness_page


def render(page, value, type_, **options):
    return page.evaluate(
        """([m, type, retry]) => {
            window.retried = 0;
            const node = media.mediaNode(m, { type, getToken: () => "tok-1",
              onRetry: retry ? () => { window.retried += 1; } : undefined });
            document.body.replaceChildren(node);
            return node.outerHTML;
        }""",
        [value, type_, options.get("retry", False)],
    )


def test_a_ready_photo_loads_from_its_short_lived_link(page):
    render(page, media(caption="A caixa"), "image")
    page.wait_for_function(
        "() => { const i = document.querySelector('img.pt-media-image');"
        " return i && i.complete && i.naturalWidth === 1; }"
    )
    assert page.seen == ["Bearer tok-1"]
    assert page.eval_on_selector("figcaption", "e => e.textContent") == "A caixa"
    assert page.eval_on_selector("figure", "e => e.dataset.mediaStatus") == "ready"


def test_pending_failed_and_retry(page):
    page.evaluate("i18n.setLang('en')")
    html = render(page, media(status="pending", url=None), "image")
    assert "downloading" in html and "<img" not in html
    render(page, media(status="failed", url=None, error="Meta said no"), "video", retry=True)
    assert "Meta said no" in page.inner_text("figure")
    page.click("button.pt-media-retry")
    assert page.evaluate("window.retried") == 1
    assert page.is_disabled("button.pt-media-retry")
    # A customer's page passes no onRetry: no button.
    assert "<button" not in render(page, media(status="failed", url=None, error="x"), "image")


def test_each_kind_and_its_label_in_both_languages(page):
    page.evaluate("i18n.setLang('pt')")
    assert "Mensagem de voz" in render(
        page, media(status="pending", url=None, mime_type="audio/ogg", voice=True), "audio"
    )
    assert "Figurinha" in render(page, media(status="pending", url=None, mime_type="image/webp"), "sticker")
    page.evaluate("i18n.setLang('en')")
    assert "Voice note" in render(page, media(status="pending", url=None, mime_type="audio/ogg", voice=True), "audio")
    html = render(page, media(mime_type="application/pdf", filename="Nota fiscal.pdf", size=2_500_000), "document")
    assert "Nota fiscal.pdf" in html and "2.4 MB" in html and "pt-media-document" in html
    assert "<audio" in render(page, media(mime_type="audio/mpeg"), "audio")
    assert "<video" in render(page, media(mime_type="video/mp4"), "video")
    assert page.evaluate("media.formatSize(340 * 1024)") == "340 KB"
