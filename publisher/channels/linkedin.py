"""The LinkedIn channel: the versioned Posts API for an organization page, over plain httpx.

Why httpx and no SDK: LinkedIn's own Python client (``linkedin-api-client``)
is a thin, beta Rest.li wrapper that adds nothing the two calls we make need.

- Posts with ``POST /rest/posts`` as the organization (``options.organization``,
  ``urn:li:organization:NNN``), headers ``LinkedIn-Version`` (``options.version``,
  YYYYMM) and ``X-Restli-Protocol-Version: 2.0.0``; the body is an article post
  (``content.article`` with the link, title and summary) when the post has a
  link. LinkedIn answers 201 with the new post's URN in ``x-restli-id``.
- The commentary is LinkedIn's "little" text format, where ``| { } @ [ ] ( )
  < > # \\ * _ ~`` are markup: unescaped, LinkedIn cuts the text short at the
  first one (or refuses it). ``little_text`` escapes all of them, except that a
  ``#Word`` hashtag becomes LinkedIn's hashtag template ``{hashtag|\\#|Word}``
  so it stays a real hashtag.
- ``find`` reads the organization's last 50 posts (``GET /rest/posts?author=…
  &q=author``) and matches ``content.article.source`` (``canonical_link``) or
  the exact commentary.
- LinkedIn refuses a post that repeats a recent one (422 "Content is a duplicate
  of urn:li:share:…"). After an ambiguous attempt that *is* our post: it is
  returned as published with that URN; otherwise it is ``Permanent``.
- Rate limits (429) come without a reset header: ``Retry-After`` when present,
  else the next midnight UTC for LinkedIn's daily quotas ("… DAY limit …", they
  reset at midnight UTC), else an hour.
- A LinkedIn-Version that LinkedIn retired (426 NONEXISTENT_VERSION) fails
  every call of the channel until ``options.version`` is updated: it is
  ``AuthFailed``, so the channel pauses instead of failing each post.

Every httpx error is translated in ``_send`` and nowhere else.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import httpx

from publisher.channels import _http as http
from publisher.channels.base import ChannelSpec
from publisher.channels.media import canonical_link, redact
from publisher.exceptions import (
    Ambiguous,
    AuthFailed,
    ChannelError,
    ConfigError,
    Permanent,
    RateLimited,
    Transient,
)
from publisher.types import DeliveryClass, PublishRequest, PublishResult

log = logging.getLogger("publisher.channels.linkedin")

#: A LinkedIn-Version LinkedIn served when this was written; versions live about a year.
DEFAULT_VERSION = "202510"
_DEFAULT_BASE = "https://api.linkedin.com"
_ORGANIZATION = re.compile(r"^urn:li:organization:(\d+)$")
_VERSION = re.compile(r"^\d{6}(\.\d{2})?$")
_FIND_COUNT = 50
_DUPLICATE = re.compile(r"duplicate of (urn:li:(?:share|ugcPost|post):[\w-]+)", re.IGNORECASE)
_DEFAULT_RATE_WAIT = timedelta(hours=1)
_TITLE_MAX = 400  # article titles are short; LinkedIn truncates long ones anyway
_DESCRIPTION_MAX = 4000

#: Characters that are markup in LinkedIn's "little" text format.
LITTLE_RESERVED = frozenset("|{}@[]()<>#\\*_~")
# A hashtag: "#" at the start or after whitespace, then letters/digits (at least one letter).
_HASHTAG = re.compile(r"(?<!\S)#([^\W_]*[^\W\d_][^\W_]*)")


def little_text(text: str) -> str:
    """``text`` as LinkedIn's "little" format: every reserved character
    backslash-escaped, and each ``#Word`` hashtag written as the hashtag
    template ``{hashtag|\\#|Word}`` so that it stays a hashtag."""
    out: list[str] = []
    position = 0
    for match in _HASHTAG.finditer(text):
        out.append(_escape(text[position:match.start()]))
        out.append("{hashtag|\\#|" + match.group(1) + "}")
        position = match.end()
    out.append(_escape(text[position:]))
    return "".join(out)


def _escape(text: str) -> str:
    return "".join("\\" + ch if ch in LITTLE_RESERVED else ch for ch in text)


class _Duplicate(Permanent):
    """LinkedIn refused the post as a duplicate of ``urn``."""

    def __init__(self, message: str, *, urn: str | None, http_status: int | None) -> None:
        super().__init__(message, http_status=http_status)
        self.urn = urn


class LinkedInChannel:
    """Publishes to one LinkedIn organization page (see the module docstring)."""

    delivery = DeliveryClass.RECONCILABLE

    def __init__(self, spec: ChannelSpec) -> None:
        self.name = spec.name
        options = spec.options
        organization = str(options.get("organization") or "")
        match = _ORGANIZATION.match(organization)
        if not match:
            raise ConfigError([
                f"channel {spec.name!r}: options.organization is required and must look like "
                f"'urn:li:organization:12345'" + (f", not {organization!r}" if organization
                                                  else "")
            ])
        self._organization = organization
        self._organization_id = match.group(1)
        version = str(options.get("version", DEFAULT_VERSION))
        if not _VERSION.match(version):
            raise ConfigError([
                f"channel {spec.name!r}: options.version must be a LinkedIn-Version like "
                f"{DEFAULT_VERSION!r} (YYYYMM), not {version!r}"
            ])
        self._version = version
        token = spec.secrets["access_token"]
        self._secrets = tuple(str(v) for v in spec.secrets.values() if v)
        self._http = http.client(spec.timeout,
                                 base_url=(spec.base_url or _DEFAULT_BASE).rstrip("/"),
                                 headers={"Authorization": f"Bearer {token}",
                                          "LinkedIn-Version": version,
                                          "X-Restli-Protocol-Version": "2.0.0"})

    def __repr__(self) -> str:
        return f"LinkedInChannel(name={self.name!r}, organization={self._organization!r})"

    # --- the Channel protocol --------------------------------------------------

    def publish(self, request: PublishRequest) -> PublishResult:
        """Post ``request`` as the organization; see the module docstring."""
        body: dict[str, Any] = {
            "author": self._organization,
            "commentary": little_text(request.text),
            "visibility": "PUBLIC",
            "distribution": {
                "feedDistribution": "MAIN_FEED",
                "targetEntities": [],
                "thirdPartyDistributionChannels": [],
            },
            "lifecycleState": "PUBLISHED",
            "isReshareDisabledByAuthor": False,
        }
        if request.link:
            article: dict[str, Any] = {
                "source": request.link,
                "title": (request.title or request.link)[:_TITLE_MAX],
            }
            if request.summary:
                article["description"] = request.summary[:_DESCRIPTION_MAX]
            body["content"] = {"article": article}
        try:
            response = self._send("post", True, "POST", "/rest/posts", json=body)
        except _Duplicate as duplicate:
            if request.after_ambiguous and duplicate.urn:
                log.info("post=%s channel=%s duplicate refused: the earlier attempt posted %s",
                         request.post_id, self.name, duplicate.urn)
                return PublishResult(
                    duplicate.urn, _post_url(duplicate.urn), http_status=duplicate.http_status,
                    notes=("LinkedIn refused a duplicate: the earlier attempt had posted it",),
                )
            raise Permanent(str(duplicate), http_status=duplicate.http_status) from None
        urn = response.headers.get("x-restli-id") or response.headers.get("x-linkedin-id")
        if not urn:
            urn = str(_body(response).get("id") or "")
        if not urn:
            raise Ambiguous(f"LinkedIn answered {response.status_code} without the post's id",
                            http_status=response.status_code)
        return PublishResult(urn, _post_url(urn), http_status=response.status_code)

    def find(self, request: PublishRequest) -> PublishResult | None:
        """Look for ``request`` among the organization's last 50 posts."""
        # Rest.li 2.0 wants the URN percent-encoded in the query (":" too).
        query = (f"author={quote(self._organization, safe='')}&q=author"
                 f"&count={_FIND_COUNT}&sortBy=LAST_MODIFIED")
        response = self._send("look-up", False, "GET", f"/rest/posts?{query}",
                              headers={"X-RestLi-Method": "FINDER"})
        wanted_link = canonical_link(request.link) if request.link else None
        commentaries = {_normal(little_text(request.text)), _normal(request.text)}
        for post in _json(response).get("elements") or []:
            if not isinstance(post, Mapping) or not post.get("id"):
                continue
            content = post.get("content")
            article = content.get("article") if isinstance(content, Mapping) else None
            source = article.get("source") if isinstance(article, Mapping) else None
            commentary = _normal(str(post.get("commentary") or ""))
            if (wanted_link is not None and isinstance(source, str)
                    and canonical_link(source) == wanted_link) or (
                        commentary and commentary in commentaries):
                urn = str(post["id"])
                return PublishResult(urn, _post_url(urn))
        return None

    def whoami(self) -> str:
        """``Organization name (urn:li:organization:NNN)``, checked against LinkedIn now.

        Reading the organization needs ``rw_organization_admin`` (or
        ``r_organization_admin``); when the token lacks it, the token is checked
        with ``/v2/userinfo`` instead and the missing permission is named."""
        try:
            response = self._send("credential check", False, "GET",
                                  f"/rest/organizations/{self._organization_id}")
        except _Forbidden:
            return self._whoami_member()
        body = _json(response)
        name = body.get("localizedName") or body.get("vanityName") or "unnamed organization"
        return f"{name} ({self._organization})"

    def _whoami_member(self) -> str:
        needs = ("cannot read the organization (needs rw_organization_admin); posting as it "
                 "needs w_organization_social and a page role of ADMINISTRATOR or CONTENT_ADMIN")
        try:
            response = self._send("credential check", False, "GET", "/v2/userinfo")
        except _Forbidden:
            return f"token accepted, but it {needs} ({self._organization})"
        body = _json(response)
        who = body.get("name") or body.get("sub") or "an unnamed member"
        return f"{who}: the token {needs} ({self._organization})"

    def close(self) -> None:
        """Release the HTTP connections."""
        self._http.close()

    # --- the one boundary for httpx errors ---------------------------------------------

    def _send(self, what: str, write: bool, method: str, path: str,
              **kwargs: Any) -> httpx.Response:
        """Run one call; return its 2xx response or raise the taxonomy error.
        ``write``: the call may create a post (a lost answer is then Ambiguous)."""
        response = http.call(self._http, method, path, what=what, where="LinkedIn", write=write,
                             **kwargs)
        if 200 <= response.status_code < 300:
            return response
        raise self._error(what, response)

    def _error(self, what: str, response: httpx.Response) -> ChannelError:
        status = response.status_code
        detail = redact(_message(response), self._secrets)
        code = str(_body(response).get("code") or "")
        if status == 429:
            until = _rate_limit_until(response.headers, detail)
            return RateLimited(f"{what}: LinkedIn rate limit until {until:%Y-%m-%d %H:%M:%S}Z: "
                               f"{detail}", until=until, http_status=429)
        if status == 401:
            return AuthFailed(f"{what}: LinkedIn refused the access token (401): {detail}",
                              http_status=401)
        if status == 403:
            message = (f"{what}: LinkedIn refused the permission (403; posting as "
                       f"{self._organization} needs w_organization_social and a page role of "
                       f"ADMINISTRATOR or CONTENT_ADMIN): {detail}")
            if what == "credential check":
                return _Forbidden(message, http_status=403)
            return AuthFailed(message, http_status=403)
        if status == 426 or code in ("NONEXISTENT_VERSION", "VERSION_MISSING"):
            return AuthFailed(f"{what}: LinkedIn does not serve LinkedIn-Version {self._version} "
                              f"(set options.version to a current YYYYMM): {detail}",
                              http_status=status)
        if status >= 500:
            return Transient(f"{what}: LinkedIn answered {status}: {detail}", http_status=status)
        if status == 422 and ("duplicate" in detail.lower() or "DUPLICATE_POST" in detail):
            match = _DUPLICATE.search(detail)
            return _Duplicate(f"{what}: LinkedIn refused the post as a duplicate: {detail}",
                              urn=match.group(1) if match else None, http_status=422)
        return Permanent(f"{what}: LinkedIn refused it ({status}): {detail}", http_status=status)


class _Forbidden(AuthFailed):
    """A 403 to a credential check (whoami falls back to another check)."""


# --- helpers -----------------------------------------------------------------------


def _post_url(urn: str) -> str:
    return f"https://www.linkedin.com/feed/update/{urn}/"


def _normal(text: str) -> str:
    return unicodedata.normalize("NFC", text).strip()


def _body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _json(response: httpx.Response) -> dict[str, Any]:
    return http.json_object(response, where="LinkedIn", write=False)


def _message(response: httpx.Response) -> str:
    """LinkedIn's own words: ``message`` and the input errors' descriptions."""
    body = _body(response)
    parts: list[str] = []
    if body.get("message"):
        parts.append(str(body["message"]))
    details = body.get("errorDetails")
    inputs = details.get("inputErrors") if isinstance(details, Mapping) else None
    for item in inputs or []:
        if isinstance(item, Mapping):
            words = " ".join(str(item[k]) for k in ("description", "code") if item.get(k))
            if words:
                parts.append(words)
    if body.get("code") and str(body["code"]) not in " ".join(parts):
        parts.append(str(body["code"]))
    return "; ".join(parts) or (response.reason_phrase or f"HTTP {response.status_code}")


def _rate_limit_until(headers: Mapping[str, str], detail: str) -> datetime:
    now = datetime.now(UTC)
    raw = str(headers.get("retry-after") or "").strip()
    if raw:
        try:
            return now + timedelta(seconds=max(0.0, float(raw)))
        except ValueError:
            try:
                when = parsedate_to_datetime(raw)
                return when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)
            except (TypeError, ValueError):
                pass
    if re.search(r"\bDAY\b", detail):
        # Daily quotas reset at midnight UTC.
        return (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return now + _DEFAULT_RATE_WAIT
