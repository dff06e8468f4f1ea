"""The Mastodon channel: Mastodon.py 2.x against one account on one instance.

- Posts with ``POST /api/v1/statuses`` (``status_post``) carrying the post's
  idempotency key as the ``Idempotency-Key`` header: Mastodon remembers the key
  for one hour (``Idempotency-Key`` in the API docs' "Post a new status";
  ``PostStatusService`` keeps it with ``redis.setex(idempotency_key, 3_600, …)``)
  and answers a repeated request with the status it already made, so a retry
  within the hour after an ambiguous attempt never posts twice (delivery class
  IDEMPOTENT).
- After the hour the key is forgotten and a retry would post again, so a post in
  doubt for longer (the channel type's ``key_lifetime``) is looked up with
  ``find``: the account's own statuses (``verify_credentials`` for its id, then
  ``GET /api/v1/accounts/:id/statuses``, 40 a page, back ``_LOOKBACK_TIME``) are
  matched on the post's link (the preview card's URL or a link in the content)
  or on its exact text.
- An image comes from the shared image cache, is fitted under the instance's
  image limit and uploaded with ``POST /api/v2/media`` and its alt text
  (``description``). A picture never fails a post: it is skipped with a note,
  unless the instance refused the upload for the account's sake (401, 403, 429).
  Media still processing (202) is polled briefly with ``GET /api/v1/media/:id``.
- ``max_length()`` reads ``/api/v2/instance`` (``configuration.statuses.
  max_characters``) once and caches it; 500 when the instance does not say.
- Mastodon.py runs with ``ratelimit_method="throw"`` (the dispatcher waits, not
  a sleeping worker) and ``request_timeout=spec.timeout``; 429 becomes
  ``RateLimited`` until the instance's ``X-RateLimit-Reset``, which Mastodon.py
  keeps in ``ratelimit_reset``.

- A status answer is read raw: Mastodon.py casts every answer into its typed
  entities (``Status`` and all it holds, found by walking the call stack), which
  cost half the CPU of a post; publishing reads only ``id``, ``url`` and ``uri``
  of it, so ``status_post`` runs with the cast switched off for that one call
  (``_Client.raw_answers``), as does ``instance_v2`` for ``max_length``.
  Every other call keeps Mastodon.py's types (``find`` reads ``created_at``
  as the datetime Mastodon.py makes of it).

Every Mastodon.py and requests error is translated in ``_call`` and nowhere else.
"""

from __future__ import annotations

import contextlib
import html
import logging
import os
import re
import threading
import time
import unicodedata
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
from mastodon import (
    Mastodon,
    MastodonAPIError,
    MastodonError,
    MastodonNetworkError,
    MastodonRatelimitError,
    MastodonServerError,
    MastodonUnauthorizedError,
)

from publisher.channels.base import ChannelSpec
from publisher.channels.images import prepared_or_note
from publisher.channels.media import canonical_link, map_requests_error, redact
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

log = logging.getLogger("publisher.channels.mastodon")

T = TypeVar("T")

DEFAULT_MAX_CHARACTERS = 500
#: Mastodon's own limits: image size (16 MB since 4.0, 10 MB before) and side
#: (it downsizes anything above 3840x2160 itself); alt text 1500 characters.
_IMAGE_MAX_BYTES = 10_000_000
_IMAGE_MAX_SIDE = 3840
_ALT_TEXT_MAX = 1500
_DEFAULT_RATE_WAIT = timedelta(minutes=5)  # Mastodon's rate-limit windows are 5 minutes
_MEDIA_POLLS = 5
_MEDIA_POLL_SECONDS = 0.5
#: ``find`` pages back this far through the account's statuses (a post in doubt
#: is younger: its max_age is 24 h by default), 40 a page (the API's most), and
#: reads at most this many pages.
_LOOKBACK_TIME = timedelta(hours=48)
_LOOKBACK_PAGE = 40
_LOOKBACK_PAGES = 25
_HREF = re.compile(r"""<a\s[^>]*?href=["']([^"']+)["'][^>]*>""", re.IGNORECASE)
_MENTION_OR_TAG = re.compile(r"""class=["'][^"']*\b(?:mention|hashtag)\b""", re.IGNORECASE)
_PARAGRAPH_BREAK = re.compile(r"</p>\s*<p[^>]*>", re.IGNORECASE)
_LINE_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
_TAG = re.compile(r"<[^>]+>")


#: Mastodon.py's private caster, as ``__api_request`` looks it up on the client
#: (name-mangled ``Mastodon.__try_cast_to_type``); see ``_Client``.
_CAST_ATTRIBUTE = "_Mastodon__try_cast_to_type"


class RawAnswer(dict[str, Any]):
    """A JSON object as Mastodon sent it, uncast. A dict that takes attributes
    too, as Mastodon.py may set one on an answer (``_async_refresh``)."""


def _uncast(value: Any, override_type: Any = None) -> tuple[Any, None]:
    """Stands in for Mastodon.py's ``__try_cast_to_type``: the answer as parsed."""
    if type(value) is dict:
        value = RawAnswer(value)
    return value, None


class _Client(Mastodon):
    """Mastodon.py's client with a switch to skip its typed entities.

    ``__api_request`` casts every answer with ``self.__try_cast_to_type``
    (``self._Mastodon__try_cast_to_type``), which finds the type by walking
    the call stack and builds the whole entity tree.  Inside ``raw_answers``
    that name resolves to ``_uncast`` on this instance: a client belongs to
    one thread (``MastodonChannel._api``), so no other call sees it, and
    outside the switch the class's own method runs as before (not wrapped: a
    wrapper frame would change the stack it inspects).  If a later Mastodon.py
    renames the method, the instance attribute is simply never read and posts
    come back typed, which ``_get`` reads just as well (only slower).
    """

    @contextlib.contextmanager
    def raw_answers(self) -> Iterator[None]:
        self.__dict__[_CAST_ATTRIBUTE] = _uncast
        try:
            yield
        finally:
            self.__dict__.pop(_CAST_ATTRIBUTE, None)


class MastodonChannel:
    """Publishes to one Mastodon account (see the module docstring)."""

    delivery = DeliveryClass.IDEMPOTENT

    def __init__(self, spec: ChannelSpec) -> None:
        self.name = spec.name
        options = spec.options
        instance = spec.base_url or options.get("instance")
        if not instance or not isinstance(instance, str):
            raise ConfigError([f"channel {spec.name!r}: options.instance is required "
                               "(e.g. \"https://mastodon.social\")"])
        self._instance = instance.rstrip("/")
        self._with_image = spec.flag("with_image", True)
        self._allow_private_images = spec.flag("allow_private_images", False)
        self._visibility = str(options.get("visibility", "public"))
        if self._visibility not in ("public", "unlisted", "private"):
            raise ConfigError([f"channel {spec.name!r}: options.visibility must be public, "
                               "unlisted or private"])
        self._language = options.get("language")
        configured = options.get("max_length")
        self._configured_max = configured if isinstance(configured, int) else None
        self._timeout = spec.timeout
        self._token = spec.secrets["access_token"]
        self._secrets = tuple(str(v) for v in spec.secrets.values() if v)
        # One Mastodon.py client (and HTTP session) per dispatch thread: the
        # client keeps the last rate-limit headers on itself, and the 429 we
        # map must be read from the client that got it; one shared client
        # behind a lock would post one status at a time.
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._lock = threading.Lock()
        self._max_characters: int | None = None
        self._limit_retry_at = 0.0  # monotonic time before which the instance is not asked
        self._account: str | None = None

    def __repr__(self) -> str:
        return f"MastodonChannel(name={self.name!r}, instance={self._instance!r})"

    @property
    def _api(self) -> _Client:
        api = getattr(self._local, "api", None)
        if api is None:
            session = _session_for(self._instance)
            with self._lock:
                self._sessions.append(session)
            api = _Client(
                access_token=self._token,
                api_base_url=self._instance,
                ratelimit_method="throw",  # the dispatcher waits, not a sleeping worker
                request_timeout=self._timeout,
                session=session,
                version_check_mode="none",
            )
            self._local.api = api
        return api

    # --- the Channel protocol --------------------------------------------------

    def publish(self, request: PublishRequest) -> PublishResult:
        """Post ``request`` with its idempotency key; see the module docstring."""
        notes: list[str] = []
        media_ids: list[str] = []
        if request.image is not None and self._with_image:
            media_id = self._attach(request.image, notes)
            if media_id is not None:
                media_ids.append(media_id)
        status = self._call("post", True, lambda: self._status_post(
            request.text, media_ids=media_ids or None, idempotency_key=request.idempotency_key))
        status_id = _get(status, "id")
        if not status_id:
            raise Ambiguous("Mastodon answered without a status id")
        url = _get(status, "url") or _get(status, "uri")
        return PublishResult(str(status_id), str(url) if url else None, http_status=200,
                             notes=tuple(notes))

    def find(self, request: PublishRequest) -> PublishResult | None:
        """The status ``request`` made, looked up among the account's statuses of
        the last ``_LOOKBACK_TIME`` by its link or exact text; None when it is
        certainly not there. Raises the taxonomy when the look-up fails."""
        wanted_link = canonical_link(request.link) if request.link else None
        wanted_text = _normal_text(request.text)
        return self._find(lambda status: _matches(status, wanted_link, wanted_text))

    def find_reply(self, remote_id: str, request: PublishRequest) -> PublishResult | None:
        """The reply ``request`` made to ``remote_id`` (a note in doubt after the
        key's hour): a status of the account in reply to it with the same text.
        Not ``find``: a note carrying the article's link would match the post
        it corrects."""
        wanted_text = _normal_text(request.text)
        return self._find(lambda status: (
            str(_get(status, "in_reply_to_id") or "") == remote_id
            and _normal_text(_content_text(str(_get(status, "content") or ""))) == wanted_text))

    def _find(self, matches: Callable[[Any], bool]) -> PublishResult | None:
        account = self._call("look-up", False, self._api.account_verify_credentials)
        account_id = _get(account, "id")
        if not account_id:
            raise Transient("look-up: Mastodon's verify_credentials answer had no account id")
        horizon = datetime.now(UTC) - _LOOKBACK_TIME
        max_id: str | None = None
        for _ in range(_LOOKBACK_PAGES):
            page = self._call(
                "look-up", False,
                lambda max_id=max_id: self._api.account_statuses(  # type: ignore[misc]
                    account_id, exclude_reblogs=True, max_id=max_id, limit=_LOOKBACK_PAGE),
            )
            statuses = list(page or [])
            for status in statuses:
                if matches(status):
                    url = _get(status, "url") or _get(status, "uri")
                    return PublishResult(str(_get(status, "id")), str(url) if url else None)
            if not statuses:
                return None
            oldest = _get(statuses[-1], "created_at")
            if isinstance(oldest, datetime) and _aware(oldest) < horizon:
                return None
            max_id = str(_get(statuses[-1], "id"))
        log.warning("channel=%s look-up read %d statuses without reaching %s; "
                    "taking the post as absent", self.name, _LOOKBACK_PAGES * _LOOKBACK_PAGE,
                    horizon.isoformat(timespec="seconds"))
        return None

    def whoami(self) -> str:
        """``@user@instance`` for the token, checked against the instance now."""
        account = self._call("credential check", False, self._api.account_verify_credentials)
        acct = str(_get(account, "acct") or _get(account, "username") or "")
        if not acct:
            raise Transient("Mastodon's verify_credentials answer had no account name")
        if "@" not in acct:
            host = urlsplit(str(_get(account, "url") or self._instance)).hostname
            acct = f"{acct}@{host or urlsplit(self._instance).hostname}"
        self._account = f"@{acct}"
        return self._account

    def max_length(self) -> int | None:
        """The configured ``max_length``, else the instance's ``max_characters``
        (read once), else 500."""
        if self._configured_max is not None:
            return self._configured_max
        if self._max_characters is None and time.monotonic() >= self._limit_retry_at:
            try:
                info = self._call("instance look-up", False, self._instance_v2)
                value = _get(_get(_get(info, "configuration") or {}, "statuses") or {},
                             "max_characters")
                self._max_characters = value if isinstance(value, int) and value > 0 else (
                    DEFAULT_MAX_CHARACTERS)
            except ChannelError as exc:
                # Asked again in ten minutes, not for every article meanwhile
                # (a rate-limited instance must not get more requests).
                self._limit_retry_at = time.monotonic() + 600
                log.warning("channel=%s instance limits unavailable (%s); assuming %d",
                            self.name, exc, DEFAULT_MAX_CHARACTERS)
        return self._max_characters or DEFAULT_MAX_CHARACTERS

    def close(self) -> None:
        """Release the HTTP connections."""
        with self._lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()

    # --- after the post (channels/base.py) ------------------------------------------

    def delete(self, remote_id: str) -> None:
        """Delete the status ``remote_id`` (``DELETE /api/v1/statuses/:id``,
        ``status_delete``).  Mastodon answers 404 for a status that is gone (or
        was never this account's): that is done.  A lost answer is Ambiguous;
        ``read_back`` settles it."""
        try:
            self._call("delete", True, lambda: self._api.status_delete(remote_id))
        except Permanent as exc:
            if exc.http_status != 404:
                raise
            log.info("channel=%s status %s was already gone", self.name, remote_id)

    def read_back(self, remote_id: str) -> str | None:
        """The status's text as it was written (``GET /api/v1/statuses/:id/source``,
        the raw text Mastodon keeps for editing), or None when it is gone (404)."""
        try:
            source = self._call("read back", False, lambda: self._api.status_source(remote_id))
        except Permanent as exc:
            if exc.http_status == 404:
                return None
            raise
        text = _get(source, "text")
        if not isinstance(text, str):
            raise Transient(f"read back: Mastodon's source of status {remote_id} had no text")
        return text

    def edit(self, remote_id: str, request: PublishRequest) -> PublishResult:
        """Replace the text of ``remote_id`` (``PUT /api/v1/statuses/:id``,
        ``status_update``), keeping its media: Mastodon's ``update`` passes
        ``media_ids`` to UpdateStatusService always, so an edit that does not
        name the attached media removes them; the status is read first
        (``GET /api/v1/statuses/:id``) and its media ids sent again.  The
        language stays (the service keeps it when none is given) and Mastodon
        fetches the preview card again when the text changed.  An edit sets
        the text, so sending it twice is harmless; a lost answer is Ambiguous
        all the same (``read_back`` tells whether it was applied).  A status
        that is gone is Permanent (404): there is nothing to correct."""
        current = self._call("edit", False, lambda: self._api.status(remote_id))
        media_ids = [str(_get(m, "id")) for m in _get(current, "media_attachments") or []
                     if _get(m, "id")]
        status = self._call(
            "edit", True,
            lambda: self._api.status_update(remote_id, request.text,
                                            media_ids=media_ids or None))
        status_id = _get(status, "id") or remote_id
        url = _get(status, "url") or _get(status, "uri")
        notes = ("the image was kept as it was",) if media_ids else ()
        return PublishResult(str(status_id), str(url) if url else None, http_status=200,
                             notes=notes)

    def reply(self, remote_id: str, request: PublishRequest) -> PublishResult:
        """Post ``request`` as a reply to ``remote_id`` (``in_reply_to_id``), with
        its own ``Idempotency-Key``: :func:`reply_key` of the request's key and
        the parent, so a note can never be answered with the post it corrects.
        Same hour as a post: after it, ``find_reply`` settles a reply in doubt."""
        status = self._call("reply", True, lambda: self._status_post(
            request.text, in_reply_to_id=remote_id,
            idempotency_key=reply_key(request.idempotency_key, remote_id)))
        status_id = _get(status, "id")
        if not status_id:
            raise Ambiguous("reply: Mastodon answered without a status id")
        url = _get(status, "url") or _get(status, "uri")
        return PublishResult(str(status_id), str(url) if url else None, http_status=200)

    def _instance_v2(self) -> Any:
        """``GET /api/v2/instance``, uncast (only ``max_characters`` is read)."""
        api = self._api
        with api.raw_answers():
            return api.instance_v2()

    def _status_post(self, text: str, *, idempotency_key: str, media_ids: list[str] | None = None,
                     in_reply_to_id: str | None = None) -> Any:
        """``POST /api/v1/statuses`` with the channel's visibility and language;
        the answer uncast (a ``RawAnswer``; see ``_Client``)."""
        api = self._api
        with api.raw_answers():
            return api.status_post(
                text, in_reply_to_id=in_reply_to_id, media_ids=media_ids,
                visibility=self._visibility, language=self._language,
                idempotency_key=idempotency_key)

    # --- image -------------------------------------------------------------------

    def _attach(self, image: Image, notes: list[str]) -> str | None:
        """Upload ``image``; its media id, or None with a note on why not.
        Raises only what says the account cannot post now (AuthFailed, RateLimited)."""
        picture = prepared_or_note(image.url, notes, allow_private=self._allow_private_images,
                                   timeout=self._timeout, max_bytes=_IMAGE_MAX_BYTES,
                                   max_side=_IMAGE_MAX_SIDE)
        if picture is None:
            return None
        try:
            media = self._call(
                "image upload", False,
                lambda: self._api.media_post(
                    picture.data, mime_type=picture.content_type, file_name=picture.filename,
                    description=image.alt[:_ALT_TEXT_MAX] or None),
            )
            media_id = _get(media, "id")
            if not media_id:
                notes.append("image skipped: Mastodon's upload answer had no media id")
                return None
            for _ in range(_MEDIA_POLLS):
                if _get(media, "url"):
                    break
                # 202: still processing; a status with it would be refused (422).
                time.sleep(_MEDIA_POLL_SECONDS)
                media = self._call("media status", False, lambda: self._api.media(media_id))
            else:
                notes.append("image skipped: Mastodon was still processing it")
                return None
        except (AuthFailed, RateLimited):
            raise
        except ChannelError as exc:
            notes.append(f"image skipped: upload failed ({exc})")
            return None
        return str(media_id)

    # --- the one boundary for Mastodon.py and requests errors ------------------------

    def _call(self, what: str, write: bool, call: Callable[[], T]) -> T:
        """Run one Mastodon.py call; return its answer or raise the taxonomy error.
        ``write``: the call may create a status (a lost answer is then Ambiguous)."""
        try:
            return call()
        except MastodonRatelimitError:
            until = _reset_at(self._api.ratelimit_reset)
            raise RateLimited(
                f"{what}: Mastodon rate limit until {until:%Y-%m-%d %H:%M:%S}Z",
                until=until, http_status=429) from None
        except MastodonNetworkError as exc:
            raise self._network_error(what, write, exc) from None
        except MastodonError as exc:
            raise self._api_error(what, write, exc) from None

    def _network_error(self, what: str, write: bool, exc: MastodonNetworkError) -> ChannelError:
        # Mastodon.py raises MastodonNetworkError inside its ``except`` around
        # session.request, so the requests error is the context: it says whether
        # the request left (connect failed: Transient) or may have (read: Ambiguous).
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, requests.RequestException):
            error = map_requests_error(cause, write=write, what=f"{what} to Mastodon")
        elif write:
            error = Ambiguous(f"{what} to Mastodon: no answer ({type(exc).__name__})")
        else:
            error = Transient(f"{what} to Mastodon: no answer ({type(exc).__name__})")
        error.args = tuple(redact(str(a), self._secrets) for a in error.args)
        return error

    def _api_error(self, what: str, write: bool, exc: MastodonError) -> ChannelError:
        status, detail = _status_and_detail(exc)
        detail = redact(detail, self._secrets)
        if isinstance(exc, MastodonUnauthorizedError) or status == 401:
            return AuthFailed(f"{what}: Mastodon refused the access token (401): {detail}",
                              http_status=401)
        if status == 403:
            # A token without the write scope, or a suspended/disabled account.
            return AuthFailed(f"{what}: Mastodon refused the permission (403): {detail}",
                              http_status=403)
        if isinstance(exc, MastodonServerError) or (status is not None and status >= 500):
            return Transient(f"{what}: Mastodon answered {status}: {detail}", http_status=status)
        if isinstance(exc, MastodonAPIError) and status is None:
            # A 2xx Mastodon.py could not read: for a write, the status may exist.
            if write:
                return Ambiguous(f"{what}: Mastodon's answer could not be read")
            return Transient(f"{what}: Mastodon's answer could not be read")
        if isinstance(exc, MastodonAPIError):
            return Permanent(f"{what}: Mastodon refused it ({status}): {detail}",
                             http_status=status)
        # MastodonIllegalArgumentError, MastodonVersionError: our mistake, not the platform's.
        return Permanent(f"{what}: {type(exc).__name__}: {redact(str(exc), self._secrets)}")


# --- helpers -----------------------------------------------------------------------



def reply_key(idempotency_key: str, parent_id: str) -> str:
    """The ``Idempotency-Key`` of a reply to ``parent_id``: fixed for the
    request (a retry is dropped by Mastodon) and never the key of the post
    itself (which Mastodon would answer with the post for an hour)."""
    return f"{idempotency_key}:reply-to:{parent_id}"


def _get(value: Any, key: str) -> Any:
    if isinstance(value, dict):
        return value.get(key)
    return getattr(value, key, None)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _normal_text(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).split())


def _content_text(content: str) -> str:
    """A status's HTML ``content`` back as the text that was posted: Mastodon
    makes paragraphs of blank-line-separated blocks, ``<br />`` of newlines, and
    wraps links, mentions and hashtags in tags whose text is the original."""
    text = _PARAGRAPH_BREAK.sub("\n\n", content)
    text = _LINE_BREAK.sub("\n", text)
    return html.unescape(_TAG.sub("", text))


def _links(status: Any) -> set[str]:
    """The links a status carries: its preview card's and those in its content
    (mentions and hashtags are links too, and are left out)."""
    links: set[str] = set()
    card = _get(status, "card")
    card_url = _get(card, "url") if card else None
    if card_url:
        links.add(canonical_link(str(card_url)))
    for anchor in _HREF.finditer(str(_get(status, "content") or "")):
        if not _MENTION_OR_TAG.search(anchor.group(0)):
            links.add(canonical_link(html.unescape(anchor.group(1))))
    return links


def _matches(status: Any, wanted_link: str | None, wanted_text: str) -> bool:
    if wanted_link is not None and wanted_link in _links(status):
        return True
    return bool(wanted_text) and _normal_text(
        _content_text(str(_get(status, "content") or ""))) == wanted_text


def _status_and_detail(exc: MastodonError) -> tuple[int | None, str]:
    """Mastodon.py raises API errors as ``(message, status, reason, error)``."""
    args = exc.args
    if len(args) >= 4 and isinstance(args[1], int):
        detail = args[3] or args[2] or "no message"
        return int(args[1]), str(detail)
    return None, type(exc).__name__


def _reset_at(reset: float | None) -> datetime:
    now = datetime.now(UTC)
    if reset is None:
        return now + _DEFAULT_RATE_WAIT
    try:
        until = datetime.fromtimestamp(float(reset), UTC)
    except (ValueError, OverflowError, OSError):
        return now + _DEFAULT_RATE_WAIT
    return until if until > now else now + timedelta(seconds=1)


def _session_for(instance: str) -> requests.Session:
    """A requests session for ``instance`` with the environment read once.

    With ``trust_env`` on, requests looks up the proxies (and ``no_proxy``)
    and ``REQUESTS_CA_BUNDLE`` in the environment again at every request:
    about a quarter of the CPU of a status post.  The proxies and the CA
    bundle the environment names for this instance are kept on the session
    instead.  (Mastodon.py already keeps ~/.netrc out: it passes its own
    ``auth``.)"""
    session = requests.Session()
    session.trust_env = False
    session.proxies.update(requests.utils.get_environ_proxies(instance))
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle:
        session.verify = bundle
    return session
