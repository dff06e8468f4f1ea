"""An article's image, fetched once per post and fitted to each platform's limits.

- :class:`ImageCache` keeps downloaded images (``media.download_image``) for a
  few minutes, keyed by URL, so the channels an article fans out to share one
  download: Mastodon, Bluesky and Telegram publishing the same article at once
  cost the news site one request. Concurrent requests for one URL wait for the
  first download instead of starting their own. Only successes are kept.
- :func:`fit_image` makes an image acceptable to a platform: a format it takes
  (WebP and GIF become JPEG or PNG, GIF's first frame), at most ``max_side``
  pixels on its longer side, and under ``max_bytes`` (downscaling and JPEG
  quality steps). EXIF orientation is applied to the pixels and every other
  piece of metadata (EXIF with its GPS position, ICC, comments) is dropped on
  re-encoding. An image that already fits is returned unchanged.

Both raise ``media.ImageError``, which adapters turn into a note on the post.
"""

from __future__ import annotations

import io
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from publisher.channels.media import ImageError, ImageFile, download_image

__all__ = [
    "DOWNLOAD_MAX_BYTES",
    "ImageCache",
    "fit_image",
    "shared_cache",
]

#: How much of an article image adapters download before fitting it (20 MB).
DOWNLOAD_MAX_BYTES = 20_000_000

_MIME = {"JPEG": ("image/jpeg", "jpg"), "PNG": ("image/png", "png")}
_JPEG_QUALITIES = (90, 85, 80, 72, 64, 55, 45)
_SCALE_STEP = 0.8
_MIN_SIDE = 64  # below this an image is no use to anyone: give up instead


@dataclass
class _Entry:
    image: ImageFile
    expires: float


class ImageCache:
    """A small, thread-safe, expiring cache of downloaded images (see the module docstring).

    ``max_entries`` and ``max_total_bytes`` bound it (the least recently used
    entries go first); an entry is dropped ``ttl`` seconds after it was fetched.
    """

    def __init__(
        self,
        *,
        max_entries: int = 64,
        max_total_bytes: int = 100_000_000,
        ttl: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
        download: Callable[..., ImageFile] = download_image,
    ) -> None:
        self.max_entries = max_entries
        self.max_total_bytes = max_total_bytes
        self.ttl = ttl
        self._clock = clock
        self._download = download
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[str, bool], _Entry] = OrderedDict()
        self._inflight: dict[tuple[str, bool], threading.Lock] = {}
        self._total = 0
        #: How many downloads the cache started (for tests and the benchmark).
        self.downloads = 0

    def get(self, url: str, *, allow_private: bool = False,
            max_bytes: int = DOWNLOAD_MAX_BYTES, timeout: float = 10.0) -> ImageFile:
        """The image at ``url``: from the cache when fetched in the last ``ttl``
        seconds, else downloaded now. Raises ``ImageError``.

        ``allow_private`` is part of the key: an image one channel may fetch from
        a private address is not handed to a channel that may not.
        """
        key = (url, allow_private)
        cached = self._lookup(key)
        if cached is None:
            with self._lock:
                gate = self._inflight.setdefault(key, threading.Lock())
            with gate:  # one download per URL at a time; the others wait for it
                cached = self._lookup(key)
                if cached is None:
                    with self._lock:
                        self.downloads += 1
                    try:
                        cached = self._download(url, max_bytes=max_bytes, timeout=timeout,
                                                allow_private=allow_private)
                    finally:
                        with self._lock:
                            self._inflight.pop(key, None)
                    self._store(key, cached)
        if len(cached.data) > max_bytes:
            raise ImageError(f"too large ({len(cached.data)} bytes > {max_bytes})")
        return cached

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._entries.clear()
            self._total = 0

    def __len__(self) -> int:
        with self._lock:
            self._expire(self._clock())
            return len(self._entries)

    @property
    def total_bytes(self) -> int:
        with self._lock:
            return self._total

    def _lookup(self, key: tuple[str, bool]) -> ImageFile | None:
        with self._lock:
            self._expire(self._clock())
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
            return entry.image

    def _store(self, key: tuple[str, bool], image: ImageFile) -> None:
        size = len(image.data)
        if size > self.max_total_bytes:
            return  # would evict everything else for one picture
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._total -= len(old.image.data)
            self._entries[key] = _Entry(image, self._clock() + self.ttl)
            self._total += size
            while self._entries and (
                len(self._entries) > self.max_entries or self._total > self.max_total_bytes
            ):
                _, evicted = self._entries.popitem(last=False)
                self._total -= len(evicted.image.data)

    def _expire(self, now: float) -> None:
        for key in [k for k, e in self._entries.items() if e.expires <= now]:
            self._total -= len(self._entries.pop(key).image.data)


_SHARED: ImageCache | None = None
_SHARED_LOCK = threading.Lock()


def shared_cache() -> ImageCache:
    """The process-wide cache the channel adapters share."""
    global _SHARED
    with _SHARED_LOCK:
        if _SHARED is None:
            _SHARED = ImageCache()
        return _SHARED


def prepared_image(url: str, *, allow_private: bool, timeout: float, max_bytes: int,
                   max_side: int | None = None,
                   formats: Iterable[str] = ("JPEG", "PNG")) -> ImageFile:
    """The image at ``url`` for one platform: downloaded once for every
    channel (``shared_cache``), then fitted (``fit_image``).  Raises
    ``ImageError``."""
    picture = shared_cache().get(url, allow_private=allow_private,
                                 max_bytes=DOWNLOAD_MAX_BYTES, timeout=timeout)
    return fit_image(picture, max_bytes=max_bytes, max_side=max_side, formats=formats)



def prepared_or_note(url: str, notes: list[str], *, allow_private: bool, timeout: float,
                     max_bytes: int, max_side: int | None = None) -> ImageFile | None:
    """``prepared_image`` of ``url``, or None with the note ``image skipped: …``
    in ``notes`` when it cannot go (the post goes without it)."""
    try:
        return prepared_image(url, allow_private=allow_private, timeout=timeout,
                              max_bytes=max_bytes, max_side=max_side)
    except ImageError as exc:
        notes.append(f"image skipped: {exc}")
        return None


def fit_image(
    image: ImageFile,
    *,
    max_bytes: int,
    max_side: int | None = None,
    formats: Iterable[str] = ("JPEG", "PNG"),
) -> ImageFile:
    """``image`` in one of ``formats`` ("JPEG", "PNG"), at most ``max_side`` pixels
    on its longer side and under ``max_bytes``; see the module docstring.
    Raises ``ImageError`` when it cannot be made to fit."""
    allowed = tuple(f for f in formats if f in _MIME)
    if not allowed:
        raise ValueError(f"fit_image writes only {', '.join(_MIME)}, not {tuple(formats)}")
    picture = _open(image.data)
    with picture:
        source_format = picture.format or ""
        orientation = _orientation(picture)
        side_ok = max_side is None or max(picture.size) <= max_side
        if (source_format in allowed and len(image.data) <= max_bytes and side_ok
                and orientation in (None, 1)):
            return image
        try:
            picture.seek(0)  # GIF, animated WebP: the first frame
            upright = ImageOps.exif_transpose(picture)
            upright.load()
        except (OSError, ValueError, SyntaxError):
            raise ImageError("corrupt image") from None
    has_alpha = upright.mode in ("RGBA", "LA", "PA") or (
        upright.mode == "P" and "transparency" in upright.info
    )
    if source_format in allowed:
        first = source_format
    else:
        first = "PNG" if has_alpha and "PNG" in allowed else allowed[0]
    # PNG first when it is the source's format or needed for transparency; JPEG
    # (when allowed) is the fallback that shrinks a photo saved as PNG.
    order = [first] + [f for f in ("JPEG", "PNG") if f in allowed and f != first]
    scale = 1.0
    if max_side is not None and max(upright.size) > max_side:
        scale = max_side / max(upright.size)
    stem = image.filename.rsplit(".", 1)[0] or "image"
    while True:
        width = max(1, round(upright.width * scale))
        height = max(1, round(upright.height * scale))
        if min(width, height) < _MIN_SIDE and scale < 1.0:
            raise ImageError(f"cannot fit the image under {max_bytes} bytes")
        frame = upright if (width, height) == upright.size else upright.resize(
            (width, height), Image.Resampling.LANCZOS)
        for fmt in order:
            data = _encode(frame, fmt, max_bytes)
            if data is not None:
                content_type, ext = _MIME[fmt]
                return ImageFile(data, content_type, f"{stem}.{ext}", width, height)
        scale *= _SCALE_STEP


def _open(data: bytes) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return Image.open(io.BytesIO(data))
    except (UnidentifiedImageError, Image.DecompressionBombError,
            Image.DecompressionBombWarning):
        raise ImageError("not an image (or an unsafe one)") from None
    except (OSError, ValueError, SyntaxError):
        raise ImageError("corrupt image") from None


def _orientation(picture: Image.Image) -> int | None:
    try:
        value = picture.getexif().get(0x0112)  # Orientation
    except (OSError, ValueError, SyntaxError):
        return None
    return value if isinstance(value, int) else None


def _encode(frame: Image.Image, fmt: str, max_bytes: int) -> bytes | None:
    """``frame`` as ``fmt`` without metadata, or None when no setting gets it under
    ``max_bytes``."""
    if fmt == "PNG":
        source = frame if frame.mode in ("RGB", "RGBA", "L", "LA", "P") else frame.convert("RGBA")
        out = io.BytesIO()
        source.save(out, "PNG", optimize=True)
        data = out.getvalue()
        return data if len(data) <= max_bytes else None
    rgb = _flatten(frame)
    for quality in _JPEG_QUALITIES:
        out = io.BytesIO()
        rgb.save(out, "JPEG", quality=quality, optimize=True, progressive=True)
        data = out.getvalue()
        if len(data) <= max_bytes:
            return data
    return None


def _flatten(frame: Image.Image) -> Image.Image:
    """``frame`` as RGB (or L), transparency laid on white: JPEG has no alpha."""
    if frame.mode in ("RGB", "L"):
        return frame
    rgba = frame.convert("RGBA")
    background = Image.new("RGB", rgba.size, (255, 255, 255))
    background.paste(rgba, mask=rgba.getchannel("A"))
    return background
