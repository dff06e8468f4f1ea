"""FakeBluesky: the XRPC methods of a PDS that publisher uses, over real HTTP.

Written from the AT Protocol's published contract: the lexicons of
github.com/bluesky-social/atproto (``app.bsky.feed.post``,
``app.bsky.richtext.facet``, ``app.bsky.embed.external``/``images``, copied
with their licence into tests/data/recorded/bluesky and applied by
``tests.fakes.lexicon``), the XRPC and Lexicon specs (atproto.com/specs), the
HTTP API reference (docs.bsky.app: createSession, refreshSession, createRecord,
getRecord, uploadBlob, rate limits) and the reference PDS's answers.

Paths, status codes, headers and JSON bodies follow the reference PDS::

    POST /xrpc/com.atproto.server.createSession   {identifier, password} → tokens (+ didDoc)
    POST /xrpc/com.atproto.server.refreshSession  Bearer <refresh JWT> → new tokens
    GET  /xrpc/com.atproto.server.getSession      the session's handle and did
    POST /xrpc/com.atproto.repo.createRecord      {repo, collection, rkey, record}
    GET  /xrpc/com.atproto.repo.getRecord         ?repo&collection&rkey → {uri, cid, value}
    POST /xrpc/com.atproto.repo.deleteRecord      {repo, collection, rkey, swapRecord?}
                                                  → {commit?}
    GET  /xrpc/com.atproto.repo.listRecords       ?repo&collection&limit&cursor → {records}
    POST /xrpc/com.atproto.repo.uploadBlob        raw bytes → {"blob": {...}}
    GET  /xrpc/com.atproto.identity.resolveHandle ?handle → {did}

Tokens are JWT-shaped (the SDK reads ``exp`` to refresh early) but unsigned.
An access token past its ``exp`` (or expired by ``expire_access_tokens()``)
gets 400 ``ExpiredToken``; an unknown one 401 ``InvalidToken``; a wrong password
401 ``AuthenticationRequired``. ``app.bsky.feed.post`` record keys must have TID
syntax (400 ``InvalidRequest``) and the record must pass its lexicon (text 300
graphemes and 3000 bytes, ``langs`` at most 3, a card's thumbnail at most
1,000,000 bytes of ``image/*``, facets with byte ranges inside the text);
uploads are at most ``blob_limit`` bytes (413 ``PayloadTooLarge``). Like today's reference PDS, a
create under a record key that exists answers 500 ``InternalServerError``;
``existing_rkey = "409"`` answers ``RecordAlreadyExists`` (the coming lexicon
error) and ``"400"`` an ``InvalidRequest`` saying it exists. Every answer
carries ``RateLimit-Limit/Remaining/Reset/Policy``.

After the post (the lexicons ``com.atproto.repo.deleteRecord``: "Delete a
repository record, or ensure it doesn't exist", and ``strongRef``;
docs.bsky.app "Rate Limits"): deleting a record that is not there is a no-op
answered 200 ``{}``, a deleted record is gone at once (getRecord 400
``RecordNotFound``, not in listRecords), ``swapRecord`` that is not the
record's CID is 400 ``InvalidSwap``, another repo than the session's is 401
``AuthRequired`` (the PDS's ``AuthRequiredError``). Writes cost points of the
per-account ``repo-write-hour`` and ``-day`` budgets (``write_points_per_hour``
5,000, ``write_points_per_day`` 35,000: a create 3, a delete 1, the PDS's
``rate-limits.ts``; a delete is charged even when the record is not there);
over one a write is 429 with ``RateLimit-Reset`` when its oldest write leaves
the window. deleteRecord's input is checked against its lexicon. A reply's
``reply.root``/``reply.parent`` must be strong refs (lexicon); like the PDS,
the fake does not look them up (the app view does).
Fault scopes: deleteRecord is ``"delete"`` (``fail_next("reset_after",
on="delete")``: deleted, answer lost).

Use::

    with FakeBluesky(handle="ledger.bsky.social", password="app-pass") as pds:
        spec = ChannelSpec("bsky", "bluesky", secrets={...}, base_url=pds.base_url)
        ...
        assert pds.logins == 1
        assert pds.records[0].value["facets"][0]["index"] == {...}

Switches: those of ``tests.fakes.fakehttp`` (creates are createRecord, uploads
uploadBlob, reads the GETs), ``access_ttl`` (seconds; below 15 minutes the SDK
refreshes before every call), ``expire_access_tokens()``, ``login_fault``
("429" or "500": the next createSession fails so), ``existing_rkey``,
``blob_limit``, ``did_doc`` (include a DID document naming this server as the PDS).
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

from tests.fakes.fakehttp import FakeServer, Reply, Request
from tests.fakes.lexicon import LexiconError, validate_input, validate_record

_TID = re.compile(r"^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$")
_RKEY = re.compile(r"^[A-Za-z0-9._:~-]{1,512}$")
_TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"
POST = "app.bsky.feed.post"


@dataclass
class StoredRecord:
    collection: str
    rkey: str
    uri: str
    cid: str
    value: dict[str, Any]
    created: float


@dataclass
class StoredBlob:
    cid: str
    mime_type: str
    size: int
    data: bytes


@dataclass
class _Token:
    kind: str  # "access" or "refresh"
    exp: float
    expired: bool = False


class FakeBluesky(FakeServer):
    """A fake PDS (see the module docstring)."""

    def __init__(
        self,
        *,
        handle: str = "ledger.bsky.social",
        password: str | None = None,
        did: str = "did:plc:ewvi7nxzyoun6zhxrhs64oiz",
        access_ttl: float = 7200.0,
        refresh_ttl: float = 90 * 86400.0,
        blob_limit: int = 1_000_000,
        existing_rkey: str = "500",
        did_doc: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.user_handle = handle
        self.password = password
        self.did = did
        self.access_ttl = access_ttl
        self.refresh_ttl = refresh_ttl
        self.blob_limit = blob_limit
        self.existing_rkey = existing_rkey
        self.did_doc = did_doc
        self.login_fault: str | None = None
        self.records: list[StoredRecord] = []
        #: Records deleted through deleteRecord, in order.
        self.deleted: list[StoredRecord] = []
        #: The repo-write-hour and -day budgets (the PDS's rate-limits.ts: "creates=3,
        #: puts=2, deletes=1"), points per account.
        self.write_points_per_hour = 5000
        self.write_points_per_day = 35000
        self._writes: list[tuple[float, int]] = []  # (when, points)
        self.blobs: dict[str, StoredBlob] = {}
        self.tokens: dict[str, _Token] = {}
        #: Successful createSession calls, all createSession calls, refreshSession calls.
        self.logins = 0
        self.login_attempts = 0
        self.refreshes = 0
        self._tid = itertools.count(int(time.time() * 1_000_000) << 10)

    # --- classification --------------------------------------------------------

    def scope_of(self, request: Request) -> str:
        if request.path == "/xrpc/com.atproto.repo.createRecord":
            return "create"
        if request.path == "/xrpc/com.atproto.repo.uploadBlob":
            return "upload"
        if request.path == "/xrpc/com.atproto.repo.deleteRecord":
            return "delete"
        return "read" if request.method == "GET" else "other"

    def has_auth(self, request: Request) -> bool:
        return request.headers.get("authorization", "").startswith("Bearer ")

    # --- replies ---------------------------------------------------------------

    def _headers(self, *, remaining: int = 2999, reset: float | None = None) -> dict[str, str]:
        reset = reset if reset is not None else time.time() + 300
        return {
            "RateLimit-Limit": "3000",
            "RateLimit-Remaining": str(remaining),
            "RateLimit-Reset": str(int(reset)),
            "RateLimit-Policy": "3000;w=300",
        }

    def _xrpc_error(self, status: int, error: str, message: str) -> Reply:
        return Reply(status, {"error": error, "message": message}, self._headers())

    def server_error(self, request: Request, status: int) -> Reply:
        if status == 503:
            return self._xrpc_error(503, "NotEnoughResources", "Service Unavailable")
        return self._xrpc_error(status, "InternalServerError", "Internal Server Error")

    def rate_limited(self, request: Request, kind: str, reset: float) -> Reply:
        return Reply(429, {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"},
                     self._headers(remaining=0, reset=reset))

    def handle(self, request: Request) -> Reply:
        method = request.path.removeprefix("/xrpc/")
        if request.method == "POST" and method == "com.atproto.server.createSession":
            return self._create_session(request)
        if request.method == "POST" and method == "com.atproto.server.refreshSession":
            return self._refresh_session(request)
        if request.method == "GET" and method == "com.atproto.identity.resolveHandle":
            if request.param("handle") == self.user_handle:
                return Reply(200, {"did": self.did}, self._headers())
            return self._xrpc_error(400, "InvalidRequest", "Unable to resolve handle")
        problem = self._check_access(request)
        if problem is not None:
            return problem
        if request.method == "GET" and method == "com.atproto.server.getSession":
            return Reply(200, {"handle": self.user_handle, "did": self.did, "active": True,
                               "emailConfirmed": True}, self._headers())
        if request.method == "POST" and method == "com.atproto.repo.createRecord":
            return self._create_record(request)
        if request.method == "GET" and method == "com.atproto.repo.getRecord":
            return self._get_record(request)
        if request.method == "POST" and method == "com.atproto.repo.deleteRecord":
            return self._delete_record(request)
        if request.method == "GET" and method == "com.atproto.repo.listRecords":
            return self._list_records(request)
        if request.method == "POST" and method == "com.atproto.repo.uploadBlob":
            return self._upload_blob(request)
        return self._xrpc_error(501, "MethodNotImplemented", "Method Not Implemented")

    # --- sessions ----------------------------------------------------------------

    def _jwt(self, kind: str, ttl: float) -> str:
        now = int(time.time())
        scope = "com.atproto.appPass" if kind == "access" else "com.atproto.refresh"
        payload = {"scope": scope, "sub": self.did, "aud": "did:web:pds.example",
                   "iat": now, "exp": int(now + ttl), "jti": secrets.token_hex(8)}
        header = {"typ": "at+jwt" if kind == "access" else "refresh+jwt", "alg": "ES256K"}
        token = ".".join(_b64(json.dumps(part).encode()) for part in (header, payload))
        token += "." + _b64(secrets.token_bytes(64))
        with self.lock:
            self.tokens[token] = _Token(kind, now + ttl)
        return token

    def _session_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "did": self.did,
            "handle": self.user_handle,
            "accessJwt": self._jwt("access", self.access_ttl),
            "refreshJwt": self._jwt("refresh", self.refresh_ttl),
            "active": True,
        }
        if self.did_doc:
            body["didDoc"] = {
                "@context": ["https://www.w3.org/ns/did/v1",
                             "https://w3id.org/security/multikey/v1"],
                "id": self.did,
                "alsoKnownAs": [f"at://{self.user_handle}"],
                "verificationMethod": [{
                    "id": f"{self.did}#atproto",
                    "type": "Multikey",
                    "controller": self.did,
                    "publicKeyMultibase": "zQ3shXjHeiBuRCKmM36cuYnm7YEMzhGnCmCyW92sRJ9pribSF",
                }],
                "service": [{"id": "#atproto_pds", "type": "AtprotoPersonalDataServer",
                             "serviceEndpoint": self.base_url}],
            }
        return body

    def _create_session(self, request: Request) -> Reply:
        with self.lock:
            self.login_attempts += 1
            fault, self.login_fault = self.login_fault, None
        if fault == "429":
            return self.rate_limited(request, "429", self.announce_reset())
        if fault is not None:
            return self.server_error(request, int(fault))
        try:
            body = request.json()
            identifier, password = str(body["identifier"]), str(body["password"])
        except (ValueError, KeyError, TypeError):
            return self._xrpc_error(400, "InvalidRequest", "Input must have the property "
                                                           '"identifier"')
        wrong_password = self.password is not None and password != self.password
        if self.revoked or identifier.lower() not in (self.user_handle, self.did) or wrong_password:
            return self._xrpc_error(401, "AuthenticationRequired",
                                    "Invalid identifier or password")
        with self.lock:
            self.logins += 1
        return Reply(200, self._session_body(), self._headers())

    def _refresh_session(self, request: Request) -> Reply:
        token = _bearer(request)
        with self.lock:
            self.refreshes += 1
            known = self.tokens.get(token or "")
            if known is None or known.kind != "refresh" or self.revoked:
                return self._xrpc_error(401, "InvalidToken", "Token could not be verified")
            if known.expired or known.exp < time.time():
                return self._xrpc_error(400, "ExpiredToken", "Token has expired")
            known.expired = True  # a refresh token is used once (rotation)
        return Reply(200, self._session_body(), self._headers())

    def _check_access(self, request: Request) -> Reply | None:
        token = _bearer(request)
        if token is None:
            return self._xrpc_error(401, "AuthMissing", "Authentication Required")
        with self.lock:
            known = self.tokens.get(token)
            if known is None or known.kind != "access" or self.revoked:
                return self._xrpc_error(401, "InvalidToken", "Token could not be verified")
            if known.expired or known.exp < time.time():
                return self._xrpc_error(400, "ExpiredToken", "Token has expired")
        return None

    def expire_access_tokens(self) -> None:
        """Make every access token issued so far expired, whatever its ``exp`` says
        (as when the client's clock runs behind the server's)."""
        with self.lock:
            for token in self.tokens.values():
                if token.kind == "access":
                    token.expired = True

    # --- repository ------------------------------------------------------------------

    def _create_record(self, request: Request) -> Reply:
        try:
            body = request.json()
            repo, collection, record = body["repo"], body["collection"], body["record"]
        except (ValueError, KeyError, TypeError):
            return self._xrpc_error(400, "InvalidRequest", "Input must have the properties "
                                                           "repo, collection, record")
        if repo not in (self.did, self.user_handle):
            return self._xrpc_error(403, "InvalidToken", "Invalid repo")  # the PDS's words
        rkey = body.get("rkey") or self._next_tid()
        if not _RKEY.match(rkey) or rkey in (".", ".."):
            return self._xrpc_error(400, "InvalidRequest", f"Invalid record key: {rkey}")
        if collection == POST:
            problem = self._validate_post(rkey, record)
            if problem is not None:
                return self._xrpc_error(400, "InvalidRequest", problem)
        uri = f"at://{self.did}/{collection}/{rkey}"
        with self.lock:
            limited = self._spend(3)
            if limited is not None:
                return limited
            if any(r.uri == uri for r in self.records):
                if self.existing_rkey == "409":
                    return self._xrpc_error(409, "RecordAlreadyExists",
                                            f"Record already exists: {uri}")
                if self.existing_rkey == "400":
                    return self._xrpc_error(400, "InvalidRequest",
                                            f"Record already exists: {uri}")
                return self._xrpc_error(500, "InternalServerError", "Internal Server Error")
            cid = _cid(0x71, json.dumps(record, sort_keys=True).encode())
            self.records.append(StoredRecord(collection, rkey, uri, cid, record, time.time()))
        body_out = {"uri": uri, "cid": cid,
                    "commit": {"cid": _cid(0x71, uri.encode()), "rev": self._next_tid()},
                    "validationStatus": "valid"}
        return Reply(200, body_out, self._headers())

    def _validate_post(self, rkey: str, record: Any) -> str | None:
        """What the PDS says of an ``app.bsky.feed.post`` it refuses, else None:
        the lexicon (text 300 graphemes / 3000 bytes, langs at most 3 language
        tags, facets and embed shapes, blob sizes and types), then what the
        lexicon cannot say: facet byte ranges inside the text, on character
        boundaries, and blobs that were uploaded, with their type and size."""
        if not _TID.match(rkey):
            return f"Invalid record key for {POST}: must be a TID"
        try:
            validate_record(POST, record)
        except LexiconError as exc:
            return f"Invalid {POST} record: {exc}"
        text = record["text"].encode("utf-8")
        for i, facet in enumerate(record.get("facets") or []):
            start, end = facet["index"]["byteStart"], facet["index"]["byteEnd"]
            if not start < end <= len(text):
                return (f"Invalid {POST} record: Record/facets/{i}/index is outside the text "
                        f"({start}..{end} of {len(text)} bytes)")
            try:
                text[start:end].decode("utf-8")
            except UnicodeDecodeError:
                return (f"Invalid {POST} record: Record/facets/{i}/index splits a character")
        for blob in _blobs(record):
            link = blob["ref"]["$link"]
            stored = self.blobs.get(str(link))
            if stored is None:
                return f"Could not find blob: {link}"
            if blob["mimeType"] != stored.mime_type:
                return ("Referenced Mimetype does not match stored blob. Expected: "
                        f"{stored.mime_type}, Got: {blob['mimeType']}")
            if blob["size"] != stored.size:
                return ("Referenced Size does not match stored blob. Expected: "
                        f"{stored.size}, Got: {blob['size']}")
        return None

    def _get_record(self, request: Request) -> Reply:
        repo, collection, rkey = (request.param("repo"), request.param("collection"),
                                  request.param("rkey"))
        if not repo or not collection or not rkey:
            return self._xrpc_error(400, "InvalidRequest", "Params must have the properties "
                                                           "repo, collection, rkey")
        uri = f"at://{self.did}/{collection}/{rkey}"
        with self.lock:
            found = next((r for r in self.records if r.uri == uri), None)
        if found is None or repo not in (self.did, self.user_handle):
            return self._xrpc_error(400, "RecordNotFound", f"Could not locate record: {uri}")
        return Reply(200, {"uri": found.uri, "cid": found.cid, "value": found.value},
                     self._headers())

    def _spend(self, points: int) -> Reply | None:
        """Charge a write to the hour's and the day's budgets; the 429 (reset
        when the oldest write of the spent window leaves it) when one is spent."""
        now = time.time()
        with self.lock:
            self._writes = [(t, p) for t, p in self._writes if now - t < 86400]
            for window, budget in ((3600, self.write_points_per_hour),
                                   (86400, self.write_points_per_day)):
                inside = [(t, p) for t, p in self._writes if now - t < window]
                if sum(p for _, p in inside) + points > budget:
                    reset = inside[0][0] + window if inside else now + 1
                    self.announce_reset(reset - now)
                    return Reply(429, {"error": "RateLimitExceeded",
                                       "message": "Rate Limit Exceeded"},
                                 self._headers(remaining=0, reset=reset))
            self._writes.append((now, points))
        return None

    def _delete_record(self, request: Request) -> Reply:
        """The reference PDS's deleteRecord.ts: the input checked by the lexicon,
        the write charged (1 point, even when there is nothing to delete), the
        repo must be the session's, and a record that is not there is a no-op."""
        try:
            body = request.json()
            validate_input("com.atproto.repo.deleteRecord", body)
        except LexiconError as exc:
            return self._xrpc_error(400, "InvalidRequest", str(exc))
        except ValueError:
            return self._xrpc_error(400, "InvalidRequest", "Request body is not JSON")
        repo, collection, rkey = body["repo"], body["collection"], body["rkey"]
        limited = self._spend(1)
        if limited is not None:
            return limited
        if repo not in (self.did, self.user_handle):
            return self._xrpc_error(401, "AuthRequired", "Authentication Required")
        uri = f"at://{self.did}/{collection}/{rkey}"
        with self.lock:
            found = next((r for r in self.records if r.uri == uri), None)
            if found is None:
                return Reply(200, {}, self._headers())  # "No-op if record already doesn't exist"
            swap = body.get("swapRecord")
            if swap is not None and swap != found.cid:
                return self._xrpc_error(400, "InvalidSwap", f"Record was at {found.cid}")
            self.records.remove(found)
            self.deleted.append(found)
        commit = {"cid": _cid(0x71, (uri + ":delete").encode()), "rev": self._next_tid()}
        return Reply(200, {"commit": commit}, self._headers())

    def _list_records(self, request: Request) -> Reply:
        """Newest record key first (``reverse`` for oldest first), ``limit`` 50
        (1..100), the ``cursor`` being the last record key of the page."""
        repo, collection = request.param("repo"), request.param("collection")
        if not repo or not collection:
            return self._xrpc_error(400, "InvalidRequest", "Params must have the properties "
                                                           "repo, collection")
        try:
            limit = int(request.param("limit") or 50)
        except ValueError:
            return self._xrpc_error(400, "InvalidRequest", "limit must be an integer")
        if not 1 <= limit <= 100:
            return self._xrpc_error(400, "InvalidRequest", "limit must be 1..100")
        reverse = request.param("reverse") == "true"
        cursor = request.param("cursor")
        with self.lock:
            chosen = sorted((r for r in self.records if r.collection == collection
                             and repo in (self.did, self.user_handle)),
                            key=lambda r: r.rkey, reverse=not reverse)
        if cursor:
            chosen = [r for r in chosen if (r.rkey > cursor if reverse else r.rkey < cursor)]
        page = chosen[:limit]
        body: dict[str, Any] = {"records": [{"uri": r.uri, "cid": r.cid, "value": r.value}
                                            for r in page]}
        if len(chosen) > limit:
            body["cursor"] = page[-1].rkey
        return Reply(200, body, self._headers())

    def _upload_blob(self, request: Request) -> Reply:
        data = request.body
        if len(data) > self.blob_limit:
            return self._xrpc_error(413, "PayloadTooLarge", "request entity too large")
        if not data:
            return self._xrpc_error(400, "InvalidRequest", "Request encoding (Content-Type) "
                                                           "required but not provided")
        mime = request.headers.get("content-type", "*/*")
        if mime in ("*/*", "application/octet-stream"):
            mime = _sniff(data) or mime
        cid = _cid(0x55, data)
        with self.lock:
            self.blobs[cid] = StoredBlob(cid, mime, len(data), data)
        blob = {"$type": "blob", "ref": {"$link": cid}, "mimeType": mime, "size": len(data)}
        return Reply(200, {"blob": blob}, self._headers())

    def _next_tid(self) -> str:
        value = next(self._tid)
        chars = []
        for _ in range(13):
            chars.append(_TID_ALPHABET[value & 31])
            value >>= 5
        return "".join(reversed(chars))

    # --- helpers for tests -----------------------------------------------------

    def posts(self) -> list[StoredRecord]:
        with self.lock:
            return [r for r in self.records if r.collection == POST]

    def requests_to_method(self, nsid: str) -> list[Any]:
        with self.lock:
            return [r for r in self.requests if r.path == f"/xrpc/{nsid}"]


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    return header[len("Bearer "):] if header.startswith("Bearer ") else None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _cid(codec: int, data: bytes) -> str:
    """A CIDv1 (sha2-256) in base32, as atproto writes them ("bafkrei…", "bafyrei…")."""
    raw = bytes([0x01, codec, 0x12, 0x20]) + hashlib.sha256(data).digest()
    return "b" + base64.b32encode(raw).decode().lower().rstrip("=")


def _blobs(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, dict):
        if value.get("$type") == "blob":
            return [value]
        return [b for v in value.values() for b in _blobs(v)]
    if isinstance(value, list):
        return [b for v in value for b in _blobs(v)]
    return []


def _sniff(data: bytes) -> str | None:
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    return None
