"""Client ID metadata documents: DOT's SSRF-guarded fetcher, plus our policy.

Every fetched document must satisfy the same redirect-URI and metadata-URI
policy as a dynamic registration (oauth/redirect_uris.py). For tests only,
OAUTH_CIMD_ALLOW_LOOPBACK_HTTP lets an `https://127.0.0.1:PORT/...` client
id be fetched over plain http from a local document server; it is never
read from the environment, so no deployment can turn it on by accident.
"""

from typing import Any
from urllib.parse import urlsplit

import urllib3
from django.conf import settings
from oauth2_provider.cimd import CIMDError, SafeMetadataFetcher
from oauth2_provider.settings import oauth2_settings

from oauth.redirect_uris import (
    LOOPBACK_HOSTS,
    METADATA_URI_FIELDS,
    metadata_uri_problem,
    redirect_uri_problem,
)


class PolicyMetadataFetcher(SafeMetadataFetcher):
    def fetch(self, client_id: str) -> tuple[dict[str, Any], int]:
        parts = urlsplit(client_id)
        if (
            getattr(settings, "OAUTH_CIMD_ALLOW_LOOPBACK_HTTP", False)
            and (parts.hostname or "") in LOOPBACK_HOSTS
        ):
            metadata, max_age = self._fetch_loopback(client_id)
        else:
            metadata, max_age = super().fetch(client_id)
        uris = metadata.get("redirect_uris")
        if not isinstance(uris, list) or not uris:
            raise CIMDError("client_id document has no redirect_uris")
        for uri in uris:
            problem = redirect_uri_problem(uri)
            if problem:
                raise CIMDError(f"client_id document: {problem}")
        for field in METADATA_URI_FIELDS:
            if field in metadata:
                problem = metadata_uri_problem(field, metadata[field])
                if problem:
                    raise CIMDError(f"client_id document: {problem}")
        return metadata, max_age

    def _fetch_loopback(self, client_id: str) -> tuple[dict[str, Any], int]:
        url = "http://" + client_id.removeprefix("https://")
        timeout = oauth2_settings.CIMD_FETCH_TIMEOUT_SECONDS
        http = urllib3.PoolManager(retries=False, timeout=timeout)
        try:
            response = http.request("GET", url, redirect=False, preload_content=False)
        except urllib3.exceptions.HTTPError as exc:
            raise CIMDError(f"could not fetch client_id document: {exc}") from exc
        try:
            return self._read_document(response)
        finally:
            response.release_conn()
