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
- The token goes in an ``Authorization: Bearer`` header, never in a URL.

Errors have the Graph shape and are mapped as ``facebook.py`` maps them
(1, 2, ``is_transient`` → Transient; 4, 17, 32, 613 → RateLimited for an hour
unless a ``Retry-After`` says otherwise; 190, 10, 200-299 → AuthFailed; the
rest → Permanent). Every httpx error is translated in ``_send`` and nowhere else.
"""

from __future__ import annotations

import json
import logging
import re
import unicodedata
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

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
_DEFAULT_RATE_WAIT = timedelta(hours=1)

#: Container statuses (GET /{container-id}?fields=status).
PUBLISHED, FINISHED, IN_PROGRESS, ERROR, EXPIRED = (
    "PUBLISHED", "FINISHED", "IN_PROGRESS", "ERROR", "EXPIRED"
)
_GONE = "GONE"  # our own: the container id is unknown to Threads


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
        token = spec.secrets["access_token"]
        self._secrets = tuple(str(v) for v in spec.secrets.values() if v)
        base = (spec.base_url or _DEFAULT_BASE).rstrip("/")
        self._http = http.client(spec.timeout, base_url=f"{base}/{self._version}",
                                 headers={"Authorization": f"Bearer {token}"})

    def __repr__(self) -> str:
        return f"ThreadsChannel(name={self.name!r}, user_id={self._user_id!r})"

    # --- the Channel protocol --------------------------------------------------

    def publish(self, request: PublishRequest) -> PublishResult:
        """Post ``request``, resuming from its checkpoint when it has one."""
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
            container = self._create_container(request, media_type)
            if request.save_checkpoint is not None:
                request.save_checkpoint(json.dumps({"container_id": container,
                                                    "media_type": media_type}))
            else:
                log.warning("post=%s channel=%s no checkpoint store: a retry cannot resume",
                            request.post_id, self.name)
            if media_type == "IMAGE":
                status, detail = self._container_status(container)
                if status == IN_PROGRESS:
                    raise Transient(f"Threads is still fetching the image of container "
                                    f"{container}; the retry publishes the same container")
                if status != FINISHED:
                    notes.append(f"image skipped: Threads could not use it ({detail or status})")
                    media_type = "TEXT"
                    container = self._create_container(request, media_type)
                    if request.save_checkpoint is not None:
                        request.save_checkpoint(json.dumps({"container_id": container,
                                                            "media_type": media_type}))

        response = self._send("publish", True, "POST", f"/{self._user_id}/threads_publish",
                              params={"creation_id": container})
        media_id = _json(response, write=True).get("id")
        if not media_id:
            raise Ambiguous(f"Threads answered {response.status_code} without a media id",
                            http_status=response.status_code)
        return PublishResult(str(media_id), self._permalink(str(media_id)),
                             http_status=response.status_code, notes=tuple(notes))

    def find(self, request: PublishRequest) -> PublishResult | None:
        """Look for ``request`` among the account's last 50 threads."""
        response = self._send(
            "look-up", False, "GET", f"/{self._user_id}/threads",
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
        return f"@{username} (threads)"

    def close(self) -> None:
        """Release the HTTP connections."""
        self._http.close()

    # --- steps -------------------------------------------------------------------

    def _create_container(self, request: PublishRequest, media_type: str) -> str:
        params: dict[str, str] = {"media_type": media_type, "text": request.text}
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
        response = http.call(self._http, method, path, what=what, where="Threads", write=write,
                             **kwargs)
        if 200 <= response.status_code < 300:
            return response
        raise self._error(what, write, response)

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
        if code in _AUTH_CODES:
            return AuthFailed(f"{what}: Threads refused the token: {text}", http_status=status)
        if code in _TRANSIENT_CODES or error.get("is_transient") is True or status >= 500:
            return Transient(f"{what}: Threads says try again: {text}", http_status=status)
        if code == _MISSING_OBJECT_CODE and what == "container status":
            return _MissingObject(text, http_status=status)
        return Permanent(f"{what}: Threads refused it: {text}", http_status=status)


class _MissingObject(Permanent):
    """The object (a container) does not exist (any more)."""


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
