"""Media on an S3-compatible store: a real S3 server (moto's, in a thread of this process,
listening on a loopback port of its own), django-storages' S3 backend writing to it, and files
served as a redirect to a presigned URL whose signature fixes the content type and file name.

Skipped with a reason when moto is not installed (``pip install -r requirements-dev.txt``);
with PYTAKE_REQUIRE_SERVICES=1 it fails instead."""

from __future__ import annotations

import socket
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from django.core.files.base import ContentFile

from conversations import channels, files
from conversations.models import Attachment, Channel
from tests import factories
from tests import media_samples as samples
from tests.conftest import REQUIRE_SERVICES
from tests.conversations.test_media import Sent

pytestmark = pytest.mark.django_db

BUCKET = "pytake-media-test"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def s3_endpoint():
    try:
        import boto3
        from moto.server import ThreadedMotoServer
    except ImportError as exc:  # pragma: no cover - depends on the machine
        message = f"needs an S3-compatible server: moto[server] is not installed ({exc})"
        if REQUIRE_SERVICES:
            pytest.fail("PYTAKE_REQUIRE_SERVICES=1: " + message)
        pytest.skip(message)
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1"
    ).create_bucket(Bucket=BUCKET)
    yield endpoint
    server.stop()


@pytest.fixture
def s3(settings, s3_endpoint):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": BUCKET,
                "endpoint_url": s3_endpoint,
                "access_key": "test",
                "secret_key": "test",
                "region_name": "us-east-1",
                "addressing_style": "path",
                "signature_version": "s3v4",
                "default_acl": None,
                "file_overwrite": False,
            },
        },
    }
    storage = files.media_storage()
    assert files.is_s3(storage)
    return storage


@pytest.fixture
def backend():
    previous = channels._backends.get(Channel.WHATSAPP)
    channels.register(Channel.WHATSAPP, Sent())
    yield
    if previous is not None:
        channels.register(Channel.WHATSAPP, previous)


def test_an_upload_lands_in_the_bucket_and_is_served_by_a_presigned_redirect(
    s3, api_for, supervisor, tenant, backend, settings, agent2, foreign_admin
):
    conversation = factories.ConversationFactory(tenant=tenant, assignee=supervisor)
    response = api_for(supervisor).post(
        f"/api/conversations/{conversation.pk}/messages/",
        {"file": ContentFile(samples.PDF, name="Nota fiscal.pdf"), "text": "a nota"},
        format="multipart",
    )
    assert response.status_code == 201, response.json()
    attachment = Attachment.objects.get()
    with s3.open(attachment.file.name, "rb") as handle:  # in the bucket, not on disk
        assert handle.read() == samples.PDF
    served = api_for(supervisor).get(response.json()["media"]["url"])
    assert served.status_code == 302
    location = served["Location"]
    assert location.startswith(settings.STORAGES["default"]["OPTIONS"]["endpoint_url"])
    query = parse_qs(urlparse(location).query)
    assert query["X-Amz-Expires"] == [str(settings.PYTAKE_MEDIA_LINK_SECONDS)]
    fetched = httpx.get(location)
    assert fetched.status_code == 200
    assert fetched.content == samples.PDF
    assert fetched.headers["content-type"] == "application/pdf"
    assert "Nota" in fetched.headers["content-disposition"]
    assert fetched.headers["content-disposition"].startswith("attachment")
    # The link endpoint hands out the same kind of URL; the audience rule holds before it.
    link = api_for(supervisor).get(response.json()["media"]["url"] + "link/").json()["url"]
    assert httpx.get(link).content == samples.PDF
    for outsider in (agent2, foreign_admin):
        assert api_for(outsider).get(response.json()["media"]["url"]).status_code == 404
    # Unsigned, the object is not readable: nothing in the bucket is public.
    assert httpx.get(location.split("?")[0]).status_code == 403


def test_pages_can_learn_the_origin_of_media_links(s3, s3_endpoint, client):
    assert files.link_origin() == s3_endpoint
    policy = client.get("/").headers["Content-Security-Policy"]  # the inbox's pictures and players
    assert f"img-src 'self' data: blob: {s3_endpoint};" in policy
    assert f"media-src 'self' blob: {s3_endpoint};" in policy


def test_a_spooled_download_is_written_to_the_bucket(s3, tenant):
    message = factories.MessageFactory(conversation=factories.ConversationFactory(tenant=tenant), type="image")
    attachment = Attachment(tenant=tenant, message=message, mime_type="image/png", filename="x.png")
    spooled = files.spool(iter([samples.PNG[:10], samples.PNG[10:]]), max_bytes=1024)
    files.attachment_save_file(attachment, spooled)
    attachment.save()
    assert attachment.file.name.startswith(f"media/{tenant.pk}/")
    assert attachment.file.name.endswith(".png")
    with s3.open(attachment.file.name, "rb") as handle:
        assert handle.read() == samples.PNG
