"""The LinkedIn channel: the versioned Posts API for an organization page, over plain httpx.

Why httpx and no SDK: LinkedIn's own Python client (``linkedin-api-client``)
is a thin, beta Rest.li wrapper that adds nothing the calls we make need.

- Posts with ``POST /rest/posts`` as the organization (``options.organization``,
  ``urn:li:organization:NNN``), headers ``LinkedIn-Version`` (``options.api_version``,
  YYYYMM; ``options.version`` is the older name) and ``X-Restli-Protocol-Version:
  2.0.0``; LinkedIn answers 201 with the new post's URN in ``x-restli-id``.
- **An article card is built by us, not scraped.** The Posts API "does not
  support url scraping for article post creation" (LinkedIn, "Article Post
  API"): a post with a link carries ``content.article`` with ``source`` and
  ``title`` (required), ``description`` (the summary) and a ``thumbnail``: the
  article image, fitted (JPEG/PNG/GIF, under 36,152,320 pixels) and uploaded
  through the Images API (``POST /rest/images?action=initializeUpload`` with the
  organization as owner, then ``PUT`` of the bytes to the ``uploadUrl``), its
  ``urn:li:image:…`` in ``thumbnail`` and the CMS alt text in
  ``thumbnailAltText``. A picture never fails a post: it is skipped with a note.
- The commentary is LinkedIn's "little" text format, where ``| { } @ [ ] ( )
  < > # \\ * _ ~`` are markup: unescaped, LinkedIn cuts the text short at the
  first one (or refuses it). ``little_text`` escapes all of them, except that a
  ``#Word`` hashtag becomes LinkedIn's hashtag template ``{hashtag|\\#|Word}``
  so it stays a real hashtag.
- ``find`` reads the organization's last 50 posts (``GET /rest/posts?author=…
  &q=author``) and matches ``content.article.source`` (``canonical_link``) or
  the exact commentary. **Reading posts needs ``r_organization_social``**
  besides ``w_organization_social`` for posting (Posts API, Permissions):
  without it the first post in doubt is a 403 and the channel pauses, so
  ``check_warnings`` (``publisher check``) tries the read and names the
  missing permission.
- LinkedIn refuses a post that repeats a recent one (422 "Content is a duplicate
  of urn:li:share:…"). After an ambiguous attempt that *is* our post: it is
  returned as published with that URN; otherwise it is ``Permanent``.
- Rate limits (429) come without a reset header: ``Retry-After`` when present,
  else the next midnight UTC for LinkedIn's daily quotas ("… DAY limit …", they
  reset at midnight UTC), else an hour.
- **Versions are retired about a year after release** (LinkedIn, "Marketing
  API Versioning" and the "Migrations" table of sunset dates). A retired
  LinkedIn-Version is answered 426 NONEXISTENT_VERSION ("Requested version
  20240901 is not active"): every call fails until ``options.api_version`` is
  updated, so it is ``AuthFailed`` (the channel pauses instead of failing each
  post). ``check_warnings`` warns from ``SUNSET_WARNING`` (60 days) before the
  version's sunset (the published date, else the 15th of its month a year on).

- After the post (Posts API: "Delete Posts", "Retrieve Posts", "Update
  Posts"): ``delete`` is ``DELETE /rest/posts/{encoded urn}`` (204; LinkedIn
  documents it as idempotent, and a 404 is taken as already gone too);
  ``read_back`` is ``GET /rest/posts/{encoded urn}`` (the commentary read back
  from the "little" format; 404 → gone; needs ``r_organization_social`` like
  ``find``); ``edit`` is a partial update of ``commentary`` only (``POST
  /rest/posts/{encoded urn}``, ``X-RestLi-Method: PARTIAL_UPDATE``, ``{"patch":
  {"$set": {"commentary": …}}}``, 204): the article card (link, title,
  picture) cannot be changed, so a different link is a note. No ``reply``:
  LinkedIn edits the text in place, so a correction never needs a comment
  (the Comments API, ``socialActions/{urn}/comments``, is not used).

Every httpx error is translated in ``_send`` and nowhere else.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from publisher.channels import _http as http
from publisher.channels.base import ChannelSpec
from publisher.channels.images import prepared_or_note
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
from publisher.types import DeliveryClass, Image, PublishRequest, PublishResult

log = logging.getLogger("publisher.channels.linkedin")

#: A LinkedIn-Version LinkedIn serves (July 2026, retired about July 2027).
DEFAULT_VERSION = "202607"
#: Sunset dates LinkedIn published ("Migrations" page); other versions are
#: taken to be retired on the 15th of their month a year later.
KNOWN_SUNSETS = {
    "202408": date(2025, 8, 18), "202409": date(2025, 9, 15), "202410": date(2025, 10, 15),
    "202411": date(2025, 11, 17), "202510": date(2026, 10, 15), "202511": date(2026, 11, 16),
    "202601": date(2027, 1, 15), "202602": date(2027, 2, 15), "202603": date(2027, 3, 16),
}
#: ``check_warnings`` warns this long before a version's sunset.
SUNSET_WARNING = timedelta(days=60)
#: The permissions the channel needs (LinkedIn, Posts API and Organization Access Control).
SCOPES = ("w_organization_social", "r_organization_social", "rw_organization_admin")
# Images API: "total pixel count (width X height) less than 36,152,320", JPG, PNG, GIF.
_IMAGE_MAX_SIDE = 6000  # 6000 x 6000 = 36,000,000 pixels at most
_IMAGE_MAX_BYTES = 8_000_000  # our own cap: a card's thumbnail needs no more
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


_LITTLE_HASHTAG = re.compile(r"\{hashtag\|\\?[#＃]\|([^{}|\\]+)\}")
_LITTLE_MENTION = re.compile(r"@\[([^\]]*)\]\(urn:li:[a-zA-Z]+:[\w-]+\)")


def plain_text(commentary: str) -> str:
    """A "little" commentary as the text it shows: escapes undone, hashtag
    templates as ``#Word``, mentions as the name (the reverse of ``little_text``)."""
    out: list[str] = []
    i = 0
    while i < len(commentary):
        ch = commentary[i]
        if ch == "\\" and i + 1 < len(commentary):
            out.append(commentary[i + 1])
            i += 2
            continue
        match = (_LITTLE_HASHTAG.match(commentary, i) if ch == "{"
                 else _LITTLE_MENTION.match(commentary, i) if ch == "@" else None)
        if match:
            out.append(("#" if ch == "{" else "") + match.group(1))
            i = match.end()
            continue
        out.append(ch)
        i += 1
    return "".join(out)


class _Gone(Permanent):
    """LinkedIn does not know the post (any more): 404."""


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
        key = "api_version" if "api_version" in options else "version"
        version = str(options.get(key, DEFAULT_VERSION))
        if not _VERSION.match(version):
            raise ConfigError([
                f"channel {spec.name!r}: options.{key} must be a LinkedIn-Version like "
                f"{DEFAULT_VERSION!r} (YYYYMM), not {version!r}"
            ])
        self._version = version
        self._with_image = spec.flag("with_image", True)
        self._allow_private_images = spec.flag("allow_private_images", False)
        self._timeout = spec.timeout
        token = spec.secrets["access_token"]
        self._token = str(token)
        self._secrets = tuple(str(v) for v in spec.secrets.values() if v)
        self._base_url = (spec.base_url or _DEFAULT_BASE).rstrip("/")
        self._http = http.client(spec.timeout, base_url=self._base_url,
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
        notes: list[str] = []
        if request.link:
            article: dict[str, Any] = {
                "source": request.link,
                "title": (request.title or request.link)[:_TITLE_MAX],
            }
            if request.summary:
                article["description"] = request.summary[:_DESCRIPTION_MAX]
            if request.image is not None and self._with_image:
                thumbnail = self._upload(request.image, notes)
                if thumbnail is not None:
                    article["thumbnail"] = thumbnail
                    if request.image.alt:
                        article["thumbnailAltText"] = request.image.alt
            body["content"] = {"article": article}
        try:
            response = self._send("post", True, "POST", "/rest/posts", json=body)
        except _Duplicate as duplicate:
            if request.after_ambiguous and duplicate.urn:
                log.info("post=%s channel=%s duplicate refused: the earlier attempt posted %s",
                         request.post_id, self.name, duplicate.urn)
                return PublishResult(
                    duplicate.urn, _post_url(duplicate.urn), http_status=duplicate.http_status,
                    notes=(*notes,
                           "LinkedIn refused a duplicate: the earlier attempt had posted it"),
                )
            raise Permanent(str(duplicate), http_status=duplicate.http_status) from None
        urn = response.headers.get("x-restli-id") or response.headers.get("x-linkedin-id")
        if not urn:
            urn = str(_body(response).get("id") or "")
        if not urn:
            raise Ambiguous(f"LinkedIn answered {response.status_code} without the post's id",
                            http_status=response.status_code)
        return PublishResult(urn, _post_url(urn), http_status=response.status_code,
                             notes=tuple(notes))

    def find(self, request: PublishRequest) -> PublishResult | None:
        """Look for ``request`` among the organization's last 50 posts."""
        # Rest.li 2.0 wants the URN percent-encoded in the query (":" too).
        response = self._read_posts("look-up", _FIND_COUNT)
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

    def delete(self, remote_id: str) -> None:
        """Delete the post ``remote_id`` (its URN); a post already gone returns
        normally. A lost answer is ``Ambiguous`` (settle it with ``read_back``)."""
        try:
            self._send("delete", True, "DELETE", _entity(remote_id),
                       headers={"X-RestLi-Method": "DELETE"})
        except _Gone:
            log.info("channel=%s post %s was already gone", self.name, remote_id)

    def read_back(self, remote_id: str) -> str | None:
        """The post's commentary as plain text (LinkedIn's "little" markup read
        back), or None when LinkedIn no longer has it."""
        try:
            response = self._send("read back", False, "GET", _entity(remote_id))
        except _Gone:
            return None
        body = _json(response)
        if str(body.get("lifecycleState") or "").upper() == "DELETED":
            return None
        return plain_text(str(body.get("commentary") or ""))

    def edit(self, remote_id: str, request: PublishRequest) -> PublishResult:
        """Replace the post's commentary with ``request.text`` in place."""
        notes: list[str] = []
        if request.link:
            notes.append("LinkedIn keeps the post's article card: only the text was changed")
        try:
            response = self._send(
                "edit", True, "POST", _entity(remote_id),
                headers={"X-RestLi-Method": "PARTIAL_UPDATE"},
                json={"patch": {"$set": {"commentary": little_text(request.text)}}})
        except _Gone:
            raise Permanent(f"edit: LinkedIn no longer has post {remote_id}",
                            http_status=404) from None
        return PublishResult(remote_id, _post_url(remote_id), http_status=response.status_code,
                             notes=tuple(notes))

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

    def check_warnings(self, today: date | None = None) -> list[str]:
        """What ``publisher check`` should say though the channel can post: a
        LinkedIn-Version near or past its sunset, and a token that cannot read
        the page's posts back (``r_organization_social``)."""
        lines = []
        warning = version_warning(self._version, today or datetime.now(UTC).date())
        if warning:
            lines.append(warning)
        try:
            self._read_posts("permission check", 1)
        except _Forbidden:
            lines.append(
                f"the token cannot read {self._organization}'s posts back (needs "
                "r_organization_social): a post in doubt would pause the channel instead "
                "of being looked up; grant w_organization_social, r_organization_social "
                "and rw_organization_admin")
        except ChannelError as exc:
            lines.append(f"could not check that the token may read the page's posts: {exc}")
        return lines

    def close(self) -> None:
        """Release the HTTP connections."""
        self._http.close()

    # --- steps -------------------------------------------------------------------

    def _read_posts(self, what: str, count: int) -> httpx.Response:
        # Rest.li 2.0 wants the URN percent-encoded in the query (":" too).
        query = (f"author={quote(self._organization, safe='')}&q=author"
                 f"&count={count}&sortBy=LAST_MODIFIED")
        return self._send(what, False, "GET", f"/rest/posts?{query}",
                          headers={"X-RestLi-Method": "FINDER"})

    def _upload(self, image: Image, notes: list[str]) -> str | None:
        """The ``urn:li:image:…`` of the article image uploaded through the Images
        API, or None with a note. Raises only what says the account cannot post
        now (AuthFailed, RateLimited)."""
        picture = prepared_or_note(image.url, notes, allow_private=self._allow_private_images,
                                   timeout=self._timeout, max_bytes=_IMAGE_MAX_BYTES,
                                   max_side=_IMAGE_MAX_SIDE)
        if picture is None:
            return None
        try:
            response = self._send(
                "image upload", False, "POST", "/rest/images?action=initializeUpload",
                json={"initializeUploadRequest": {"owner": self._organization}})
            value = _json(response).get("value")
            upload_url = value.get("uploadUrl") if isinstance(value, Mapping) else None
            urn = value.get("image") if isinstance(value, Mapping) else None
            if not isinstance(upload_url, str) or not isinstance(urn, str) or not urn:
                notes.append("image skipped: LinkedIn's initializeUpload answer had no "
                             "uploadUrl or image")
                return None
            headers = {"Content-Type": picture.content_type}
            if not self._trusted(upload_url):
                notes.append("image skipped: LinkedIn's uploadUrl is not on a LinkedIn host")
                return None
            self._send("image upload", False, "PUT", upload_url, content=picture.data,
                       headers=headers)
        except (AuthFailed, RateLimited):
            raise
        except ChannelError as exc:
            notes.append(f"image skipped: upload failed ({exc})")
            return None
        return urn

    def _trusted(self, url: str) -> bool:
        """The bearer token goes only to LinkedIn (or to the configured base URL's host)."""
        host = (urlsplit(url).hostname or "").lower()
        return (host == "linkedin.com" or host.endswith(".linkedin.com")
                or host == (urlsplit(self._base_url).hostname or "").lower())

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
        if status == 404 and what in ("delete", "read back", "edit"):
            return _Gone(f"{what}: LinkedIn has no such post: {detail}", http_status=404)
        if status == 403:
            if what in ("look-up", "permission check", "read back"):
                needs = (f"reading {self._organization}'s posts needs r_organization_social "
                         "and a page role of ADMINISTRATOR, CONTENT_ADMIN or "
                         "DIRECT_SPONSORED_CONTENT_POSTER")
            else:
                needs = (f"posting as {self._organization} needs w_organization_social and a "
                         "page role of ADMINISTRATOR or CONTENT_ADMIN")
            message = f"{what}: LinkedIn refused the permission (403; {needs}): {detail}"
            if what in ("credential check", "permission check"):
                return _Forbidden(message, http_status=403)
            return AuthFailed(message, http_status=403)
        if status == 426 or code in ("NONEXISTENT_VERSION", "VERSION_MISSING"):
            return AuthFailed(f"{what}: LinkedIn does not serve LinkedIn-Version {self._version} "
                              f"any more (set options.api_version to a current YYYYMM, e.g. "
                              f"{DEFAULT_VERSION}): {detail}", http_status=status)
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


def version_sunset(version: str) -> date:
    """When LinkedIn retires ``version`` (YYYYMM[.NN]): its published sunset date,
    else the 15th of its month a year later."""
    month = version[:6]
    if month in KNOWN_SUNSETS:
        return KNOWN_SUNSETS[month]
    return date(int(month[:4]) + 1, int(month[4:6]), 15)


def version_warning(version: str, today: date) -> str | None:
    """A line for ``publisher check`` when ``version`` is within ``SUNSET_WARNING``
    of its sunset or past it, else None. Pure: a function of the version and the day."""
    sunset = version_sunset(version)
    left = sunset - today
    if left <= timedelta(0):
        return (f"LinkedIn-Version {version} was retired on {sunset:%Y-%m-%d}: LinkedIn "
                f"refuses every call; set options.api_version to a current version "
                f"(e.g. {DEFAULT_VERSION})")
    if left <= SUNSET_WARNING:
        return (f"LinkedIn-Version {version} is retired on {sunset:%Y-%m-%d}, in "
                f"{left.days} days: set options.api_version to a newer version")
    return None


def _entity(urn: str) -> str:
    """The path of one post: Rest.li wants the URN percent-encoded (":" too)."""
    return f"/rest/posts/{quote(urn, safe='')}"


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
