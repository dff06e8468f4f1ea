"""A record validator driven by the AT Protocol lexicons themselves.

The lexicon JSON files in ``tests/data/recorded/bluesky/lexicons`` are copied
from github.com/bluesky-social/atproto (see the README there); FakeBluesky
validates every ``app.bsky.feed.post`` with them, so its limits are the
lexicon's, not what our adapter happens to send; procedures' input bodies
(``validate_input``) are checked the same way. The rules follow the Lexicon
specification (atproto.com/specs/lexicon):

- ``object``: ``required`` properties present, ``nullable`` ones may be null,
  each known property valid; unknown properties are allowed;
- ``string``: ``maxLength``/``minLength`` in UTF-8 bytes, ``maxGraphemes``/
  ``minGraphemes`` in extended grapheme clusters, ``const``/``enum``, and the
  formats ``language``, ``uri``, ``datetime``, ``did``, ``at-uri``, ``cid``;
- ``integer`` (``minimum``/``maximum``), ``boolean``;
- ``array``: ``maxLength``/``minLength`` elements, each item valid;
- ``ref`` and ``union`` (``$type`` required; a type outside ``refs`` passes
  unless the union is ``closed``, as the reference implementation does);
- ``blob``: ``{"$type": "blob", "ref": {"$link"}, "mimeType", "size"}`` with
  ``maxSize`` and ``accept`` (``image/*``) checked.

Messages are worded as @atproto/lexicon words them (``Record/langs must not
have more than 3 elements``).
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import regex

LEXICONS = Path(__file__).resolve().parents[1] / "data" / "recorded" / "bluesky" / "lexicons"

_FORMATS = {
    # RFC 5646 syntax, loosely (the adapter's own check is the strict one).
    "language": re.compile(
        r"^(?:[A-Za-z]{2,8}(?:-[A-Za-z0-9]{1,8})*|[xXiI](?:-[A-Za-z0-9]{1,8})+)$"),
    "uri": re.compile(r"^[a-z][a-z0-9+.-]*:\S+$", re.IGNORECASE),
    "did": re.compile(r"^did:[a-z]+:[A-Za-z0-9._:%-]*[A-Za-z0-9._-]$"),
    "at-uri": re.compile(r"^at://\S+$"),
    "cid": re.compile(r"^[A-Za-z0-9+/=]{8,}$"),
}


class LexiconError(ValueError):
    """A value the lexicon does not allow; ``str()`` is the PDS's message."""


@cache
def lexicon(nsid: str) -> dict[str, Any]:
    """The lexicon document ``nsid`` (``app.bsky.feed.post``)."""
    path = LEXICONS.joinpath(*nsid.split(".")).with_suffix(".json")
    doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return doc


def _resolve(ref: str, context: str) -> tuple[str, dict[str, Any]]:
    nsid, _, name = ref.partition("#")
    nsid = nsid or context
    return nsid, lexicon(nsid)["defs"][name or "main"]


def validate_record(nsid: str, value: Any) -> None:
    """Raise LexiconError when ``value`` is no valid record of ``nsid``."""
    definition = lexicon(nsid)["defs"]["main"]
    _validate(definition["record"], value, "Record", nsid)


def validate_input(nsid: str, value: Any) -> None:
    """Raise LexiconError when ``value`` is no valid input body of the
    procedure ``nsid`` (``com.atproto.repo.deleteRecord``)."""
    definition = lexicon(nsid)["defs"]["main"]
    _validate(definition["input"]["schema"], value, "Input", nsid)


def _validate(spec: dict[str, Any], value: Any, path: str, context: str) -> None:
    kind = spec["type"]
    if kind == "ref":
        target_nsid, target = _resolve(spec["ref"], context)
        _validate(target, value, path, target_nsid)
    elif kind == "union":
        _union(spec, value, path, context)
    elif kind in ("object", "record"):
        _object(spec, value, path, context)
    elif kind == "array":
        if not isinstance(value, list):
            raise LexiconError(f"{path} must be an array")
        if "maxLength" in spec and len(value) > spec["maxLength"]:
            raise LexiconError(f"{path} must not have more than {spec['maxLength']} elements")
        if "minLength" in spec and len(value) < spec["minLength"]:
            raise LexiconError(f"{path} must not have fewer than {spec['minLength']} elements")
        for i, item in enumerate(value):
            _validate(spec["items"], item, f"{path}/{i}", context)
    elif kind == "string":
        _string(spec, value, path)
    elif kind == "integer":
        if not isinstance(value, int) or isinstance(value, bool):
            raise LexiconError(f"{path} must be an integer")
        if "minimum" in spec and value < spec["minimum"]:
            raise LexiconError(f"{path} can not be less than {spec['minimum']}")
        if "maximum" in spec and value > spec["maximum"]:
            raise LexiconError(f"{path} can not be greater than {spec['maximum']}")
    elif kind == "boolean":
        if not isinstance(value, bool):
            raise LexiconError(f"{path} must be a boolean")
    elif kind == "blob":
        _blob(spec, value, path)
    # "unknown", "bytes", "cid-link": nothing the fake needs to check.


def _object(spec: dict[str, Any], value: Any, path: str, context: str) -> None:
    if not isinstance(value, dict):
        raise LexiconError(f"{path} must be an object")
    nullable = set(spec.get("nullable", ()))
    for key in spec.get("required", ()):
        if key not in value or (value[key] is None and key not in nullable):
            raise LexiconError(f'{path} must have the property "{key}"')
    for key, prop in spec.get("properties", {}).items():
        if key in value and not (value[key] is None and key in nullable):
            _validate(prop, value[key], f"{path}/{key}", context)


def _union(spec: dict[str, Any], value: Any, path: str, context: str) -> None:
    if not isinstance(value, dict) or not isinstance(value.get("$type"), str):
        raise LexiconError(f'{path} must be an object which includes the "$type" property')
    wanted = value["$type"].removesuffix("#main")
    for ref in spec["refs"]:
        nsid, _, name = ref.partition("#")
        full = f"{nsid or context}#{name}" if name and name != "main" else (nsid or context)
        if full == wanted:
            target_nsid, target = _resolve(ref, context)
            _validate(target, value, path, target_nsid)
            return
    if spec.get("closed"):
        raise LexiconError(f"{path} $type must be one of {', '.join(spec['refs'])}")


def _string(spec: dict[str, Any], value: Any, path: str) -> None:
    if not isinstance(value, str):
        raise LexiconError(f"{path} must be a string")
    size = len(value.encode("utf-8"))
    if "maxLength" in spec and size > spec["maxLength"]:
        raise LexiconError(f"{path} must not be longer than {spec['maxLength']} characters")
    if "minLength" in spec and size < spec["minLength"]:
        raise LexiconError(f"{path} must not be shorter than {spec['minLength']} characters")
    if "maxGraphemes" in spec or "minGraphemes" in spec:
        graphemes = len(regex.findall(r"\X", value))
        if "maxGraphemes" in spec and graphemes > spec["maxGraphemes"]:
            raise LexiconError(
                f"{path} must not be longer than {spec['maxGraphemes']} graphemes")
        if "minGraphemes" in spec and graphemes < spec["minGraphemes"]:
            raise LexiconError(
                f"{path} must not be shorter than {spec['minGraphemes']} graphemes")
    if "const" in spec and value != spec["const"]:
        raise LexiconError(f"{path} must be {spec['const']}")
    if "enum" in spec and value not in spec["enum"]:
        raise LexiconError(f"{path} must be one of ({'|'.join(spec['enum'])})")
    fmt = spec.get("format")
    if fmt == "datetime":
        try:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise LexiconError(f"{path} must be an valid atproto datetime") from None
    elif fmt in _FORMATS and not _FORMATS[fmt].match(value):
        article = "an" if fmt[0] in "aeiou" else "a"
        raise LexiconError(f"{path} must be {article} valid {fmt}")


def _blob(spec: dict[str, Any], value: Any, path: str) -> None:
    if not (isinstance(value, dict) and value.get("$type") == "blob"
            and isinstance((value.get("ref") or {}).get("$link"), str)
            and isinstance(value.get("mimeType"), str)
            and isinstance(value.get("size"), int)):
        raise LexiconError(f"{path} should be a blob ref")
    if "maxSize" in spec and value["size"] > spec["maxSize"]:
        raise LexiconError(f"{path} is too large: {value['size']} bytes, "
                           f"at most {spec['maxSize']}")
    accept = spec.get("accept")
    if accept and not any(_mime_matches(value["mimeType"], pattern) for pattern in accept):
        raise LexiconError(f"{path} has the wrong type of file: {value['mimeType']}, "
                           f"not {', '.join(accept)}")


def _mime_matches(mime: str, pattern: str) -> bool:
    if pattern == "*/*":
        return True
    if pattern.endswith("/*"):
        return mime.startswith(pattern[:-1])
    return mime == pattern
