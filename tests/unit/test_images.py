"""ImageCache and fit_image, with images Pillow makes here, served over real HTTP."""

from __future__ import annotations

import io
import random
import threading
from collections.abc import Iterator

import pytest
from PIL import Image as PILImage

from publisher.channels.images import ImageCache, fit_image, shared_cache
from publisher.channels.media import ImageError, ImageFile
from tests.fakes.fakehttp import FileServer


def _encode(image: PILImage.Image, fmt: str, **kwargs: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **kwargs)
    return out.getvalue()


def _noise(width: int, height: int, seed: int = 1) -> PILImage.Image:
    rng = random.Random(seed)
    return PILImage.frombytes("RGB", (width, height), rng.randbytes(width * height * 3))


def _file(data: bytes, name: str = "photo.bin") -> ImageFile:
    with PILImage.open(io.BytesIO(data)) as probe:
        fmt, size = probe.format or "", probe.size
    content_type = {"JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif",
                    "WEBP": "image/webp"}[fmt]
    return ImageFile(data, content_type, name, *size)


def _open(image: ImageFile) -> PILImage.Image:
    return PILImage.open(io.BytesIO(image.data))


PNG = _encode(PILImage.new("RGB", (64, 48), (200, 30, 30)), "PNG")


@pytest.fixture
def site() -> Iterator[FileServer]:
    server = FileServer({"/a.png": (PNG, "image/png"), "/b.png": (PNG, "image/png"),
                         "/c.png": (PNG, "image/png")})
    with server:
        yield server
    assert not server.errors, server.errors[0]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# --- ImageCache ----------------------------------------------------------------------


def test_second_get_comes_from_the_cache(site: FileServer) -> None:
    cache = ImageCache()
    first = cache.get(site.url("/a.png"), allow_private=True)
    second = cache.get(site.url("/a.png"), allow_private=True)
    assert second is first
    assert first.content_type == "image/png" and (first.width, first.height) == (64, 48)
    assert len(site.requests) == 1
    assert cache.downloads == 1 and len(cache) == 1 and cache.total_bytes == len(PNG)


def test_loopback_is_refused_without_allow_private(site: FileServer) -> None:
    cache = ImageCache()
    with pytest.raises(ImageError, match="refusing non-public address"):
        cache.get(site.url("/a.png"))
    assert site.requests == []
    # A download allowed for one caller is not handed to a caller that may not fetch it.
    cache.get(site.url("/a.png"), allow_private=True)
    with pytest.raises(ImageError):
        cache.get(site.url("/a.png"))


def test_entries_expire(site: FileServer) -> None:
    clock = Clock()
    cache = ImageCache(ttl=600, clock=clock)
    cache.get(site.url("/a.png"), allow_private=True)
    clock.now += 599
    cache.get(site.url("/a.png"), allow_private=True)
    assert len(site.requests) == 1
    clock.now += 2
    assert len(cache) == 0
    cache.get(site.url("/a.png"), allow_private=True)
    assert len(site.requests) == 2


def test_least_recently_used_goes_first(site: FileServer) -> None:
    cache = ImageCache(max_entries=2)
    for path in ("/a.png", "/b.png", "/a.png", "/c.png"):
        cache.get(site.url(path), allow_private=True)
    assert len(cache) == 2
    cache.get(site.url("/a.png"), allow_private=True)  # kept: used after /b.png
    assert [r.path for r in site.requests] == ["/a.png", "/b.png", "/c.png"]
    cache.get(site.url("/b.png"), allow_private=True)  # evicted
    assert [r.path for r in site.requests][-1] == "/b.png"


def test_total_bytes_are_bounded(site: FileServer) -> None:
    cache = ImageCache(max_total_bytes=len(PNG) * 2)
    for path in ("/a.png", "/b.png", "/c.png"):
        cache.get(site.url(path), allow_private=True)
    assert len(cache) == 2
    assert cache.total_bytes <= len(PNG) * 2


def test_failures_are_not_cached(site: FileServer) -> None:
    cache = ImageCache()
    with pytest.raises(ImageError, match="HTTP 404"):
        cache.get(site.url("/later.png"), allow_private=True)
    site.files["/later.png"] = (PNG, "image/png")
    assert cache.get(site.url("/later.png"), allow_private=True).width == 64


def test_smaller_limit_than_the_cached_image(site: FileServer) -> None:
    cache = ImageCache()
    cache.get(site.url("/a.png"), allow_private=True)
    with pytest.raises(ImageError, match="too large"):
        cache.get(site.url("/a.png"), allow_private=True, max_bytes=10)


def test_concurrent_gets_download_once(site: FileServer) -> None:
    site.latency = 0.2  # the first download is still running when the others ask
    cache = ImageCache()
    results: list[ImageFile] = []
    errors: list[BaseException] = []

    def fetch() -> None:
        try:
            results.append(cache.get(site.url("/a.png"), allow_private=True))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=fetch) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(results) == 5
    assert len(site.requests) == 1


def test_shared_cache_is_one_object() -> None:
    assert shared_cache() is shared_cache()


# --- fit_image -------------------------------------------------------------------------


def test_an_image_that_fits_is_returned_unchanged() -> None:
    image = _file(PNG, "a.png")
    assert fit_image(image, max_bytes=1_000_000, max_side=100) is image


def test_large_photo_is_downscaled_and_recompressed() -> None:
    data = _encode(_noise(1600, 1200), "JPEG", quality=95)
    assert len(data) > 1_000_000
    fitted = fit_image(_file(data, "big.jpg"), max_bytes=300_000)
    assert len(fitted.data) <= 300_000
    assert fitted.content_type == "image/jpeg" and fitted.filename == "big.jpg"
    with _open(fitted) as probe:
        probe.verify()
    with _open(fitted) as probe:
        assert probe.format == "JPEG"
        assert probe.size == (fitted.width, fitted.height)
        assert fitted.width / fitted.height == pytest.approx(4 / 3, rel=0.01)


def test_max_side_is_honoured() -> None:
    data = _encode(PILImage.new("RGB", (3000, 1000), (10, 20, 30)), "PNG")
    fitted = fit_image(_file(data, "wide.png"), max_bytes=5_000_000, max_side=1200)
    assert (fitted.width, fitted.height) == (1200, 400)
    assert fitted.content_type == "image/png"


@pytest.mark.parametrize(("fmt", "expected"), [("WEBP", "image/jpeg"), ("GIF", "image/jpeg")])
def test_unsupported_formats_are_converted(fmt: str, expected: str) -> None:
    data = _encode(PILImage.new("RGB", (80, 60), (0, 128, 255)), fmt)
    fitted = fit_image(_file(data, "pic." + fmt.lower()), max_bytes=1_000_000)
    assert fitted.content_type == expected
    assert fitted.filename == "pic.jpg"
    assert (fitted.width, fitted.height) == (80, 60)


def test_animated_gif_keeps_its_first_frame() -> None:
    frames = [PILImage.new("RGB", (40, 30), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    fitted = fit_image(_file(out.getvalue(), "anim.gif"), max_bytes=1_000_000)
    with _open(fitted) as probe:
        red, _green, blue = probe.convert("RGB").getpixel((20, 15))
    assert red > 200 and blue < 50


def test_transparent_webp_becomes_png() -> None:
    data = _encode(PILImage.new("RGBA", (50, 50), (255, 0, 0, 128)), "WEBP", lossless=True)
    fitted = fit_image(_file(data, "logo.webp"), max_bytes=1_000_000)
    assert fitted.content_type == "image/png"
    with _open(fitted) as probe:
        assert probe.mode == "RGBA"


def test_exif_orientation_is_applied_and_metadata_dropped() -> None:
    exif = PILImage.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    exif[0x010F] = "CameraMaker"
    source = PILImage.new("RGB", (40, 20), (0, 0, 0))
    source.paste((255, 255, 255), (0, 0, 20, 20))  # the left half is white
    data = _encode(source, "JPEG", exif=exif.tobytes(), quality=95)
    fitted = fit_image(_file(data, "rotated.jpg"), max_bytes=1_000_000)
    assert (fitted.width, fitted.height) == (20, 40)
    with _open(fitted) as probe:
        assert dict(probe.getexif()) == {}
        # Rotated clockwise, the white left half is now on top.
        assert probe.convert("L").getpixel((10, 5)) > 200
        assert probe.convert("L").getpixel((10, 35)) < 60


def test_png_photo_falls_back_to_jpeg_when_png_cannot_fit() -> None:
    data = _encode(_noise(600, 400, seed=2), "PNG")
    fitted = fit_image(_file(data, "photo.png"), max_bytes=120_000)
    assert fitted.content_type == "image/jpeg"
    assert len(fitted.data) <= 120_000


def test_png_only_keeps_png() -> None:
    data = _encode(_noise(300, 200, seed=3), "JPEG")
    fitted = fit_image(_file(data, "p.jpg"), max_bytes=10_000_000, formats=("PNG",))
    assert fitted.content_type == "image/png"


def test_impossible_fit_raises() -> None:
    data = _encode(_noise(400, 400, seed=4), "JPEG")
    with pytest.raises(ImageError, match="cannot fit"):
        fit_image(_file(data, "n.jpg"), max_bytes=200)


def test_bad_input() -> None:
    with pytest.raises(ImageError):
        fit_image(ImageFile(b"not an image", "image/png", "x.png", 1, 1), max_bytes=1000)
    with pytest.raises(ValueError):
        fit_image(_file(PNG), max_bytes=1000, formats=("TIFF",))
