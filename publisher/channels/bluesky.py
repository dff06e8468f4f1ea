"""The Bluesky channel: the atproto SDK's ``Client`` with a handle and an app password.

- **One session, kept.** The adapter logs in (``com.atproto.server.createSession``)
  once and keeps the session; the SDK refreshes the access token by itself
  (``refreshSession``) shortly before it expires. The exported session string
  is saved to ``<session_dir>/bluesky-<channel>-<hash>.session`` (mode 0600; it
  is as good as the password) on every login and refresh, and read back on the
  next start, so a restarted daemon does not log in again: Bluesky rate-limits
  logins (30 per 5 minutes, 300 a day per account). When the server refuses
  the session anyway (``ExpiredToken``/``InvalidToken``, 400 or 401) the adapter
  logs in once more and repeats the call once; a second refusal is AuthFailed,
  never a loop.
- **Idempotent by record key.** Every post is created with
  ``com.atproto.repo.createRecord`` under a record key fixed per post:
  :func:`record_key` turns the post's idempotency key into a TID-syntax key
  (13 characters of base32-sortable, as ``app.bsky.feed.post`` wants). After an
  ambiguous attempt the record is read back (``getRecord``) before anything is
  created; a create that finds the key taken (409 ``RecordAlreadyExists``, a
  400 saying so, or the 500 today's reference PDS answers) is read back too
  and, when the record is there, is a success.
- **Rich text.** Links and hashtags in the text become facets with UTF-8 byte
  offsets (``app.bsky.richtext.facet#link`` / ``#tag``); the text itself is
  never changed (the renderer has fitted it into 300 graphemes).
- **Link card.** A post with a link gets an ``app.bsky.embed.external`` card
  (uri = the link, title, description = the summary) whose thumbnail is the
  article image, fitted under the 1,000,000-byte blob limit and uploaded with
  ``uploadBlob``. Newsrooms want the card: it carries the click. A post with an
  image but no link gets ``app.bsky.embed.images`` with the alt text instead.
  A picture never fails a post: it is skipped with a note.
- **After the post.** ``delete`` is ``com.atproto.repo.deleteRecord`` of the
  post's record (the rkey of its ``at://`` URI); the PDS deletes "or ensures it
  doesn't exist", so a post already gone is done. ``read_back`` is ``getRecord``
  (the record's text; None after 400 ``RecordNotFound``). ``reply`` makes a post
  with a ``reply`` ref (``root`` and ``parent``, each ``{uri, cid}``; the root is
  the parent's own root when the parent is a reply) under a record key fixed
  per reply, so it is idempotent as a post is. There is no ``edit``: a record
  can be rewritten with ``putRecord``, but the Bluesky app keeps showing the
  original post (bluesky-social/social-app#673; the app view does not treat an
  update as an edit), so a correction on Bluesky is a reply.

Every atproto and httpx error is translated in ``_xrpc`` and nowhere else.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar, cast

import httpx
import regex
from atproto_client import Client, models
from atproto_client.client.session import Session, SessionEvent
from atproto_client.exceptions import (
    LoginRequiredError,
    RateLimitExceededError,
    RequestErrorBase,
)
from atproto_client.request import Request
from atproto_core.exceptions import AtProtocolError

from publisher.channels._files import write_private
from publisher.channels.base import ChannelSpec
from publisher.channels.images import prepared_or_note
from publisher.channels.media import ImageFile, redact
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

log = logging.getLogger("publisher.channels.bluesky")

T = TypeVar("T")

DEFAULT_BASE_URL = "https://bsky.social"
POST_COLLECTION = "app.bsky.feed.post"
#: The blob limit of a link card's thumbnail (app.bsky.embed.external) and of
#: an image (app.bsky.embed.images, formerly; now 2 MB): stay under the lower.
BLOB_MAX_BYTES = 1_000_000
_IMAGE_MAX_SIDE = 2000
_ALT_TEXT_MAX = 2000
_CARD_TITLE_MAX = 300
_CARD_DESCRIPTION_MAX = 1000
_DEFAULT_RATE_WAIT = timedelta(minutes=5)
_TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"
_SESSION_ERRORS = frozenset({"ExpiredToken", "InvalidToken", "AuthRequired",
                             "AuthMissing", "AuthenticationRequired"})

_URL = re.compile(r"https?://[^\s<>\"]+")
_URL_TRAILING = ".,;:!?\"'»”’"
# Bluesky's own hashtag rule (the app's TAG_REGEX): after whitespace or at the
# start, at least one character that is no digit and no punctuation; trailing
# punctuation is not part of the tag.
_TAG_CHARS = "[^\\s\u00AD\u2060\u200A\u200B\u200C\u200D\u20e2]"
_TAG = regex.compile(
    rf"(?:^|(?<=\s))[#＃]((?!\ufe0f){_TAG_CHARS}*"
    rf"[^\d\s\p{{P}}\u00AD\u2060\u200A\u200B\u200C\u200D\u20e2]+{_TAG_CHARS}*)"
)
_TAG_TRAILING = regex.compile(r"\p{P}+$")
_TAG_MAX = 64
#: app.bsky.feed.post's ``langs``: "maxLength": 3, items of "format": "language".
LANGS_MAX = 3
# A well-formed BCP 47 tag (RFC 5646 section 2.1, the syntax the lexicon's
# "language" format checks): language[-extlang][-script][-region]*(-variant)
# *(-extension)[-privateuse], or a private-use or grandfathered tag.
_ALNUM = "[A-Za-z0-9]"
_LANGTAG = (
    r"(?:[A-Za-z]{2,3}(?:-[A-Za-z]{3}){0,3}|[A-Za-z]{4,8})"  # language (+ extlang)
    r"(?:-[A-Za-z]{4})?"  # script
    r"(?:-(?:[A-Za-z]{2}|[0-9]{3}))?"  # region
    rf"(?:-(?:{_ALNUM}{{5,8}}|[0-9]{_ALNUM}{{3}}))*"  # variants
    rf"(?:-[0-9A-WY-Za-wy-z](?:-{_ALNUM}{{2,8}})+)*"  # extensions
    rf"(?:-[xX](?:-{_ALNUM}{{1,8}})+)?"  # private use
)
_GRANDFATHERED = (
    "en-GB-oed|i-ami|i-bnn|i-default|i-enochian|i-hak|i-klingon|i-lux|i-mingo|i-navajo|"
    "i-pwn|i-tao|i-tay|i-tsu|sgn-BE-FR|sgn-BE-NL|sgn-CH-DE|art-lojban|cel-gaulish|no-bok|"
    "no-nyn|zh-guoyu|zh-hakka|zh-min|zh-min-nan|zh-xiang"
)
_LANGUAGE_TAG = re.compile(
    rf"^(?:{_LANGTAG}|[xX](?:-{_ALNUM}{{1,8}})+|(?:{_GRANDFATHERED}))$")


def _langs(channel: str, langs: Any) -> list[str] | None:
    """``options.langs`` as app.bsky.feed.post takes it: at most
    ``LANGS_MAX`` BCP 47 language tags; anything else is a ConfigError naming the
    channel and the option, so ``publisher check`` refuses it before any post."""
    if langs is None:
        return None
    if isinstance(langs, str) or not isinstance(langs, list | tuple) or not all(
            isinstance(x, str) for x in langs):
        raise ConfigError([f"channel {channel!r}: options.langs must be a list of "
                           "language codes (e.g. [\"en\", \"de\"])"])
    if len(langs) > LANGS_MAX:
        raise ConfigError([f"channel {channel!r}: options.langs has {len(langs)} languages; "
                           f"Bluesky takes at most {LANGS_MAX} (app.bsky.feed.post)"])
    bad = [x for x in langs if not _LANGUAGE_TAG.match(x)]
    if bad:
        raise ConfigError([f"channel {channel!r}: options.langs: {bad[0]!r} is not a "
                           "language code (BCP 47, e.g. \"en\" or \"pt-BR\")"])
    return list(langs) or None


def record_key(idempotency_key: str) -> str:
    """The record key of the post with ``idempotency_key``: a valid TID (13
    characters of base32-sortable, top bit clear), the same on every attempt.

    The TID's timestamp bits come from a hash of the key, not from a clock: the
    key must not change between attempts, and PDSs check a TID's syntax only.
    """
    digest = hashlib.sha256(idempotency_key.encode("utf-8")).digest()
    value = int.from_bytes(digest[:8], "big") & ((1 << 63) - 1)
    chars = []
    for _ in range(13):
        chars.append(_TID_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def build_facets(text: str) -> list[dict[str, Any]]:
    """The link and hashtag facets of ``text``, with UTF-8 byte offsets, in order."""
    spans: list[tuple[int, int, dict[str, Any]]] = []
    for match in _URL.finditer(text):
        url = match.group(0)
        end = match.end()
        while url and url[-1] in _URL_TRAILING:
            url, end = url[:-1], end - 1
        if url.endswith(")") and "(" not in url:
            url, end = url[:-1], end - 1
        spans.append((match.start(), end,
                      {"$type": "app.bsky.richtext.facet#link", "uri": url}))
    taken = [(s, e) for s, e, _ in spans]
    for match in _TAG.finditer(text):
        tag = _TAG_TRAILING.sub("", match.group(1))
        start = match.start()
        end = start + 1 + len(tag)
        if not tag or len(regex.findall(r"\X", tag)) > _TAG_MAX:
            continue
        if any(s <= start < e for s, e in taken):  # a "#fragment" inside a link
            continue
        spans.append((start, end, {"$type": "app.bsky.richtext.facet#tag", "tag": tag}))
    facets = []
    for start, end, feature in sorted(spans, key=lambda s: s[0]):
        facets.append({
            "$type": "app.bsky.richtext.facet",
            "index": {"byteStart": _utf8_offset(text, start), "byteEnd": _utf8_offset(text, end)},
            "features": [feature],
        })
    return facets


def _utf8_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


class _SessionRejected(AuthFailed):
    """The PDS refused the session's token (expired, revoked, unknown)."""


class _NotFound(Permanent):
    """getRecord: no such record."""


class _Exists(Permanent):
    """createRecord: the record key is taken."""


class BlueskyChannel:
    """Publishes to one Bluesky account (see the module docstring)."""

    delivery = DeliveryClass.IDEMPOTENT

    def __init__(self, spec: ChannelSpec) -> None:
        self.name = spec.name
        options = spec.options
        self._handle = spec.secrets["handle"].strip().lstrip("@")
        self._password = spec.secrets["app_password"]
        self._base_url = (spec.base_url or str(options.get("base_url") or DEFAULT_BASE_URL))
        self._base_url = self._base_url.rstrip("/")
        self._with_image = spec.flag("with_image", True)
        self._allow_private_images = spec.flag("allow_private_images", False)
        self._langs = _langs(spec.name, options.get("langs"))
        session_dir = Path(str(options.get("session_dir", "var/")))
        digest = hashlib.sha256(f"{self._base_url}\n{self._handle.lower()}".encode()).hexdigest()
        safe_name = re.sub(r"[^A-Za-z0-9_.-]", "_", spec.name)
        self._session_file = session_dir / f"bluesky-{safe_name}-{digest[:12]}.session"
        self._timeout = spec.timeout
        self._client = Client(base_url=self._base_url,
                              request=Request(timeout=httpx.Timeout(spec.timeout)))
        self._client.on_session_change(self._session_changed)
        self._lock = threading.RLock()
        self._logged_in = False
        self._generation = 0  # counts logins, so concurrent refusals log in once
        self._did: str | None = None
        self._account_handle: str | None = None
        self._tokens: tuple[str, ...] = ()

    def __repr__(self) -> str:
        return f"BlueskyChannel(name={self.name!r}, handle={self._handle!r})"

    # --- the Channel protocol --------------------------------------------------

    def publish(self, request: PublishRequest) -> PublishResult:
        """Create the post under its fixed record key; see the module docstring."""
        self._ensure_session()
        return self._create(request, record_key(request.idempotency_key), None)

    def delete(self, remote_id: str) -> None:
        """Delete the post ``remote_id`` (its ``at://`` URI) with deleteRecord; a
        post already gone returns normally. A lost answer is Ambiguous (settle it
        with ``read_back``)."""
        self._ensure_session()
        rkey = self._own_rkey(remote_id)
        try:
            self._call(
                "delete", True,
                lambda: self._client.com.atproto.repo.delete_record(
                    models.ComAtprotoRepoDeleteRecord.Data(
                        repo=self._require_did(), collection=POST_COLLECTION, rkey=rkey)),
            )
        except _NotFound:  # an older PDS answers RecordNotFound instead of a no-op
            log.info("channel=%s post %s was already gone", self.name, remote_id)

    def read_back(self, remote_id: str) -> str | None:
        """The post's text (its record's ``text``), or None when it is gone."""
        self._ensure_session()
        rkey = self._own_rkey(remote_id)
        try:
            answer = self._call(
                "read back", False,
                lambda: self._client.com.atproto.repo.get_record(
                    models.ComAtprotoRepoGetRecord.Params(
                        repo=self._require_did(), collection=POST_COLLECTION, rkey=rkey)),
            )
        except _NotFound:
            return None
        text = _field(answer.value, "text")
        if not isinstance(text, str):
            raise Transient(f"read back: Bluesky's record {remote_id} has no text")
        return text

    def reply(self, remote_id: str, request: PublishRequest) -> PublishResult:
        """Post ``request`` as a reply to ``remote_id`` (see the module docstring).
        A parent that is gone is Permanent: there is nothing to reply to."""
        self._ensure_session()
        repo, collection, rkey = _split_uri(remote_id)
        try:
            parent = self._call(
                "reply", False,
                lambda: self._client.com.atproto.repo.get_record(
                    models.ComAtprotoRepoGetRecord.Params(
                        repo=repo, collection=collection, rkey=rkey)),
            )
        except _NotFound:
            raise Permanent(f"reply: the Bluesky post {remote_id} is gone") from None
        parent_ref = {"uri": str(parent.uri), "cid": str(parent.cid)}
        root = _field(_field(parent.value, "reply"), "root")
        root_uri, root_cid = _field(root, "uri"), _field(root, "cid")
        root_ref = ({"uri": str(root_uri), "cid": str(root_cid)} if root_uri and root_cid
                    else parent_ref)
        key = record_key(f"{request.idempotency_key}:reply-to:{remote_id}")  # as find_reply
        return self._create(request, key, {"root": root_ref, "parent": parent_ref})

    def find_reply(self, remote_id: str, request: PublishRequest) -> PublishResult | None:
        """The reply ``request`` made to ``remote_id`` when it exists (read by its
        fixed record key), else None."""
        self._ensure_session()
        return self._read(record_key(f"{request.idempotency_key}:reply-to:{remote_id}"))

    def _create(self, request: PublishRequest, rkey: str,
                reply: dict[str, Any] | None) -> PublishResult:
        """Create ``request``'s post under ``rkey`` (a reply when ``reply`` is given)."""
        if request.after_ambiguous:
            found = self._read(rkey)
            if found is not None:
                log.info("post=%s channel=%s found the earlier attempt's record %s",
                         request.post_id, self.name, rkey)
                return _with_notes(found, "the earlier attempt had created it")
        notes: list[str] = []
        record: dict[str, Any] = {
            "$type": POST_COLLECTION,
            "text": request.text,
            "createdAt": _now_iso(),
        }
        facets = build_facets(request.text)
        if facets:
            record["facets"] = facets
        if self._langs:
            record["langs"] = self._langs
        if reply is not None:
            record["reply"] = reply
        embed = self._embed(request, notes)
        if embed is not None:
            record["embed"] = embed
        try:
            answer = self._call(
                "post", True,
                lambda: self._client.com.atproto.repo.create_record(
                    models.ComAtprotoRepoCreateRecord.Data(
                        repo=self._require_did(), collection=POST_COLLECTION, rkey=rkey,
                        record=cast(Any, record))),
            )
        except _Exists:
            found = self._read(rkey)
            if found is None:
                raise Permanent("Bluesky says the record key is taken, but it cannot be read "
                                "back") from None
            return _with_notes(found, *notes, "the record was already there")
        except Transient as exc:
            # Today's reference PDS answers 500 when the key is taken: look before
            # calling it a failure (a 500 that did store the post is covered too).
            if exc.http_status is None or exc.http_status < 500:
                raise
            try:
                found = self._read(rkey)
            except ChannelError:
                raise exc from None
            if found is None:
                raise
            return _with_notes(found, *notes, "the record was already there")
        uri = str(getattr(answer, "uri", "") or "")
        return PublishResult(uri or self._uri(rkey), self._web_url(rkey), http_status=200,
                             notes=tuple(notes))

    def find(self, request: PublishRequest) -> PublishResult | None:
        """The post's record when it exists (read by its fixed key), else None."""
        self._ensure_session()
        return self._read(record_key(request.idempotency_key))

    def whoami(self) -> str:
        """``@handle (did:plc:…)``, checked against the PDS now."""
        self._ensure_session()
        answer = self._call("credential check", False,
                            lambda: self._client.com.atproto.server.get_session())
        self._account_handle, self._did = str(answer.handle), str(answer.did)
        return f"@{answer.handle} ({answer.did})"

    def close(self) -> None:
        """Release the HTTP connections."""
        self._client.request.close()

    # --- posting -----------------------------------------------------------------

    def _embed(self, request: PublishRequest, notes: list[str]) -> dict[str, Any] | None:
        blob: dict[str, Any] | None = None
        picture: ImageFile | None = None
        if request.image is not None and self._with_image:
            uploaded = self._upload(request.image, notes)
            if uploaded is not None:
                blob, picture = uploaded
        if request.link:
            external: dict[str, Any] = {
                "$type": "app.bsky.embed.external#external",
                "uri": request.link,
                "title": (request.title or request.link)[:_CARD_TITLE_MAX],
                "description": request.summary[:_CARD_DESCRIPTION_MAX],
            }
            if blob is not None:
                external["thumb"] = blob
            return {"$type": "app.bsky.embed.external", "external": external}
        if blob is not None and picture is not None and request.image is not None:
            return {
                "$type": "app.bsky.embed.images",
                "images": [{
                    "$type": "app.bsky.embed.images#image",
                    "alt": request.image.alt[:_ALT_TEXT_MAX],
                    "image": blob,
                    "aspectRatio": {"width": picture.width, "height": picture.height},
                }],
            }
        return None

    def _upload(self, image: Image, notes: list[str]) -> tuple[dict[str, Any], ImageFile] | None:
        """The uploaded blob of ``image`` (and the picture), or None with a note.
        Raises only what says the account cannot post now (AuthFailed, RateLimited)."""
        picture = prepared_or_note(image.url, notes, allow_private=self._allow_private_images,
                                   timeout=self._timeout, max_bytes=BLOB_MAX_BYTES,
                                   max_side=_IMAGE_MAX_SIDE)
        if picture is None:
            return None
        try:
            # ``content=`` and not the SDK's ``data`` argument: httpx deprecates raw
            # bytes in ``data``, and the SDK would pass them there.
            answer = self._call(
                "image upload", False,
                lambda: self._client.com.atproto.repo.upload_blob(
                    cast(bytes, None), content=picture.data,
                    headers={"Content-Type": picture.content_type}),
            )
            blob = answer.blob.model_dump(mode="json", by_alias=True)
        except (AuthFailed, RateLimited):
            raise
        except ChannelError as exc:
            notes.append(f"image skipped: upload failed ({exc})")
            return None
        except (AttributeError, ValueError):
            notes.append("image skipped: Bluesky's upload answer had no blob")
            return None
        return blob, picture

    def _read(self, rkey: str) -> PublishResult | None:
        try:
            answer = self._call(
                "look-up", False,
                lambda: self._client.com.atproto.repo.get_record(
                    models.ComAtprotoRepoGetRecord.Params(
                        repo=self._require_did(), collection=POST_COLLECTION, rkey=rkey)),
            )
        except _NotFound:
            return None
        return PublishResult(str(answer.uri), self._web_url(rkey), http_status=200)

    def _own_rkey(self, remote_id: str) -> str:
        """The record key of ``remote_id``, a post of this account; anything
        else is Permanent (this account cannot delete or read it as its own)."""
        repo, collection, rkey = _split_uri(remote_id)
        if collection != POST_COLLECTION or repo not in (self._require_did(),
                                                           self._account_handle, self._handle):
            raise Permanent(f"{remote_id!r} is not a post of this Bluesky account")
        return rkey

    def _uri(self, rkey: str) -> str:
        return f"at://{self._require_did()}/{POST_COLLECTION}/{rkey}"

    def _web_url(self, rkey: str) -> str:
        return f"https://bsky.app/profile/{self._account_handle or self._handle}/post/{rkey}"

    def _require_did(self) -> str:
        if not self._did:
            raise _SessionRejected("no Bluesky session")
        return self._did

    # --- the session ---------------------------------------------------------------

    def _ensure_session(self) -> None:
        with self._lock:
            if self._logged_in:
                return
            saved = self._load_session()
            if saved is not None:
                try:
                    self._client.login(session_string=saved, fetch_bsky_profile=False)
                    self._logged_in = True
                    return
                except (AtProtocolError, ValueError):
                    log.warning("channel=%s the saved Bluesky session is unusable; logging in",
                                self.name)
            self._login()

    def _login(self) -> None:
        """Log in with the handle and app password (createSession)."""
        with self._lock:
            self._logged_in = False
            try:
                self._xrpc("login", False, lambda: self._client.login(
                    self._handle, self._password, fetch_bsky_profile=False))
            except _SessionRejected as exc:
                raise AuthFailed(f"Bluesky refused the handle or app password: {exc}",
                                 http_status=exc.http_status) from None
            self._logged_in = True
            self._generation += 1
            log.info("channel=%s logged in to Bluesky as %s", self.name, self._account_handle)

    def _session_changed(self, event: SessionEvent, session: Session) -> None:
        self._did, self._account_handle = session.did, session.handle
        self._tokens = (session.access_jwt, session.refresh_jwt)
        if event in (SessionEvent.CREATE, SessionEvent.REFRESH):
            self._save_session(session.export())

    def _load_session(self) -> str | None:
        try:
            text = self._session_file.read_text(encoding="utf-8").strip()
        except OSError:
            return None
        try:
            session = Session.decode(text)
        except ValueError:
            return None
        wanted = self._handle.lower()
        if wanted not in (session.handle.lower(), session.did.lower()):
            return None  # a session of another account: the handle changed
        return text

    def _save_session(self, text: str) -> None:
        """Write the session string with mode 0600 (atomically: a crash leaves the old one)."""
        path = self._session_file
        try:
            write_private(path, text)
        except OSError as exc:
            # The post goes on; the next start logs in again.
            log.warning("channel=%s cannot save the Bluesky session to %s (%s)",
                        self.name, path, type(exc).__name__)

    # --- the one boundary for atproto and httpx errors ----------------------------------

    def _call(self, what: str, write: bool, call: Callable[[], T]) -> T:
        """``_xrpc`` with the session: when the PDS refuses the session, log in
        once and repeat the call once (a refused call changed nothing)."""
        generation = self._generation
        try:
            return self._xrpc(what, write, call)
        except _SessionRejected:
            log.info("channel=%s Bluesky refused the session; logging in again", self.name)
        with self._lock:
            if self._generation == generation:  # else another thread has just logged in
                self._login()
        try:
            return self._xrpc(what, write, call)
        except _SessionRejected as exc:
            raise AuthFailed(f"{what}: Bluesky refused a fresh session: {exc}",
                             http_status=exc.http_status) from None

    def _secrets(self) -> tuple[str, ...]:
        return (self._password, *self._tokens)

    def _xrpc(self, what: str, write: bool, call: Callable[[], T]) -> T:
        """Run one atproto call; return its answer or raise the taxonomy error.
        ``write``: the call may create the post (a lost answer is then Ambiguous)."""
        try:
            return call()
        except RateLimitExceededError as exc:
            until = _rate_limit_until(exc)
            raise RateLimited(f"{what}: Bluesky rate limit until {until:%Y-%m-%d %H:%M:%S}Z",
                              until=until, http_status=429) from None
        except RequestErrorBase as exc:
            if exc.response is None:
                raise self._transport_error(what, write, exc.__cause__ or exc) from None
            raise self._response_error(what, exc) from None
        except httpx.HTTPError as exc:  # the SDK lets some through (RemoteProtocolError)
            raise self._transport_error(what, write, exc) from None
        except LoginRequiredError:
            raise _SessionRejected(f"{what}: no usable Bluesky session") from None
        except AtProtocolError as exc:
            # A token the SDK cannot decode, or an answer it cannot read.
            name = type(exc).__name__
            if "Token" in name or "Jwt" in name:
                raise _SessionRejected(f"{what}: the Bluesky session is unusable ({name})") \
                    from None
            error = Ambiguous if write else Transient
            raise error(f"{what}: Bluesky's answer could not be read ({name})") from None
        except ValueError as exc:  # pydantic: a 2xx body that is not what the lexicon says
            error = Ambiguous if write else Transient
            raise error(f"{what}: Bluesky's answer could not be read "
                        f"({type(exc).__name__})") from None

    def _transport_error(self, what: str, write: bool, exc: BaseException) -> ChannelError:
        name = type(exc).__name__
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout |
                      httpx.WriteError | httpx.WriteTimeout | httpx.UnsupportedProtocol):
            # The request never left whole: the PDS cannot have acted on it.
            return Transient(f"{what} to Bluesky: could not send it ({name})")
        if not write:
            return Transient(f"{what} to Bluesky: no answer ({name})")
        return Ambiguous(f"{what} to Bluesky: no answer, the request may have reached it "
                         f"({name})")

    def _response_error(self, what: str, exc: RequestErrorBase) -> ChannelError:
        response = exc.response
        assert response is not None
        status = int(response.status_code)
        content = response.content
        error = str(getattr(content, "error", "") or "")
        message = str(getattr(content, "message", "") or "")
        detail = redact(": ".join(p for p in (error, message) if p) or f"HTTP {status}",
                        self._secrets())
        if status == 401 or (status in (400, 403) and error in _SESSION_ERRORS):
            return _SessionRejected(f"{what}: Bluesky refused the session ({status} {detail})",
                                    http_status=status)
        if status == 403:
            return AuthFailed(f"{what}: Bluesky refused it ({status} {detail})",
                              http_status=status)
        if status == 400 and error == "RecordNotFound":
            return _NotFound(f"{what}: {detail}", http_status=status)
        if status == 409 or error == "RecordAlreadyExists" or (
            status == 400 and "already exist" in message.lower()
        ):
            return _Exists(f"{what}: {detail}", http_status=status)
        if status >= 500:
            return Transient(f"{what}: Bluesky answered {status}: {detail}", http_status=status)
        return Permanent(f"{what}: Bluesky refused it ({status} {detail})", http_status=status)


# --- helpers -----------------------------------------------------------------------



def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _rate_limit_until(exc: RateLimitExceededError) -> datetime:
    """``ratelimit-reset`` (epoch seconds), else ``Retry-After``, else 5 minutes."""
    now = datetime.now(UTC)
    if exc.reset_at is not None:
        return max(exc.reset_at, now + timedelta(seconds=1))
    if exc.retry_after is not None:
        return now + timedelta(seconds=max(exc.retry_after, 1.0))
    return now + _DEFAULT_RATE_WAIT


def _split_uri(uri: str) -> tuple[str, str, str]:
    """``at://<repo>/<collection>/<rkey>`` as its three parts; Permanent otherwise."""
    parts = uri.removeprefix("at://").split("/") if uri.startswith("at://") else []
    if len(parts) != 3 or not all(parts):
        raise Permanent(f"{uri!r} is not the at:// URI of a Bluesky post")
    return parts[0], parts[1], parts[2]


def _field(value: Any, key: str) -> Any:
    """``value[key]`` of a record the SDK gives as a model or as a dict."""
    if value is None:
        return None
    if isinstance(value, dict):
        return value.get(key)
    return getattr(value, key, None)


def _with_notes(result: PublishResult, *notes: str) -> PublishResult:
    return PublishResult(result.remote_id, result.remote_url, http_status=result.http_status,
                         notes=(*result.notes, *notes))
