"""The X (Twitter) channel: tweepy 4.17's API v2 ``Client`` with OAuth 1.0a user context.

- Posts with ``POST /2/tweets`` (``Client.create_tweet``). An image comes
  from the shared image cache (downloaded once per post for every channel),
  is fitted under X's 5 MB, and is uploaded with X's v2 media upload
  (``POST /2/media/upload``; tweepy 4.17 only knows the retired v1.1 route),
  signed with the same credentials on the same session; alt text follows with
  ``POST /2/media/metadata``. A picture never fails a post: it is skipped with
  a note, unless X refused the upload for the account's sake (401, 429).
- The account (``GET /2/users/me``) is read before the first post, so a rate
  limit or a refused token there stops the post before it is sent, never
  after (where it could only be swallowed).
- ``find`` pages back through the account's recent posts and matches the article's link
  (``entities.urls[].expanded_url``) or, for a post without a link, its text.
- After the post: ``delete`` (``DELETE /2/tweets/:id``, ``Client.delete_tweet``;
  X answers ``{"data": {"deleted": true}}``; a post already gone, 404
  resource-not-found, is done), ``read_back`` (``GET /2/tweets/:id``: a post
  that is gone is answered 200 with only a resource-not-found entry in
  ``errors``) and ``reply`` (``POST /2/tweets`` with
  ``reply.in_reply_to_tweet_id``; reconciled like a post). X has no edit
  through the API (edits exist only in X's own apps, for 1 hour, for
  subscribers), so there is no ``edit``: a correction is a reply.
- ``base_url`` and the per-request timeout take effect through a transport
  adapter mounted on tweepy's own session (tweepy hard-codes the host and
  passes no timeout); tweepy itself is not patched.

Every tweepy and requests error is translated in ``_send`` and nowhere else.
"""

from __future__ import annotations

import functools
import html
import logging
import threading
import unicodedata
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
import tweepy
from requests_oauthlib import OAuth1

from publisher.channels._http import json_object
from publisher.channels.base import ChannelSpec
from publisher.channels.images import prepared_or_note
from publisher.channels.media import (
    RoutingAdapter,
    canonical_link,
    map_requests_error,
    redact,
)
from publisher.exceptions import (
    AccountBlocked,
    Ambiguous,
    AuthFailed,
    ChannelError,
    Permanent,
    RateLimited,
    Transient,
)
from publisher.types import DeliveryClass, Image, PublishRequest, PublishResult

log = logging.getLogger("publisher.channels.x")

#: The hosts tweepy and our media upload address; base_url replaces them.
_API_HOSTS = ("api.twitter.com", "api.x.com")
_UPLOAD_URL = "https://api.x.com/2/media/upload"
_METADATA_URL = "https://api.x.com/2/media/metadata"
_DUPLICATE = "duplicate content"
#: Problem types that mean the app or token lacks a permission: the channel must pause.
_PERMISSION_PROBLEMS = ("oauth1-permissions", "client-forbidden", "unsupported-authentication")
#: Problem types and titles of X's 402 on the pay-per-use plan when the
#: prepaid credits are spent (``…/2/problems/credits`` with title
#: ``CreditsDepleted``; also seen as ``…/2/problems/credits-depleted``).
_CREDIT_PROBLEMS = ("/problems/credits", "/problems/credits-depleted")
_CREDIT_TITLE = "creditsdepleted"
_DEFAULT_RATE_WAIT = timedelta(minutes=15)
_ALT_TEXT_MAX = 1000
_LOOKBACK = 100
#: X's limits for a tweet_image (5 MB); it downsizes long sides itself.
_IMAGE_MAX_BYTES = 5_000_000
_IMAGE_MAX_SIDE = 4096
#: A look-up pages back this far (a post in doubt is younger: its max_age is
#: 24 h by default), and at most through the 3,200 posts X serves.
_LOOKBACK_TIME = timedelta(hours=48)
_LOOKBACK_PAGES = 32


class _Duplicate(Permanent):
    """X refused the post as a duplicate of one already on the account."""


class _Gone(Permanent):
    """X does not know the post (any more): 404 resource-not-found."""


class XChannel:
    """Publishes to one X account (see the module docstring)."""

    delivery = DeliveryClass.RECONCILABLE

    def __init__(self, spec: ChannelSpec) -> None:
        self.name = spec.name
        self._with_image = spec.flag("with_image", True)
        # Only tests and local setups serve images from private addresses.
        self._allow_private_images = spec.flag("allow_private_images", False)
        self._timeout = spec.timeout
        secrets = spec.secrets
        self._secrets = tuple(str(v) for v in secrets.values() if v)
        self._client = tweepy.Client(
            consumer_key=secrets["api_key"],
            consumer_secret=secrets["api_secret"],
            access_token=secrets["access_token"],
            access_token_secret=secrets["access_token_secret"],
            return_type=requests.Response,  # we want the status and headers, not tweepy's tuple
            wait_on_rate_limit=False,  # the dispatcher waits, not a sleeping worker
        )
        self._session: requests.Session = self._client.session
        adapter = RoutingAdapter(timeout=spec.timeout, base_url=spec.base_url, hosts=_API_HOSTS)
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)
        self._oauth = OAuth1(
            secrets["api_key"], client_secret=secrets["api_secret"],
            resource_owner_key=secrets["access_token"],
            resource_owner_secret=secrets["access_token_secret"], decoding=None,
        )
        self._lock = threading.Lock()
        self._account: tuple[str, str] | None = None  # (id, username) from /2/users/me

    def __repr__(self) -> str:
        return f"XChannel(name={self.name!r})"

    # --- the Channel protocol --------------------------------------------------

    def publish(self, request: PublishRequest) -> PublishResult:
        """Post ``request`` (with its image when there is one); see the module docstring."""
        return self._create(request, "post", None)

    def _create(self, request: PublishRequest, what: str,
                in_reply_to: str | None) -> PublishResult:
        notes: list[str] = []
        media_ids: list[str] = []
        self._me()  # before anything is sent: see the module docstring
        if request.image is not None and self._with_image:
            media_id = self._attach(request.image, notes)
            if media_id is not None:
                media_ids.append(media_id)
        try:
            response = self._send(
                what, True,
                lambda: self._client.create_tweet(
                    text=request.text, media_ids=media_ids or None,
                    in_reply_to_tweet_id=in_reply_to, user_auth=True),
            )
        except _Duplicate:
            if request.after_ambiguous:
                found = self.find(request)
                if found is not None:
                    log.info("post=%s channel=%s duplicate refused: found the earlier post %s",
                             request.post_id, self.name, found.remote_id)
                    return PublishResult(
                        found.remote_id, found.remote_url, http_status=403,
                        notes=(*notes, "X refused a duplicate: the earlier attempt had posted it"),
                    )
            raise Permanent("X refused the post as duplicate content", http_status=403) from None
        tweet_id = (_json(response, write=True).get("data") or {}).get("id")
        if not tweet_id:
            raise Ambiguous(f"X answered {response.status_code} without a post id",
                            http_status=response.status_code)
        return PublishResult(str(tweet_id), self._status_url(str(tweet_id)),
                             http_status=response.status_code, notes=tuple(notes))

    def find(self, request: PublishRequest) -> PublishResult | None:
        """Look for ``request`` among the account's posts of the last
        ``_LOOKBACK_TIME``, paging back through its timeline (X serves the
        newest 3,200): however many posts followed it, a post in doubt is found."""
        user_id, username = self._me()
        wanted_link = canonical_link(request.link) if request.link else None
        wanted_text = _normal_text(request.text)
        horizon = datetime.now(UTC) - _LOOKBACK_TIME
        token: str | None = None
        for _ in range(_LOOKBACK_PAGES):
            response = self._send(
                "look-up", False,
                functools.partial(
                    self._client.get_users_tweets, user_id, max_results=_LOOKBACK,
                    tweet_fields=["entities", "created_at"], pagination_token=token,
                    user_auth=True),
            )
            body = _json(response, write=False)
            tweets = body.get("data") or []
            for tweet in tweets:
                urls = (tweet.get("entities") or {}).get("urls") or []
                links = {canonical_link(u["expanded_url"]) for u in urls
                         if u.get("expanded_url")}
                if (wanted_link is not None and wanted_link in links) or (
                    _tweet_text(tweet) == wanted_text
                ):
                    tweet_id = str(tweet["id"])
                    return PublishResult(tweet_id,
                                         f"https://x.com/{username}/status/{tweet_id}")
            token = (body.get("meta") or {}).get("next_token")
            if not token or not tweets or _created(tweets[-1]) < horizon:
                return None
        return None

    def delete(self, remote_id: str) -> None:
        """Delete the post ``remote_id``; a post already gone returns normally.
        A lost answer is ``Ambiguous`` (settle it with ``read_back``)."""
        try:
            response = self._send("delete", True,
                                  lambda: self._client.delete_tweet(remote_id, user_auth=True))
        except _Gone:
            log.info("channel=%s post %s was already gone", self.name, remote_id)
            return
        if (_json(response, write=True).get("data") or {}).get("deleted") is True:
            return
        # {"deleted": false}: X did not delete it; done only if it is gone anyway.
        if self.read_back(remote_id) is not None:
            raise Permanent(f"X did not delete post {remote_id} (deleted: false)",
                            http_status=response.status_code)

    def read_back(self, remote_id: str) -> str | None:
        """The post's text as submitted (t.co links expanded), or None when X no
        longer has it."""
        try:
            response = self._send(
                "read back", False,
                lambda: self._client.get_tweet(remote_id, tweet_fields=["entities"],
                                               user_auth=True))
        except _Gone:
            return None
        body = _json(response, write=False)
        data = body.get("data")
        if isinstance(data, Mapping) and str(data.get("id") or "") == remote_id:
            return _tweet_text(data)
        errors = [e for e in body.get("errors") or [] if isinstance(e, Mapping)]
        if any(str(e.get("type") or "").endswith("/resource-not-found") for e in errors):
            return None
        words = "; ".join(str(e.get("detail") or e.get("title") or "") for e in errors)
        detail = redact(words or "no errors given", self._secrets)
        raise Transient(f"read back: X's answer for post {remote_id} had neither the post nor "
                        f"a not-found error: {detail}")

    def reply(self, remote_id: str, request: PublishRequest) -> PublishResult:
        """Post ``request`` as a reply to ``remote_id`` (a correction note); after
        an ambiguous attempt a duplicate refusal is settled with ``find`` as for a post."""
        return self._create(request, "reply", remote_id)

    def whoami(self) -> str:
        """``@username (id 123)`` for the credentials, checked against X now."""
        with self._lock:
            self._account = None
        user_id, username = self._me()
        return f"@{username} (id {user_id})"

    def close(self) -> None:
        """Release the HTTP connections."""
        self._session.close()

    # --- image -------------------------------------------------------------------

    def _attach(self, image: Image, notes: list[str]) -> str | None:
        """Upload ``image``; return its media id, or None with a note on why not.
        Raises only what says the account cannot post now (AuthFailed, RateLimited)."""
        picture = prepared_or_note(image.url, notes, allow_private=self._allow_private_images,
                                   timeout=self._timeout, max_bytes=_IMAGE_MAX_BYTES,
                                   max_side=_IMAGE_MAX_SIDE)
        if picture is None:
            return None
        try:
            response = self._send(
                "image upload", False,
                lambda: self._session.post(
                    _UPLOAD_URL, auth=self._oauth,
                    files={"media": (picture.filename, picture.data, picture.content_type)},
                    data={"media_category": "tweet_image"},
                ),
            )
            media_id = _media_id(_json(response, write=False))
        except (AuthFailed, AccountBlocked, RateLimited):
            raise
        except ChannelError as exc:
            notes.append(f"image skipped: upload failed ({exc})")
            return None
        except (KeyError, TypeError):
            notes.append("image skipped: X's upload answer had no media id")
            return None
        if image.alt:
            body: dict[str, Any] = {
                "id": media_id, "metadata": {"alt_text": {"text": image.alt[:_ALT_TEXT_MAX]}},
            }
            try:
                self._send("alt text", False,
                           lambda: self._session.post(_METADATA_URL, json=body, auth=self._oauth))
            except (AuthFailed, AccountBlocked, RateLimited):
                raise
            except ChannelError as exc:
                notes.append(f"alt text skipped: {exc}")
        return media_id

    # --- account -----------------------------------------------------------------

    def _me(self) -> tuple[str, str]:
        with self._lock:
            if self._account is not None:
                return self._account
        response = self._send("account look-up", False,
                              lambda: self._client.get_me(user_auth=True))
        data = _json(response, write=False).get("data") or {}
        if not data.get("id") or not data.get("username"):
            raise Transient("X's /2/users/me answer had no id or username")
        account = (str(data["id"]), str(data["username"]))
        with self._lock:
            self._account = account
        return account

    def _status_url(self, tweet_id: str) -> str:
        try:
            _, username = self._me()
        except ChannelError:  # the post is out; a missing name only changes the URL's form
            return f"https://x.com/i/web/status/{tweet_id}"
        return f"https://x.com/{username}/status/{tweet_id}"

    # --- the one boundary for tweepy and requests errors ---------------------------

    def _send(self, what: str, write: bool,
              call: Callable[[], requests.Response]) -> requests.Response:
        """Run one HTTP call; return its 2xx response or raise the taxonomy error.
        ``write``: the call may change the account (a timeout is then Ambiguous)."""
        try:
            response = call()
        except tweepy.errors.HTTPException as exc:
            raise self._error(what, exc.response) from exc
        except requests.RequestException as exc:
            raise _scrub(map_requests_error(exc, write=write, what=f"{what} to X"),
                         self._secrets) from exc
        if not 200 <= response.status_code < 300:  # our own calls; tweepy raises for these
            raise self._error(what, response)
        return response

    def _error(self, what: str, response: Any) -> ChannelError:
        status = int(response.status_code)
        detail = redact(_problem_message(response), self._secrets)
        if status == 429:
            until = _rate_limit_until(response.headers)
            return RateLimited(f"{what}: X rate limit until {until:%Y-%m-%d %H:%M:%S}Z",
                               until=until, http_status=429)
        if status == 401:
            return AuthFailed("X rejected the credentials (401)", http_status=401)
        if status == 402:
            return self._payment_required(response, detail)
        if status >= 500:
            return Transient(f"{what}: X answered {status}: {detail}", http_status=status)
        if status == 404 and what in ("delete", "read back") and _problem_type(
                response).endswith("/resource-not-found"):
            return _Gone(f"{what}: {detail}", http_status=404)
        if status == 403 and _DUPLICATE in detail.lower():
            return _Duplicate(f"{what}: {detail}", http_status=403)
        if status == 403 and _problem_type(response).endswith(_PERMISSION_PROBLEMS):
            return AuthFailed(f"{what}: X refused the permission: {detail}", http_status=403)
        return Permanent(f"{what}: X refused it ({status}): {detail}", http_status=status)

    def _payment_required(self, response: Any, detail: str) -> AccountBlocked:
        """X's 402: the account may not call the API until someone pays. Nothing a
        retry changes, and nothing wrong with the post: the channel pauses."""
        resume = f"then `publisher resume --channel {self.name}`"
        problem = _problem_type(response).lower().rstrip("/")
        title = str(_body(response).get("title") or "").replace(" ", "").lower()
        if problem.endswith(_CREDIT_PROBLEMS) or title == _CREDIT_TITLE:
            return AccountBlocked(f"X credits depleted: add credits, {resume}", http_status=402)
        return AccountBlocked(
            f"X requires payment before it takes more requests (402: {detail}): "
            f"settle it in the X developer console, {resume}", http_status=402)


# --- helpers -----------------------------------------------------------------------



def _json(response: requests.Response, *, write: bool) -> dict[str, Any]:
    return json_object(response, where="X", write=write)


def _body(response: Any) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _media_id(body: Mapping[str, Any]) -> str:
    """The media id of a v2 upload answer: ``data.id`` as the API reference shows it
    today; the first v2 answers (2025) carried ``id`` at the top level."""
    data = body.get("data")
    value = (data if isinstance(data, Mapping) else body)["id"]
    if not isinstance(value, (str, int)) or isinstance(value, bool) or not str(value):
        raise KeyError("id")
    return str(value)


def _problem_message(response: Any) -> str:
    """X's own words: ``detail``, else ``errors[].message``, else ``title``."""
    body = _body(response)
    if isinstance(body.get("detail"), str) and body["detail"]:
        parts = [body["detail"]]
        parts += [e["message"] for e in body.get("errors") or []
                  if isinstance(e, dict) and isinstance(e.get("message"), str)]
        return " ".join(parts)
    messages = [str(e["message"]) for e in body.get("errors") or []
                if isinstance(e, dict) and isinstance(e.get("message"), str) and e["message"]]
    if messages:
        return "; ".join(messages)
    if isinstance(body.get("title"), str):
        return str(body["title"])
    return str(getattr(response, "reason", "") or "no message")


def _problem_type(response: Any) -> str:
    value = _body(response).get("type")
    return value if isinstance(value, str) else ""


def _rate_limit_until(headers: Mapping[str, str]) -> datetime:
    """When X lets us post again: the 24-hour user limit's reset when it is
    spent, else the endpoint window's reset, else 15 minutes from now."""
    def epoch(name: str) -> datetime | None:
        raw = headers.get(name)
        try:
            return datetime.fromtimestamp(int(str(raw).strip()), UTC) if raw else None
        except (ValueError, OverflowError, OSError):
            return None

    if str(headers.get("x-user-limit-24hour-remaining", "")).strip() == "0":
        daily = epoch("x-user-limit-24hour-reset")
        if daily is not None:
            return daily
    return epoch("x-rate-limit-reset") or datetime.now(UTC) + _DEFAULT_RATE_WAIT


def _created(tweet: Mapping[str, Any]) -> datetime:
    """When X says the post was made (now when it does not say: keep paging)."""
    try:
        return datetime.fromisoformat(str(tweet["created_at"]).replace("Z", "+00:00"))
    except (KeyError, ValueError):
        return datetime.now(UTC)


def _normal_text(text: str) -> str:
    return unicodedata.normalize("NFC", text).strip()


def _tweet_text(tweet: Mapping[str, Any]) -> str:
    """A post's text as it was submitted: X escapes ``&<>``, shortens links to
    t.co and appends a t.co link for attached media; undo all three."""
    text = html.unescape(str(tweet.get("text") or ""))
    for url in (tweet.get("entities") or {}).get("urls") or []:
        short, expanded = url.get("url"), url.get("expanded_url") or ""
        if not short:
            continue
        if url.get("media_key") or "/photo/" in expanded or "/video/" in expanded:
            text = text.replace(short, "")
        elif expanded:
            text = text.replace(short, expanded)
    return _normal_text(text)


def _scrub(error: ChannelError, secrets: tuple[str, ...]) -> ChannelError:
    error.args = tuple(redact(str(a), secrets) for a in error.args)
    return error
