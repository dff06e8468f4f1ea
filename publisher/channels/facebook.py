"""The Facebook Page channel: facebook-sdk 3.1.0's ``GraphAPI`` with a Page access token.

- ``post_as = "feed"`` (default): ``POST /{page-id}/feed`` with ``message`` and
  ``link``; Facebook builds the link card itself. ``post_as = "photos"``:
  ``POST /{page-id}/photos`` with the image's ``url``, the text as ``caption``
  (the link appended when the text lacks it) and the alt text; when Facebook
  cannot fetch the picture, the post goes to the feed instead, with a note.
- ``find`` reads ``/{page-id}/published_posts`` (``/feed`` when that edge is
  refused) and matches the article's link in the attachments or the message,
  or the exact message. (The ``link`` field of Page posts was removed in Graph
  v3.3; asking for it is an error, so attachments' ``unshimmed_url`` is read.)
- facebook-sdk hides the HTTP status and headers. The adapter passes its own
  ``requests.Session`` with a response hook that keeps the last status and the
  usage headers (``X-Business-Use-Case-Usage`` says when access comes back).
- ``check_warnings`` (``publisher check``) warns when Facebook answered the
  check with another Graph version than ``options.graph_version``: a call to
  a version no longer usable is served by the oldest usable one, named in the
  ``facebook-api-version`` header (Platform Versioning).
- After the post (issue 13; Pages API "Posts", Object Comments): ``delete``
  is ``DELETE /{post-id}`` (``{"success": true}``; the unknown-object error,
  code 100 subcode 33, is a post already gone: done); ``read_back`` is
  ``GET /{post-id}?fields=message`` (None when gone); ``edit`` is
  ``POST /{post-id}`` with the new ``message`` (the text only: Facebook keeps
  the link attachment as it was); ``reply`` is a comment as the Page,
  ``POST /{post-id}/comments`` (needs ``pages_manage_engagement``), and
  ``find_reply`` settles one in doubt from the post's comments (the Page's
  own with the same text; ``find`` would take the post for its note).
  Facebook sets no age limit on deleting or editing a Page's posts.
- ``base_url`` and the timeout take effect through a transport adapter on that
  session (the SDK builds ``https://graph.facebook.com/...`` from a module
  constant, which is left alone).

Every facebook-sdk and requests error is translated in ``_call`` and nowhere else.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import threading
import warnings
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from publisher.channels.base import ChannelSpec
from publisher.channels.media import RoutingAdapter, canonical_link, map_requests_error, redact
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

with warnings.catch_warnings():
    # facebook-sdk 3.1.0 has an invalid escape sequence ("\d" in a plain string),
    # which Python reports whenever it compiles the module without a cached .pyc.
    warnings.simplefilter("ignore", DeprecationWarning)
    warnings.simplefilter("ignore", SyntaxWarning)
    import facebook

log = logging.getLogger("publisher.channels.facebook")

DEFAULT_GRAPH_VERSION = "v23.0"
_GRAPH_HOSTS = ("graph.facebook.com",)
_VERSION = re.compile(r"^v?(\d{1,2}\.\d{1,2})$")
_POST_AS = ("feed", "photos")
_FIND_FIELDS = "id,permalink_url,message,created_time,attachments{unshimmed_url,url}"
_FIND_LIMIT = 50
_URL_IN_TEXT = re.compile(r"https?://\S+")

# Graph "Handling Errors": 4, 17, 32, 613 and 341 ("Application limit reached")
# are throttling; 368 is a policy block; 80001-80014 are business use case limits.
_RATE_LIMIT_CODES = frozenset({4, 17, 32, 341, 613, 368}) | frozenset(range(80001, 80015))
_LONG_WAIT_CODES = frozenset({4, 17, 32, 613})  # app/user/page call limits: about an hour
_BLOCKED_CODE = 368  # "temporarily blocked for policy violations": a day
# 3: the app lacks a capability; 10, 200-299: a permission is missing; 102, 190: the token.
_AUTH_CODES = frozenset({3, 102, 190, 10}) | frozenset(range(200, 300))
#: A code-100 answer that names a missing permission (a read without
#: pages_read_engagement is answered so): a person must grant it.
_MISSING_PERMISSION = re.compile(r"requires the '\w+' permission|missing permission or reviewable")
_DUPLICATE_CODE = 506
_TRANSIENT_CODES = frozenset({1, 2})
_IMAGE_REJECTED_CODE = 324  # "Missing or invalid image file"


_UNKNOWN_OBJECT_SUBCODE = 33  # with code 100: the object does not exist (or not for this token)
_COMMENT_LOOKBACK = 100


class _SecretFilter(logging.Filter):
    """Scrubs the token from urllib3's request lines: facebook-sdk sends it in
    the query string of every GET and DELETE, and urllib3 logs the whole path
    at DEBUG."""

    def __init__(self, secrets: tuple[str, ...]) -> None:
        super().__init__()
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(str(record.msg), self.secrets)
        if record.args:
            args = record.args if isinstance(record.args, tuple) else (record.args,)
            record.args = tuple(redact(str(a), self.secrets)
                                if any(s in str(a) for s in self.secrets) else a for a in args)
        return True


class _UnknownObject(Permanent):
    """Graph answered that the object does not exist (code 100, subcode 33)."""


class _Duplicate(Permanent):
    """Facebook refused the post as a duplicate status message."""


class _ImageRejected(Permanent):
    """Facebook could not fetch or use the picture of a photo post."""


class FacebookChannel:
    """Publishes to one Facebook Page (see the module docstring)."""

    delivery = DeliveryClass.RECONCILABLE

    def __init__(self, spec: ChannelSpec) -> None:
        self.name = spec.name
        options = spec.options
        page_id = options.get("page_id")
        if page_id in (None, ""):
            raise ConfigError([f"channel {spec.name!r}: options.page_id is required"])
        self._page_id = str(page_id)
        version = str(options.get("graph_version", DEFAULT_GRAPH_VERSION))
        match = _VERSION.match(version)
        if not match:
            raise ConfigError([
                f"channel {spec.name!r}: options.graph_version must look like "
                f"{DEFAULT_GRAPH_VERSION!r}, not {version!r}"
            ])
        self._version = f"v{match.group(1)}"
        self._post_as = str(options.get("post_as", "feed"))
        if self._post_as not in _POST_AS:
            raise ConfigError([
                f"channel {spec.name!r}: options.post_as must be one of {', '.join(_POST_AS)}"
            ])
        token = spec.secrets["page_token"]
        self._secrets = tuple(str(v) for v in spec.secrets.values() if v)

        self._log_filter = _SecretFilter(self._secrets)
        logging.getLogger("urllib3.connectionpool").addFilter(self._log_filter)
        self._session = requests.Session()
        adapter = RoutingAdapter(timeout=spec.timeout, base_url=spec.base_url, hosts=_GRAPH_HOSTS)
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)
        self._last = threading.local()  # the last response this thread saw (status, headers)
        self._version_lock = threading.Lock()
        self._served_version: str | None = None  # facebook-api-version of the last check
        self._session.hooks["response"].append(self._remember)
        self._graph = facebook.GraphAPI(
            access_token=token, timeout=spec.timeout, version="3.1", session=self._session
        )
        # facebook-sdk 3.1.0 only accepts versions up to 3.1 in its constructor, but
        # it uses ``version`` for nothing else than formatting it into request paths
        # ("{version}/{id}"), so setting a current one afterwards is safe.
        self._graph.version = self._version

    def __repr__(self) -> str:
        return f"FacebookChannel(name={self.name!r}, page_id={self._page_id!r})"

    # --- the Channel protocol --------------------------------------------------

    def publish(self, request: PublishRequest) -> PublishResult:
        """Post ``request`` to the Page; see the module docstring."""
        notes: list[str] = []
        try:
            if self._post_as == "photos" and request.image is not None:
                try:
                    return self._publish_photo(request)
                except _ImageRejected as exc:
                    notes.append(f"image skipped: {exc}")
            return self._publish_feed(request, notes)
        except _Duplicate:
            if request.after_ambiguous:
                found = self.find(request)
                if found is not None:
                    log.info("post=%s channel=%s duplicate refused: found the earlier post %s",
                             request.post_id, self.name, found.remote_id)
                    return PublishResult(
                        found.remote_id, found.remote_url, http_status=self._status(),
                        notes=(*notes,
                               "Facebook refused a duplicate: the earlier attempt had posted it"),
                    )
            raise Permanent("Facebook refused the post as a duplicate",
                            http_status=self._status()) from None

    def find(self, request: PublishRequest) -> PublishResult | None:
        """Look for ``request`` among the Page's last 50 posts."""
        posts: list[Mapping[str, Any]] | None = None
        for edge in ("published_posts", "feed"):
            path = f"{self._version}/{self._page_id}/{edge}"
            args = {"fields": _FIND_FIELDS, "limit": str(_FIND_LIMIT)}
            try:
                answer = self._call("look-up", False,
                                    functools.partial(self._graph.request, path, args=args))
            except Permanent:
                if edge == "feed":
                    raise
                continue  # e.g. the edge is not available to this token: try /feed
            posts = [p for p in answer.get("data") or [] if isinstance(p, Mapping)]
            break
        wanted_link = canonical_link(request.link) if request.link else None
        messages = {request.text.strip(), self._caption(request).strip()}
        for post in posts or []:
            message = str(post.get("message") or "").strip()
            if (wanted_link is not None and wanted_link in _post_links(post)) or (
                message and message in messages
            ):
                post_id = str(post["id"])
                url = post.get("permalink_url") or f"https://www.facebook.com/{post_id}"
                return PublishResult(post_id, str(url))
        return None

    def whoami(self) -> str:
        """``Page name (page 1234)``: the token must be this Page's token."""
        me = self._call("credential check", False,
                        lambda: self._graph.get_object("me", fields="id,name"))
        me_id, name = str(me.get("id") or ""), str(me.get("name") or "")
        if me_id != self._page_id:
            raise AuthFailed(
                f"the token is not a Page token for page {self._page_id}: it belongs to "
                f"{name or 'an unnamed account'} (id {me_id or '?'})"
            )
        served = str((getattr(self._last, "headers", {}) or {}).get("facebook-api-version")
                     or "")
        with self._version_lock:
            self._served_version = served or None
        return f"{name} (page {me_id})"

    def check_warnings(self) -> list[str]:
        """After ``whoami``: a warning when Facebook answered with another Graph
        version than the configured one (Platform Versioning: a call to a
        version no longer usable is served by the oldest usable one)."""
        with self._version_lock:
            served = self._served_version
        if not served or _VERSION.match(served) is None:
            return []
        if served.lstrip("v") == self._version.lstrip("v"):
            return []
        return [f"Graph API {self._version} is no longer available: Facebook answered as "
                f"{served}; set options.graph_version to \"{served}\" or newer "
                f"(the default is {DEFAULT_GRAPH_VERSION})"]

    def close(self) -> None:
        """Release the HTTP connections (and the log filter)."""
        logging.getLogger("urllib3.connectionpool").removeFilter(self._log_filter)
        self._session.close()

    # --- after the post ------------------------------------------------------------

    def delete(self, remote_id: str) -> None:
        """Delete the Page post ``remote_id`` (``DELETE /{post-id}``).  A post
        already gone (code 100, subcode 33) is done.  A lost answer is
        Ambiguous; ``read_back`` settles it."""
        try:
            answer = self._call("delete", True, lambda: self._graph.request(
                f"{self._version}/{remote_id}", method="DELETE"))
        except _UnknownObject:
            log.info("channel=%s post %s was already gone", self.name, remote_id)
            return
        if answer.get("success") is not True:
            raise Ambiguous(f"delete: Facebook answered {self._status() or '?'} without success",
                            http_status=self._status())

    def read_back(self, remote_id: str) -> str | None:
        """The post's message as Facebook shows it (``GET /{post-id}?fields=
        message``; "" for a post without one), or None when it is gone."""
        try:
            answer = self._call("read back", False, lambda: self._graph.request(
                f"{self._version}/{remote_id}", args={"fields": "id,message"}))
        except _UnknownObject:
            return None
        if not answer.get("id"):
            raise Transient(f"read back: Facebook's answer for post {remote_id} had no id",
                            http_status=self._status())
        return str(answer.get("message") or "")

    def edit(self, remote_id: str, request: PublishRequest) -> PublishResult:
        """Replace the message of ``remote_id`` (``POST /{post-id}``).  Only the
        text changes: Facebook keeps the post's link attachment (and photo).
        The edit sets the text, so sending it twice is harmless; a lost answer
        is Ambiguous (``read_back`` tells).  A post that is gone is Permanent."""
        # A photo post has no link card: its caption carries the link (as published).
        photo = self._post_as == "photos" and request.image is not None
        message = self._caption(request) if photo else request.text
        answer = self._call("edit", True, lambda: self._graph.request(
            f"{self._version}/{remote_id}", post_args={"message": message}))
        if answer.get("success") is not True:
            raise Ambiguous(f"edit: Facebook answered {self._status() or '?'} without success",
                            http_status=self._status())
        page, _, number = remote_id.partition("_")
        url = (f"https://www.facebook.com/{page}/posts/{number}" if number
               else f"https://www.facebook.com/{remote_id}")
        return PublishResult(remote_id, url, http_status=self._status())

    def reply(self, remote_id: str, request: PublishRequest) -> PublishResult:
        """Comment ``request`` on the post as the Page (``POST /{post-id}/
        comments``; ``pages_manage_engagement``).  Facebook takes no key: a
        comment in doubt is settled by ``find_reply``."""
        answer = self._call("comment", True, lambda: self._graph.request(
            f"{self._version}/{remote_id}/comments", post_args={"message": request.text}))
        comment_id = answer.get("id")
        if not comment_id:
            raise Ambiguous("comment: Facebook answered without a comment id",
                            http_status=self._status())
        return PublishResult(str(comment_id), _comment_url(remote_id, str(comment_id)),
                             http_status=self._status())

    def find_reply(self, remote_id: str, request: PublishRequest) -> PublishResult | None:
        """The comment ``request`` made on ``remote_id`` (a note in doubt): the
        Page's own comment with the same text among the post's last 100.
        Not ``find``: a note carrying the article's link would match the post."""
        answer = self._call("look-up", False, lambda: self._graph.request(
            f"{self._version}/{remote_id}/comments",
            args={"fields": "id,message,from", "order": "reverse_chronological",
                  "filter": "stream", "limit": str(_COMMENT_LOOKBACK)}))
        wanted = " ".join(request.text.split())
        for comment in answer.get("data") or []:
            if not isinstance(comment, Mapping):
                continue
            author = comment.get("from")
            author_id = str(author.get("id") or "") if isinstance(author, Mapping) else ""
            if author_id and author_id != self._page_id:
                continue
            if " ".join(str(comment.get("message") or "").split()) == wanted:
                comment_id = str(comment["id"])
                return PublishResult(comment_id, _comment_url(remote_id, comment_id))
        return None

    # --- posting -----------------------------------------------------------------

    def _publish_feed(self, request: PublishRequest, notes: list[str]) -> PublishResult:
        args = {"message": request.text}
        if request.link:
            args["link"] = request.link
        answer = self._call(
            "post", True,
            lambda: self._graph.request(f"{self._version}/{self._page_id}/feed",
                                        post_args=args),
        )
        return self._result(answer, "id", notes)

    def _publish_photo(self, request: PublishRequest) -> PublishResult:
        assert request.image is not None
        args = {"url": request.image.url, "caption": self._caption(request)}
        if request.image.alt:
            args["alt_text_custom"] = request.image.alt
        answer = self._call(
            "photo post", True,
            lambda: self._graph.request(f"{self._version}/{self._page_id}/photos",
                                        post_args=args),
        )
        return self._result(answer, "post_id", [])

    def _result(self, answer: Mapping[str, Any], key: str, notes: list[str]) -> PublishResult:
        post_id = answer.get(key) or answer.get("id")
        if not post_id:
            raise Ambiguous("Facebook answered without a post id", http_status=self._status())
        permalink = answer.get("permalink_url") or f"https://www.facebook.com/{post_id}"
        return PublishResult(str(post_id), str(permalink), http_status=self._status(),
                             notes=tuple(notes))

    @staticmethod
    def _caption(request: PublishRequest) -> str:
        """A photo post has no link card: the link goes into the caption."""
        if request.link and request.link not in request.text:
            return f"{request.text}\n\n{request.link}"
        return request.text

    # --- the one boundary for facebook-sdk and requests errors ------------------------

    def _remember(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self._last.status = response.status_code
        self._last.headers = response.headers

    def _status(self) -> int | None:
        return getattr(self._last, "status", None)

    def _call(self, what: str, write: bool, call: Callable[[], Any]) -> dict[str, Any]:
        """Run one Graph call; return its JSON object or raise the taxonomy error.
        ``write``: the call may create a post (a lost answer is then Ambiguous)."""
        self._last.status = None
        self._last.headers = {}
        try:
            answer = call()
        except facebook.GraphAPIError as exc:
            raise self._error(what, write, exc) from None
        except (requests.JSONDecodeError, ValueError, KeyError):
            # facebook-sdk reads the body by its content type and stumbles on
            # anything else: a proxy's HTML page, an empty 502, a bad JSON.
            raise self._unreadable(what, write) from None
        except requests.RequestException as exc:
            # ``from None``: requests' messages carry the URL, and a GET's URL
            # carries the access token.
            raise map_requests_error(exc, write=write, what=f"{what} to Facebook") from None
        if not isinstance(answer, dict):
            raise self._unreadable(what, write)
        return answer

    def _unreadable(self, what: str, write: bool) -> ChannelError:
        status = self._status()
        if status is not None and status >= 400:
            return Transient(f"{what}: Facebook answered {status} with a body that is not JSON",
                             http_status=status)
        # A 2xx we could not read: a write may have gone through.
        error = Ambiguous if write else Transient
        return error(f"{what}: Facebook answered {status or '?'} with a body we cannot read",
                     http_status=status)

    def _error(self, what: str, write: bool, exc: facebook.GraphAPIError) -> ChannelError:
        status = self._status()
        error = exc.result.get("error") if isinstance(exc.result, dict) else None
        if not isinstance(error, dict):
            return self._unreadable(what, write)
        code = _int(error.get("code"))
        subcode = _int(error.get("error_subcode"))
        text = redact(_describe(error, code, subcode), self._secrets)
        if code in _RATE_LIMIT_CODES:
            until = self._regain_at(code)
            return RateLimited(f"{what}: Facebook rate limit until {until:%Y-%m-%d %H:%M:%S}Z: "
                               f"{text}", until=until, http_status=status)
        if code in _AUTH_CODES:
            return AuthFailed(f"{what}: Facebook refused the token: {text}", http_status=status)
        if code == 100 and _MISSING_PERMISSION.search(str(error.get("message") or "")):
            return AuthFailed(f"{what}: the Page token lacks a permission: {text}",
                              http_status=status)
        if code == 100 and subcode == _UNKNOWN_OBJECT_SUBCODE:
            return _UnknownObject(f"{what}: Facebook has no such object: {text}",
                                  http_status=status)
        if code == _DUPLICATE_CODE:
            return _Duplicate(f"{what}: {text}", http_status=status)
        if code in _TRANSIENT_CODES or error.get("is_transient") is True:
            return Transient(f"{what}: Facebook says try again: {text}", http_status=status)
        if code == _IMAGE_REJECTED_CODE or (
            what == "photo post" and code == 100 and "url" in str(error.get("message")).lower()
        ):
            return _ImageRejected(f"Facebook could not use the image: {text}",
                                  http_status=status)
        if status is not None and status >= 500:
            return Transient(f"{what}: Facebook answered {status}: {text}", http_status=status)
        return Permanent(f"{what}: Facebook refused it: {text}", http_status=status)

    def _regain_at(self, code: int | None) -> datetime:
        """When access comes back: ``estimated_time_to_regain_access`` (minutes)
        from X-Business-Use-Case-Usage when Facebook gave one, else a default."""
        now = datetime.now(UTC)
        headers = getattr(self._last, "headers", {}) or {}
        minutes = _regain_minutes(headers.get("x-business-use-case-usage"))
        if minutes:
            return now + timedelta(minutes=minutes)
        if code in _LONG_WAIT_CODES:
            return now + timedelta(hours=1)
        if code == _BLOCKED_CODE:
            return now + timedelta(hours=24)
        return now + timedelta(minutes=15)


# --- helpers -----------------------------------------------------------------------


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _describe(error: Mapping[str, Any], code: int | None, subcode: int | None) -> str:
    message = str(error.get("message") or "no message")
    detail = f"code {code}" + (f"/{subcode}" if subcode else "")
    if error.get("fbtrace_id"):
        detail += f", fbtrace_id {error['fbtrace_id']}"
    return f"{message} ({detail})"


def _regain_minutes(raw: str | None) -> float | None:
    """The largest ``estimated_time_to_regain_access`` in X-Business-Use-Case-Usage::

        {"<id>": [{"type": "pages", "call_count": 100, …,
                   "estimated_time_to_regain_access": 12}]}
    """
    if not raw:
        return None
    try:
        usage = json.loads(raw)
    except ValueError:
        return None
    best: float | None = None
    entries = usage.values() if isinstance(usage, dict) else []
    for items in entries:
        for item in items if isinstance(items, list) else [items]:
            if not isinstance(item, dict):
                continue
            try:
                minutes = float(item.get("estimated_time_to_regain_access") or 0)
            except (TypeError, ValueError):
                continue
            if minutes > 0 and (best is None or minutes > best):
                best = minutes
    return best


def _post_links(post: Mapping[str, Any]) -> set[str]:
    """Every link a Page post carries, canonical: attachments (unshimmed, or
    the target of Facebook's l.facebook.com shim) and links in the message."""
    found: list[str] = []
    attachments = post.get("attachments")
    items = attachments.get("data") if isinstance(attachments, Mapping) else None
    for item in items or []:
        if not isinstance(item, Mapping):
            continue
        for key in ("unshimmed_url", "url"):
            value = item.get(key)
            if isinstance(value, str) and value:
                found.append(_unshim(value))
    found += [m.group(0).rstrip(".,;:!?)]}'\"") for m in
              _URL_IN_TEXT.finditer(str(post.get("message") or ""))]
    return {canonical_link(u) for u in found}


def _comment_url(post_id: str, comment_id: str) -> str:
    page, _, number = post_id.partition("_")
    comment = comment_id.rpartition("_")[2]
    if number:
        return f"https://www.facebook.com/{page}/posts/{number}?comment_id={comment}"
    return f"https://www.facebook.com/{post_id}?comment_id={comment}"


def _unshim(url: str) -> str:
    parts = urlsplit(url)
    if parts.hostname in ("l.facebook.com", "lm.facebook.com") and parts.path == "/l.php":
        target = parse_qs(parts.query).get("u")
        if target:
            return target[0]
    return url
