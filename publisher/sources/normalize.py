"""Text and URL normalisation shared by every source (and by other stages).

- :func:`canonical_url` makes an article link absolute and comparable: two
  links to the same article from two feeds (one with ``utm_*`` parameters,
  one without) give the same string, so the store can tell they are one.
- :func:`plain_text` turns feed HTML into the plain text a social post needs.
"""

from __future__ import annotations

import html
import re
import unicodedata
from datetime import UTC, datetime
from html.parser import HTMLParser
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

from w3lib.url import safe_url_string

__all__ = ["SUMMARY_MAX", "TITLE_FROM_SUMMARY_MAX", "TRACKING_PARAMS", "absolute_http_url",
           "canonical_url", "plain_text", "truncate_words"]

#: Length of an article's summary (feeds, the WordPress API, pages), in characters.
SUMMARY_MAX = 1000
#: Length of a title made from the summary when an entry has none.
TITLE_FROM_SUMMARY_MAX = 100

#: Query parameters that only say where a click came from; dropped from canonical URLs.
TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "gclsrc",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "yclid",
        "twclid",
        "ttclid",
        "igshid",
        "igsh",
        "li_fat_id",
        "mc_cid",
        "mc_eid",
        "_ga",
        "_gl",
        "_hsenc",
        "_hsmi",
        "mkt_tok",
        "ref_src",
        "ref_url",
        "oly_anon_id",
        "oly_enc_id",
        "vero_id",
        "vero_conv",
        "at_medium",
        "at_campaign",
        "cmpid",
        "ncid",
        "sr_share",
        "spm",
        "share_source",
        "wt_mc",
        "wt.mc_id",
    }
)
#: Prefixes of tracking parameter families (Google Analytics, Matomo/Piwik, HubSpot ads).
TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "hsa_")

_DEFAULT_PORTS = {"http": 80, "https": 443}
_URL_WHITESPACE = re.compile(r"[\t\n\r]")


def _is_tracking(name: str) -> bool:
    key = unquote(name).strip().lower()
    return key in TRACKING_PARAMS or key.startswith(TRACKING_PREFIXES)


def _split_http(url: str, base: str | None) -> tuple[str, str, str, str, str] | None:
    """Absolute, ASCII-safe parts of an http(s) URL, or None."""
    if not isinstance(url, str):
        return None
    # Browsers drop tabs and newlines inside URLs; feeds sometimes wrap long links.
    url = _URL_WHITESPACE.sub("", url).strip()
    if not url:
        return None
    try:
        if base:
            url = urljoin(_URL_WHITESPACE.sub("", base).strip(), url)
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS or not parts.hostname:
            return None
        # safe_url_string percent-encodes non-ASCII paths and IDNA-encodes the host,
        # so the same link written two ways compares equal.
        parts = urlsplit(safe_url_string(url))
        host = (parts.hostname or "").lower().rstrip(".")
        port = parts.port  # raises ValueError on a bad port
    except ValueError:
        return None
    if not host:
        return None
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = host if port is None or port == _DEFAULT_PORTS[scheme] else f"{host}:{port}"
    return scheme, netloc, parts.path or "/", parts.query, parts.fragment


def canonical_url(url: str, base: str | None = None) -> str | None:
    """Return the canonical form of an article link, or None when it is not http(s).

    The link is made absolute against ``base``; the scheme and host are
    lower-cased, the default port, user info, fragment and tracking parameters
    (``utm_*``, ``fbclid``, … see :data:`TRACKING_PARAMS`) are dropped. The
    remaining query is kept byte for byte and in order, because the order
    and encoding can matter to the site.
    """
    split = _split_http(url, base)
    if split is None:
        return None
    scheme, netloc, path, query, _fragment = split
    kept = [p for p in query.split("&") if p and not _is_tracking(p.split("=", 1)[0])]
    return urlunsplit((scheme, netloc, path, "&".join(kept), ""))


def absolute_http_url(url: str, base: str | None = None) -> str | None:
    """Return ``url`` absolute and ASCII-safe if it is http(s), else None.

    Unlike :func:`canonical_url` the query is left untouched: image URLs on
    CDNs carry signatures and sizes in it.
    """
    split = _split_http(url, base)
    if split is None:
        return None
    scheme, netloc, path, query, _fragment = split
    return urlunsplit((scheme, netloc, path, query, ""))


# --- HTML → text -------------------------------------------------------------------------

# Elements whose content is never text a reader sees.
_SKIP_CONTENT = frozenset({"script", "style", "noscript", "template", "iframe", "object", "svg"})
# Elements that separate words: without a space "<p>a</p><p>b</p>" would read "ab".
_BLOCK = frozenset(
    {
        "address",
        "article",
        "aside",
        "blockquote",
        "br",
        "dd",
        "div",
        "dl",
        "dt",
        "figcaption",
        "figure",
        "footer",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "img",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "table",
        "td",
        "th",
        "tr",
        "ul",
    }
)
_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
# C0/C1 control characters (but not whitespace, which is folded below).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# Bidirectional embeddings, overrides and isolates, which make text display
# differently from what it holds ("Trojan Source", CVE-2021-42574), and lone
# surrogates (no character at all): removed from feed text.
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_CONTENT:
            self._skip_depth += 1
        elif tag in _BLOCK:
            self.parts.append(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_CONTENT:
            self._skip_depth = max(0, self._skip_depth - 1)
        elif tag in _BLOCK:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._skip_depth:
            self.parts.append(data)


def _strip_tags(text: str) -> str:
    parser = _TextExtractor()
    parser.feed(text)
    parser.close()
    return "".join(parser.parts)


def plain_text(html_text: str, max_length: int | None = None) -> str:
    """Turn an HTML fragment (or text with entities) into one line of plain text.

    Tags are removed and the content of ``script``/``style`` with them;
    entities are decoded, and decoded once more when the result still holds
    an entity (WordPress feeds double-encode: ``&amp;amp;``); control
    characters, bidirectional overrides and lone surrogates are removed,
    whitespace is folded to single spaces and the result is NFC-normalised.
    With ``max_length`` the text is cut at a word boundary and ends with "…",
    never longer than ``max_length``.
    """
    if not html_text:
        return ""
    text = str(html_text)
    if "<" in text or "&" in text:
        text = _strip_tags(text)
        if _ENTITY.search(text):
            text = html.unescape(text)
    text = _BIDI.sub("", _CONTROL.sub(" ", text))
    text = " ".join(text.split())
    text = unicodedata.normalize("NFC", text)
    if max_length is not None:
        text = truncate_words(text, max_length)
    return text


def truncate_words(text: str, max_length: int, ellipsis: str = "…") -> str:
    """Cut ``text`` to at most ``max_length`` characters at a word boundary."""
    if max_length <= 0:
        return ""
    if len(text) <= max_length:
        return text
    room = max_length - len(ellipsis)
    if room <= 0:
        return text[:max_length]
    cut = text[: room + 1]
    space = cut.rfind(" ")
    # A single very long "word" (a URL, CJK text without spaces) is cut mid-word
    # rather than dropped; otherwise end on the last whole word.
    cut = cut[:space] if space >= room // 2 else text[:room]
    return cut.rstrip(" ,;:-–—") + ellipsis


# --- dates -------------------------------------------------------------------------------

#: Dates before this are treated as missing: they come from broken CMS defaults (1970).
EARLIEST_DATE = datetime(1990, 1, 1, tzinfo=UTC)


def sane_date(value: datetime | None) -> datetime | None:
    """Return ``value`` as aware UTC, or None when absent or before 1990."""
    if value is None:
        return None
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value if value >= EARLIEST_DATE else None
