"""publisher.channels.media: image download against a local HTTP server, and the link canon."""

from __future__ import annotations

import io
from collections.abc import Iterator

import httpx
import pytest
from PIL import Image as PILImage

from publisher.channels.media import ImageError, ImageFile, canonical_link, download_image
from publisher.exceptions import PublisherError
from tests.fakes.fakehttp import FileServer


def _image(fmt: str, size: tuple[int, int] = (40, 30)) -> bytes:
    out = io.BytesIO()
    PILImage.new("RGB", size, (10, 120, 200)).save(out, fmt)
    return out.getvalue()


PNG = _image("PNG")


@pytest.fixture
def site() -> Iterator[FileServer]:
    server = FileServer(
        {
            "/photo.png": (PNG, "image/png"),
            "/photo.jpg": (_image("JPEG"), "image/jpeg"),
            "/anim.gif": (_image("GIF"), "image/gif"),
            "/pic.webp": (_image("WEBP"), "image/webp"),
            "/lying.png": (b"<html>not an image</html>", "image/png"),
            "/truncated.png": (PNG[: len(PNG) // 2], "image/png"),
            "/picture.bmp": (_image("BMP"), "image/bmp"),
            "/noname/": (PNG, "image/png"),
        },
        slow_seconds=30,
    )
    with server:
        yield server  # type: ignore[misc]
        server.release_slow()


@pytest.mark.parametrize(
    ("path", "content_type", "filename"),
    [
        ("/photo.png", "image/png", "photo.png"),
        ("/photo.jpg", "image/jpeg", "photo.jpg"),
        ("/anim.gif", "image/gif", "anim.gif"),
        ("/pic.webp", "image/webp", "pic.webp"),
        ("/noname/", "image/png", "image.png"),
    ],
)
def test_downloads_supported_formats(
    site: FileServer, path: str, content_type: str, filename: str
) -> None:
    image = download_image(site.url(path), allow_private=True)
    assert isinstance(image, ImageFile)
    assert (image.content_type, image.filename) == (content_type, filename)
    assert (image.width, image.height) == (40, 30)
    assert image.data == site.files[path][0]
    assert "bytes" in repr(image) and "\\x" not in repr(image)


def test_private_address_refused_without_allow_private(site: FileServer) -> None:
    with pytest.raises(ImageError, match=r"refusing non-public address 127\.0\.0\.1"):
        download_image(site.url("/photo.png"))
    assert site.requests == []  # refused before connecting


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost/x.png",
        "http://10.1.2.3/x.png",
        "http://192.168.0.10/x.png",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/x.png",
        "http://[fd00::1]/x.png",
        "http://0.0.0.0/x.png",
    ],
)
def test_non_public_hosts_refused(url: str) -> None:
    with pytest.raises(ImageError, match="refusing non-public address"):
        download_image(url)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.org/x.png",
        "data:image/png;base64,AAAA",
        "/relative.png",
    ],
)
def test_only_http_urls(url: str) -> None:
    with pytest.raises(ImageError, match="not an http"):
        download_image(url, allow_private=True)


def test_http_error_status(site: FileServer) -> None:
    with pytest.raises(ImageError, match="HTTP 404"):
        download_image(site.url("/missing.png"), allow_private=True)


def test_size_limit_from_content_length(site: FileServer) -> None:
    with pytest.raises(ImageError, match="too large"):
        download_image(site.url("/photo.png"), allow_private=True, max_bytes=len(PNG) - 1)


def test_size_limit_enforced_while_streaming(site: FileServer) -> None:
    site.unsized.add("/photo.png")  # no Content-Length: only counting the bytes can tell
    with pytest.raises(ImageError, match="more than"):
        download_image(site.url("/photo.png"), allow_private=True, max_bytes=len(PNG) - 1)
    image = download_image(site.url("/photo.png"), allow_private=True, max_bytes=len(PNG))
    assert image.data == PNG


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/lying.png", "not an image"),
        ("/truncated.png", "corrupt|not an image"),
        ("/picture.bmp", "unsupported image format BMP"),
    ],
)
def test_body_must_be_a_supported_image(site: FileServer, path: str, message: str) -> None:
    with pytest.raises(ImageError, match=message):
        download_image(site.url(path), allow_private=True)


def test_decompression_bomb_refused(site: FileServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(PILImage, "MAX_IMAGE_PIXELS", 500)  # 40x30 = 1200 pixels is "huge" now
    with pytest.raises(ImageError, match="not an image"):
        download_image(site.url("/photo.png"), allow_private=True)


def test_follows_redirects_and_checks_each_hop(site: FileServer) -> None:
    site.redirects["/latest"] = "/photo.png"
    assert download_image(site.url("/latest"), allow_private=True).data == PNG
    site.redirects["/loop"] = "/loop"
    with pytest.raises(ImageError, match="redirects"):
        download_image(site.url("/loop"), allow_private=True)
    site.redirects["/to-file"] = "file:///etc/passwd"
    with pytest.raises(ImageError, match="not an http"):
        download_image(site.url("/to-file"), allow_private=True)


def test_timeout(site: FileServer) -> None:
    site.fail_next("slow", on="read")
    with pytest.raises(ImageError, match="timed out"):
        download_image(site.url("/photo.png"), allow_private=True, timeout=0.3)


def test_connection_error(site: FileServer) -> None:
    site.fail_next("reset_before", on="read")
    with pytest.raises(ImageError, match="download failed"):
        download_image(site.url("/photo.png"), allow_private=True)


def test_uses_the_given_client(site: FileServer) -> None:
    with httpx.Client() as client:
        image = download_image(site.url("/photo.png"), allow_private=True, client=client)
        assert not client.is_closed
    assert image.data == PNG


def test_image_error_is_a_publisher_error() -> None:
    assert issubclass(ImageError, PublisherError)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("https://News.Example.org/a/b/", "https://news.example.org/a/b"),
        ("https://news.example.org/a?utm_source=x&utm_medium=social", "https://news.example.org/a"),
        ("https://news.example.org/a?id=3&utm_campaign=c#top", "https://news.example.org/a?id=3"),
        ("https://news.example.org:443/a", "https://news.example.org/a"),
        ("https://news.example.org/a?fbclid=abc", "https://news.example.org/a"),
    ],
)
def test_canonical_link_equal(a: str, b: str) -> None:
    assert canonical_link(a) == canonical_link(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("https://news.example.org/a", "https://news.example.org/A"),
        ("https://news.example.org/a?id=3", "https://news.example.org/a?id=4"),
        ("https://news.example.org/a", "https://news.example.org/a-2"),
        ("https://news.example.org:8443/a", "https://news.example.org/a"),
    ],
)
def test_canonical_link_different(a: str, b: str) -> None:
    assert canonical_link(a) != canonical_link(b)


def test_an_editors_image_file_is_read_from_disk(tmp_path):
    import io

    from PIL import Image as PILImage

    from publisher.channels.media import ImageError, download_image

    picture = tmp_path / "lead photo.png"
    buffer = io.BytesIO()
    PILImage.new("RGB", (40, 30), (200, 10, 10)).save(buffer, "PNG")
    picture.write_bytes(buffer.getvalue())
    image = download_image(picture.as_uri())
    assert image.content_type == "image/png" and image.width == 40
    with pytest.raises(ImageError, match="larger than"):
        download_image(picture.as_uri(), max_bytes=10)
    (tmp_path / "notes.txt").write_text("not an image")
    with pytest.raises(ImageError):
        download_image((tmp_path / "notes.txt").as_uri())
    with pytest.raises(ImageError, match="no image file"):
        download_image((tmp_path / "missing.png").as_uri())
    # Sources never produce file: URLs (feeds' images are http(s) only), and a
    # file that is not an image is refused like any other non-image.
    with pytest.raises(ImageError, match="not an image"):
        download_image("file:///etc/passwd")
