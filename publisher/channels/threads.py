"""The Threads channel: Meta's Threads API (``graph.threads.net``) over plain httpx.

Why httpx and no SDK: there is no maintained official Python SDK for the
Threads publishing API, and the API is three small JSON calls.

- Publishing is two steps: ``POST /{user-id}/threads`` makes a *container*
  (``media_type`` TEXT with ``text`` and ``link_attachment``, or IMAGE with
  ``image_url`` and ``text``), then ``POST /{user-id}/threads_publish?creation_id=…``
  publishes it and answers the media id.
- The container id is saved with ``request.save_checkpoint`` *before* the
  publish step. A retry that carries the checkpoint does not make a second
  container: it reads the container's status (``GET /{container-id}?fields=
  status,error_message``): PUBLISHED → the post is out, ``find`` it; FINISHED →
  publish that container; IN_PROGRESS → ``Transient`` (try again later, the
  same container); EXPIRED or ERROR (or gone) → a new container. A container
  that never gets published is harmless (it expires after 24 hours), so a lost
  answer to the *container* call is ``Transient``, not ``Ambiguous``: only the
  publish step can put a post on the account.
- An IMAGE container is checked once before publishing: Threads fetches the
  image itself and may still be at it (``Transient``: the retry resumes with the
  same container) or have failed (the post goes out as text, with a note).
- ``find`` reads the account's last 50 threads and matches the article's link
  (``link_attachment_url`` or a URL in the text, compared with
  ``canonical_link``) or the exact text.
- A new container is published only once Threads says it is ``FINISHED``
  (``GET /{container-id}?fields=status,error_message``), as the "Posts" guide
  asks: the adapter polls it for at most ``options.container_wait`` seconds
  (default 10; 0.5 s, then doubling up to 4 s). Still ``IN_PROGRESS`` then →
  ``Transient`` (the retry resumes that container from the checkpoint);
  ``ERROR`` → ``Permanent`` with Threads' ``error_message`` for a text
  container (an image container falls back to text, with a note);
  ``EXPIRED`` → ``Transient`` (the retry makes a new container).
- The token goes in an ``Authorization: Bearer`` header, never in a URL we log.
- **Long-lived tokens last 60 days** and can be refreshed once they are 24
  hours old (``GET /refresh_access_token?grant_type=th_refresh_token``, Meta's
  "Long-Lived Access Tokens" page). The adapter refreshes its token when less
  than ``REFRESH_WHEN_LEFT`` (30 days) is left, or, for a token from the
  environment whose age it does not know, on first use (Threads refuses a
  token younger than a day: it tries again an hour later). The new token and
  its expiry are kept in ``<session_dir>/threads-<channel>-<hash>.token``
  (mode 0600, written atomically; ``session_dir`` is Bluesky's option, default
  ``var/``), never in the database or the log. The stored token wins over the
  environment's while it is valid and was derived from the same environment
  token (a new token put in the environment replaces it). A failed refresh never
  fails a post. ``whoami`` (``publisher check``) says how many days are left;
  ``check_warnings`` warns from 7 days left.

After the post ("Delete Posts", "Create Replies"; Threads has no edit):

- ``delete`` is ``DELETE /{media-id}`` (``{"success": true, "deleted_id"}``;
  needs the ``threads_delete`` permission; 100 deletes a day per profile). A
  post already gone is an unknown object (code 100, subcode 33): done.
- ``read_back`` is ``GET /{media-id}?fields=text``; unknown object → None.
- ``reply`` publishes a container with ``reply_to_id`` (two steps and a
  checkpoint, as a post). A reply lives in the profile's replies, not its
  threads, so ``find`` reads ``/{user-id}/replies`` (``threads_read_replies``)
  when the threads do not hold the post; a token without that permission finds
  no reply there (logged), as it cannot see them.

Errors have the Graph shape and are mapped as ``facebook.py`` maps them
(1, 2, ``is_transient`` → Transient; 4, 17, 32, 613 → RateLimited for an hour
unless a ``Retry-After`` says otherwise; 190, 10, 200-299 → AuthFailed; the
rest → Permanent). Every httpx error is translated in ``_send`` and nowhere else.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import time
import unicodedata
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from publisher.channels import _http as http
from publisher.channels._files import write_private
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

log = logging.getLogger("publisher.channels.threads")

DEFAULT_API_VERSION = "v1.0"
_DEFAULT_BASE = "https://graph.threads.net"
_VERSION = re.compile(r"^v?(\d+\.\d+)$")
_FIND_FIELDS = "id,permalink,text,timestamp,link_attachment_url"
_FIND_LIMIT = 50
_URL_IN_TEXT = re.compile(r"https?://\S+")

_RATE_LIMIT_CODES = frozenset({4, 17, 32, 613})
_AUTH_CODES = frozenset({190, 10}) | frozenset(range(200, 300))
_TRANSIENT_CODES = frozenset({1, 2})
_MISSING_OBJECT_CODE = 100  # "Object with ID … does not exist"
_UNKNOWN_OBJECT_SUBCODE = 33  # "Unsupported … request. Object with ID … does not exist"
_DEFAULT_RATE_WAIT = timedelta(hours=1)

#: Container statuses (GET /{container-id}?fields=status).
PUBLISHED, FINISHED, IN_PROGRESS, ERROR, EXPIRED = (
    "PUBLISHED", "FINISHED", "IN_PROGRESS", "ERROR", "EXPIRED"
)
_GONE = "GONE"  # our own: the container id is unknown to Threads

#: How long a new container is waited for (seconds), and the polls' first and
#: longest pause.
DEFAULT_CONTAINER_WAIT = 10.0
_POLL_FIRST, _POLL_MAX = 0.5, 4.0

#: Refresh the token when less than this is left (a long-lived token lasts 60 days).
REFRESH_WHEN_LEFT = timedelta(days=30)
#: ``check_warnings`` warns when less than this is left.
WARN_WHEN_LEFT = timedelta(days=7)
#: After a refused or failed refresh, the next try waits this long.
_REFRESH_RETRY = timedelta(hours=1)


class ThreadsChannel:
    """Publishes to one Threads profile (see the module docstring)."""

    delivery = DeliveryClass.RECONCILABLE

    def __init__(self, spec: ChannelSpec) -> None:
        self.name = spec.name
        options = spec.options
        version = str(options.get("api_version", DEFAULT_API_VERSION))
        match = _VERSION.match(version)
        if not match:
            raise ConfigError([
                f"channel {spec.name!r}: options.api_version must look like "
                f"{DEFAULT_API_VERSION!r}, not {version!r}"
            ])
        self._version = f"v{match.group(1)}"
        self._user_id = str(options.get("user_id") or "me")
        self._with_image = spec.flag("with_image", True)
        wait = options.get("container_wait", DEFAULT_CONTAINER_WAIT)
        if isinstance(wait, bool) or not isinstance(wait, int | float) or wait < 0:
            raise ConfigError([f"channel {spec.name!r}: options.container_wait must be a "
                               f"number of seconds (0 or more), not {wait!r}"])
        self._container_wait = float(wait)
        self._env_token = str(spec.secrets["access_token"])
        self._secrets = [str(v) for v in spec.secrets.values() if v]
        base = (spec.base_url or _DEFAULT_BASE).rstrip("/")
        self._base = base
        session_dir = Path(str(options.get("session_dir", "var/")))
        digest = hashlib.sha256(f"{base}\n{self._user_id}".encode()).hexdigest()
        safe_name = re.sub(r"[^A-Za-z0-9_.-]", "_", spec.name)
        self._token_file = session_dir / f"threads-{safe_name}-{digest[:12]}.token"
        self._token_lock = threading.Lock()
        self._token = self._env_token
        self._expires: datetime | None = None  # unknown for a token never refreshed
        self._next_refresh: datetime | None = None  # not before (after a refusal)
        self._load_token()
        self._http = http.client(spec.timeout, base_url=f"{base}/{self._version}")

    def __repr__(self) -> str:
        return f"ThreadsChannel(name={self.name!r}, user_id={self._user_id!r})"

    # --- the Channel protocol --------------------------------------------------

    def publish(self, request: PublishRequest) -> PublishResult:
        """Post ``request``, resuming from its checkpoint when it has one."""
        return self._publish(request, None)

    def reply(self, remote_id: str, request: PublishRequest) -> PublishResult:
        """Publish ``request`` as a reply to the post ``remote_id`` (a correction
        note), with the same checkpoint and reconciliation as a post."""
        return self._publish(request, remote_id)

    def delete(self, remote_id: str) -> None:
        """Delete the post ``remote_id``; a post already gone returns normally.
        A lost answer is ``Ambiguous`` (settle it with ``read_back``)."""
        try:
            response = self._send("delete", True, "DELETE", f"/{remote_id}")
        except _MissingObject:
            log.info("channel=%s post %s was already gone", self.name, remote_id)
            return
        if _json(response, write=True).get("success") is True:
            return
        if self.read_back(remote_id) is not None:
            raise Permanent(f"Threads did not delete post {remote_id} (success: false)",
                            http_status=response.status_code)

    def read_back(self, remote_id: str) -> str | None:
        """The post's text, or None when Threads no longer has it."""
        try:
            response = self._send("read back", False, "GET", f"/{remote_id}",
                                  params={"fields": "id,text"})
        except _MissingObject:
            return None
        return str(_json(response, write=False).get("text") or "")

    def _publish(self, request: PublishRequest, reply_to: str | None) -> PublishResult:
        notes: list[str] = []
        container: str | None = None
        media_type = "TEXT"
        saved = _parse_checkpoint(request.checkpoint)
        if saved is not None:
            container, media_type = saved
            status, detail = self._container_status(container)
            if status == PUBLISHED:
                found = self.find(request)
                if found is None:
                    # Published, but not in the list yet: let the reconciler look again.
                    raise Ambiguous(f"Threads says container {container} is published, but "
                                    "the post is not among the account's recent threads yet")
                log.info("post=%s channel=%s container %s was already published as %s",
                         request.post_id, self.name, container, found.remote_id)
                return PublishResult(
                    found.remote_id, found.remote_url,
                    notes=("the earlier attempt had published it",),
                )
            if status == IN_PROGRESS:
                raise Transient(f"Threads is still processing container {container}")
            if status != FINISHED:
                notes.append(f"container {container} was {status.lower()}"
                             + (f" ({detail})" if detail else "") + ": made a new one")
                if status == ERROR and media_type == "IMAGE":
                    notes.append("image skipped: Threads could not use it")
                    media_type = "TEXT"
                container = None
        elif request.image is not None and self._with_image:
            media_type = "IMAGE"

        if container is None:
            container = self._create_container(request, media_type, reply_to)
            if request.save_checkpoint is not None:
                request.save_checkpoint(json.dumps({"container_id": container,
                                                    "media_type": media_type}))
            else:
                log.warning("post=%s channel=%s no checkpoint store: a retry cannot resume",
                            request.post_id, self.name)
            status, detail = self._wait_finished(container)
            if media_type == "IMAGE" and status in (ERROR, _GONE):
                notes.append(f"image skipped: Threads could not use it ({detail or status})")
                media_type = "TEXT"
                container = self._create_container(request, media_type, reply_to)
                if request.save_checkpoint is not None:
                    request.save_checkpoint(json.dumps({"container_id": container,
                                                        "media_type": media_type}))
                status, detail = self._wait_finished(container)
            self._require_finished(container, media_type, status, detail)

        response = self._send("publish", True, "POST", f"/{self._user_id}/threads_publish",
                              params={"creation_id": container})
        media_id = _json(response, write=True).get("id")
        if not media_id:
            raise Ambiguous(f"Threads answered {response.status_code} without a media id",
                            http_status=response.status_code)
        return PublishResult(str(media_id), self._permalink(str(media_id)),
                             http_status=response.status_code, notes=tuple(notes))

    def find(self, request: PublishRequest) -> PublishResult | None:
        """Look for ``request`` among the account's last 50 threads, then among
        its last 50 replies (a correction note in doubt)."""
        found = self._find_in("threads", request)
        if found is not None:
            return found
        try:
            return self._find_in("replies", request)
        except _NoPermission as exc:
            log.info("channel=%s cannot read the profile's replies (needs "
                     "threads_read_replies): %s", self.name, exc)
            return None

    def _find_in(self, edge: str, request: PublishRequest) -> PublishResult | None:
        response = self._send(
            "look-up" if edge == "threads" else "replies look-up", False, "GET",
            f"/{self._user_id}/{edge}",
            params={"fields": _FIND_FIELDS, "limit": str(_FIND_LIMIT)},
        )
        wanted_link = canonical_link(request.link) if request.link else None
        wanted_text = _normal(request.text)
        for post in _json(response, write=False).get("data") or []:
            if not isinstance(post, Mapping) or not post.get("id"):
                continue
            text = _normal(str(post.get("text") or ""))
            if (wanted_link is not None and wanted_link in _post_links(post)) or (
                text and text == wanted_text
            ):
                permalink = post.get("permalink")
                return PublishResult(str(post["id"]), str(permalink) if permalink else None)
        return None

    def whoami(self) -> str:
        """``@username (threads)`` for the token, checked against Threads now."""
        response = self._send("credential check", False, "GET", "/me",
                              params={"fields": "id,username"})
        me = _json(response, write=False)
        me_id, username = str(me.get("id") or ""), str(me.get("username") or "")
        if not me_id or not username:
            raise Transient("Threads' /me answer had no id or username")
        if self._user_id != "me" and self._user_id != me_id:
            raise AuthFailed(f"the token belongs to @{username} (id {me_id}), "
                             f"not to user {self._user_id}")
        left = self.token_days_left()
        if left is None:
            return (f"@{username} (threads; token expiry not known yet: it is refreshed "
                    "once it is a day old)")
        return f"@{username} (threads; token valid {left} more days, refreshed automatically)"

    def check_warnings(self) -> list[str]:
        """A line when the token has less than a week left (the refresh failed)."""
        with self._token_lock:
            expires = self._expires
        if expires is None:
            return []
        left = expires - datetime.now(UTC)
        if left <= timedelta(0):
            return ["the Threads token has expired: put a new long-lived token in the "
                    "environment"]
        if left < WARN_WHEN_LEFT:
            return [f"the Threads token expires in {left.days} days and could not be "
                    "refreshed: check the app's threads_basic permission, or put a new "
                    "long-lived token in the environment"]
        return []

    def token_days_left(self) -> int | None:
        """Whole days the token in use has left (None: not known, never refreshed)."""
        self._ensure_token()
        with self._token_lock:
            expires = self._expires
        if expires is None:
            return None
        return max(0, (expires - datetime.now(UTC)).days)

    def close(self) -> None:
        """Release the HTTP connections."""
        self._http.close()

    # --- steps -------------------------------------------------------------------

    def _create_container(self, request: PublishRequest, media_type: str,
                          reply_to: str | None = None) -> str:
        params: dict[str, str] = {"media_type": media_type, "text": request.text}
        if reply_to is not None:
            params["reply_to_id"] = reply_to
        if media_type == "IMAGE" and request.image is not None:
            params["image_url"] = request.image.url
            if request.image.alt:
                params["alt_text"] = request.image.alt
        elif request.link:
            params["link_attachment"] = request.link
        # Not a write in the taxonomy's sense: a container is not a post, and
        # one that is never published expires on its own.
        response = self._send("container", False, "POST", f"/{self._user_id}/threads",
                              data=params)
        container = _json(response, write=False).get("id")
        if not container:
            raise Transient(f"Threads answered {response.status_code} without a container id",
                            http_status=response.status_code)
        return str(container)

    def _wait_finished(self, container: str) -> tuple[str, str]:
        """Poll a new container until it is no longer IN_PROGRESS, for at most
        ``container_wait`` seconds; its last (status, error message)."""
        deadline = time.monotonic() + self._container_wait
        pause = _POLL_FIRST
        while True:
            status, detail = self._container_status(container)
            left = deadline - time.monotonic()
            if status != IN_PROGRESS or left <= 0:
                return status, detail
            time.sleep(min(pause, left))
            pause = min(pause * 2, _POLL_MAX)

    def _require_finished(self, container: str, media_type: str, status: str,
                          detail: str) -> None:
        """Raise unless a new container may be published (see the module docstring)."""
        if status == FINISHED:
            return
        what = "the image of container" if media_type == "IMAGE" else "container"
        if status == IN_PROGRESS:
            raise Transient(f"Threads is still processing {what} {container} after "
                            f"{self._container_wait:g} s; the retry publishes the same container")
        if status == ERROR:
            raise Permanent(f"Threads could not process container {container}: "
                            f"{detail or 'no error message'}")
        raise Transient(f"Threads container {container} is {status.lower()} before it was "
                        "published; the retry makes a new one")

    def _container_status(self, container: str) -> tuple[str, str]:
        """(status, error message) of a container; ``GONE`` when Threads does not know it."""
        try:
            response = self._send("container status", False, "GET", f"/{container}",
                                  params={"fields": "status,error_message"})
        except _MissingObject:
            return _GONE, ""
        body = _json(response, write=False)
        status = str(body.get("status") or "").upper()
        if status not in (PUBLISHED, FINISHED, IN_PROGRESS, ERROR, EXPIRED):
            raise Transient(f"Threads answered an unknown container status {status or 'none'!r}")
        return status, str(body.get("error_message") or "")

    def _permalink(self, media_id: str) -> str | None:
        """The post's permalink; None when it cannot be read (the post is out anyway)."""
        try:
            response = self._send("permalink", False, "GET", f"/{media_id}",
                                  params={"fields": "permalink"})
            link = _json(response, write=False).get("permalink")
        except ChannelError as exc:
            log.info("channel=%s no permalink for %s: %s", self.name, media_id, exc)
            return None
        return str(link) if link else None

    # --- the one boundary for httpx errors ---------------------------------------------

    def _send(self, what: str, write: bool, method: str, path: str,
              **kwargs: Any) -> httpx.Response:
        """Run one call; return its 2xx response or raise the taxonomy error.
        ``write``: the call may publish a post (a lost answer is then Ambiguous)."""
        self._ensure_token()
        with self._token_lock:
            token = self._token
        headers = {"Authorization": f"Bearer {token}"}
        response = http.call(self._http, method, path, what=what, where="Threads", write=write,
                             headers=headers, **kwargs)
        if 200 <= response.status_code < 300:
            return response
        raise self._error(what, write, response)

    # --- the token: refreshed before it expires, kept in a 0600 file --------------------

    def _ensure_token(self) -> None:
        """Refresh the token when it is due (see the module docstring); a failed
        refresh is logged and the current token kept."""
        now = datetime.now(UTC)
        with self._token_lock:
            if self._expires is not None and self._expires <= now:
                if self._token != self._env_token:
                    # The stored token ran out: fall back to the environment's.
                    self._token, self._expires = self._env_token, None
                return
            due = self._expires is None or self._expires - now < REFRESH_WHEN_LEFT
            if not due or (self._next_refresh is not None and now < self._next_refresh):
                return
            self._next_refresh = now + _REFRESH_RETRY
            token = self._token
        self._refresh(token)

    def _refresh(self, token: str) -> None:
        try:
            response = http.call(self._http, "GET", f"{self._base}/refresh_access_token",
                                 what="token refresh", where="Threads", write=False,
                                 params={"grant_type": "th_refresh_token",
                                         "access_token": token})
        except ChannelError as exc:
            log.warning("channel=%s token refresh failed: %s", self.name,
                        redact(str(exc), self._secrets))
            return
        body = _body(response)
        new = body.get("access_token")
        expires_in = _int(body.get("expires_in"))
        if response.status_code != 200 or not isinstance(new, str) or not new or not expires_in:
            error = self._error("token refresh", False, response)
            log.info("channel=%s token not refreshed (tried again in an hour): %s",
                     self.name, error)
            return
        expires = datetime.now(UTC) + timedelta(seconds=expires_in)
        with self._token_lock:
            self._token, self._expires, self._next_refresh = new, expires, None
            if new not in self._secrets:
                self._secrets.append(new)
        self._save_token(new, expires)
        log.info("channel=%s token refreshed, valid until %s", self.name,
                 f"{expires:%Y-%m-%d}")

    def _source_digest(self) -> str:
        return hashlib.sha256(self._env_token.encode()).hexdigest()

    def _load_token(self) -> None:
        try:
            data = json.loads(self._token_file.read_text(encoding="utf-8"))
            token, source = str(data["access_token"]), str(data["source"])
            expires = datetime.fromisoformat(str(data["expires_at"]))
        except (OSError, ValueError, KeyError, TypeError):
            return
        if expires.tzinfo is None or source != self._source_digest():
            return  # not ours, or derived from a token the environment no longer holds
        if expires <= datetime.now(UTC):
            return
        self._token, self._expires = token, expires
        self._secrets.append(token)

    def _save_token(self, token: str, expires: datetime) -> None:
        """Write the token file with mode 0600, atomically (a crash leaves the old one)."""
        path = self._token_file
        text = json.dumps({"access_token": token, "expires_at": expires.isoformat(),
                           "source": self._source_digest()})
        try:
            write_private(path, text)
        except OSError as exc:
            # The channel goes on with the new token in memory.
            log.warning("channel=%s cannot save the Threads token to %s (%s)",
                        self.name, path, type(exc).__name__)

    def _error(self, what: str, write: bool, response: httpx.Response) -> ChannelError:
        status = response.status_code
        error = _body(response).get("error")
        if not isinstance(error, Mapping):
            if status == 429:
                until = http.retry_after(response.headers) or datetime.now(UTC) + _DEFAULT_RATE_WAIT
                return RateLimited(f"{what}: Threads answered 429 (rate limit until "
                                   f"{until:%Y-%m-%d %H:%M:%S}Z)", until=until, http_status=429)
            if status >= 500:
                return Transient(f"{what}: Threads answered {status}", http_status=status)
            return Permanent(f"{what}: Threads answered {status} with a body that is not "
                             "a Graph error", http_status=status)
        code = _int(error.get("code"))
        subcode = _int(error.get("error_subcode"))
        text = redact(_describe(error, code, subcode), self._secrets)
        if code in _RATE_LIMIT_CODES or status == 429:
            until = http.retry_after(response.headers) or datetime.now(UTC) + _DEFAULT_RATE_WAIT
            return RateLimited(f"{what}: Threads rate limit until {until:%Y-%m-%d %H:%M:%S}Z: "
                               f"{text}", until=until, http_status=status)
        if code in _AUTH_CODES and what == "replies look-up" and code != 190:
            return _NoPermission(f"{what}: Threads refused the permission: {text}",
                                 http_status=status)
        if code in _AUTH_CODES and what == "delete" and code != 190:
            return AuthFailed(f"{what}: Threads refused the permission (deleting needs "
                              f"threads_delete; make a new token with it): {text}",
                              http_status=status)
        if code in _AUTH_CODES:
            return AuthFailed(f"{what}: Threads refused the token: {text}", http_status=status)
        if code in _TRANSIENT_CODES or error.get("is_transient") is True or status >= 500:
            return Transient(f"{what}: Threads says try again: {text}", http_status=status)
        if code == _MISSING_OBJECT_CODE and (
                what == "container status"
                or (what in ("delete", "read back") and subcode == _UNKNOWN_OBJECT_SUBCODE)):
            return _MissingObject(text, http_status=status)
        return Permanent(f"{what}: Threads refused it: {text}", http_status=status)


class _MissingObject(Permanent):
    """The object (a container, a post) does not exist (any more)."""


class _NoPermission(AuthFailed):
    """The token lacks a permission only an optional call needs (reading replies)."""


# --- helpers -----------------------------------------------------------------------


def _parse_checkpoint(raw: str | None) -> tuple[str, str] | None:
    """(container id, media type) from a checkpoint: our JSON, or a plain id."""
    if not raw or not raw.strip():
        return None
    raw = raw.strip()
    if raw.startswith("{"):
        try:
            data = json.loads(raw)
        except ValueError:
            return None
        container = data.get("container_id") if isinstance(data, dict) else None
        if not container:
            return None
        return str(container), str(data.get("media_type") or "TEXT")
    return raw, "TEXT"


def _json(response: httpx.Response, *, write: bool) -> dict[str, Any]:
    return http.json_object(response, where="Threads", write=write)


def _body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _describe(error: Mapping[str, Any], code: int | None, subcode: int | None) -> str:
    message = str(error.get("error_user_msg") or error.get("message") or "no message")
    detail = f"code {code}" + (f"/{subcode}" if subcode else "")
    if error.get("fbtrace_id"):
        detail += f", fbtrace_id {error['fbtrace_id']}"
    return f"{message} ({detail})"




def _normal(text: str) -> str:
    return unicodedata.normalize("NFC", text).strip()


def _post_links(post: Mapping[str, Any]) -> set[str]:
    found = [str(post["link_attachment_url"])] if post.get("link_attachment_url") else []
    found += [m.group(0).rstrip(".,;:!?)]}'\"") for m in
              _URL_IN_TEXT.finditer(str(post.get("text") or ""))]
    return {canonical_link(u) for u in found}
