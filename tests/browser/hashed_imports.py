"""Settings for collecting static files with the JavaScript imports rewritten to hashed names
(Django's ``support_js_module_import_aggregation``), as production may choose to: the test of
the modules' import graph collects with them (tests/e2e/test_browser_pages.py)."""

from whitenoise.storage import CompressedManifestStaticFilesStorage

from pytake.settings import *  # noqa: F403
from pytake.settings import STORAGES as BASE_STORAGES


class HashedImportsStorage(CompressedManifestStaticFilesStorage):
    support_js_module_import_aggregation = True


STORAGES = {**BASE_STORAGES, "staticfiles": {"BACKEND": "tests.browser.hashed_imports.HashedImportsStorage"}}
