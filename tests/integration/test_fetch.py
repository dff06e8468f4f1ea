"""Fetcher against a real HTTP server on 127.0.0.1 (tests/fakes/feed_server.py)."""

# The feed_server fixture is imported, so test parameters "redefine" it.
# ruff: noqa: F811

from __future__ import annotations

import hashlib
import zlib
from pathlib import Path

import pytest

from publisher.exceptions import FetchError
from publisher.sources import DEFAULT_USER_AGENT, Fetcher, fetch_page_metadata, parse_feed
from tests.fakes.feed_server import FeedServer, feed_server  # noqa: F401  (fixture)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "newsroom.xml"
FEED = EXAMPLE.read_bytes()


@pytest.fixture
def fetcher():
    with Fetcher() as f:
        yield f


def test_first_poll_changed_then_304_not_modified(feed_server, fetcher):
    feed_server.set("/feed", FEED, headers={"Cache-Control": "public, max-age=300"})
    first = fetcher.fetch(feed_server.url("/feed"))
    assert first.status == "changed"
    assert first.body == FEED
    assert first.http_status == 200
    assert first.body_hash == hashlib.sha256(FEED).hexdigest()
    assert first.etag and first.last_modified
    assert first.content_type == "application/rss+xml; charset=utf-8"
    assert first.retry_after == 300
    assert len(parse_feed(first.body, base_url=first.final_url)) == 12

    second = fetcher.fetch(
        feed_server.url("/feed"),
        etag=first.etag,
        last_modified=first.last_modified,
        body_hash=first.body_hash,
    )
    assert second.status == "not_modified"
    assert second.body is None
    assert second.http_status == 304
    assert (second.etag, second.last_modified, second.body_hash) == (
        first.etag,
        first.last_modified,
        first.body_hash,
    )
    log = feed_server.requests_for("/feed")
    assert [r.status for r in log] == [200, 304]
    assert log[1].header("if-none-match") == first.etag
    assert log[1].header("if-modified-since") == first.last_modified


def test_if_modified_since_alone_gives_304(feed_server, fetcher):
    feed_server.set("/feed", FEED, etag=None)
    first = fetcher.fetch(feed_server.url("/feed"))
    assert first.etag is None
    second = fetcher.fetch(feed_server.url("/feed"), last_modified=first.last_modified)
    assert second.status == "not_modified"


def test_same_body_without_validators_is_unchanged(feed_server, fetcher):
    feed_server.set("/feed", FEED, etag=None, last_modified=None)
    first = fetcher.fetch(feed_server.url("/feed"))
    second = fetcher.fetch(feed_server.url("/feed"), body_hash=first.body_hash)
    assert second.status == "unchanged"
    assert second.body is None
    assert second.body_hash == first.body_hash
    feed_server.set("/feed", FEED + b"\n", etag=None, last_modified=None)
    third = fetcher.fetch(feed_server.url("/feed"), body_hash=first.body_hash)
    assert third.status == "changed"
    assert third.body_hash != first.body_hash


def test_gzip_is_decoded(feed_server, fetcher):
    feed_server.set("/feed", FEED, gzip=True)
    result = fetcher.fetch(feed_server.url("/feed"))
    assert result.body == FEED
    (request,) = feed_server.requests_for("/feed")
    assert "gzip" in (request.header("accept-encoding") or "")


def test_user_agent_and_accept_are_sent(feed_server, fetcher):
    feed_server.set("/feed", FEED)
    fetcher.fetch(feed_server.url("/feed"))
    (request,) = feed_server.requests_for("/feed")
    assert request.header("user-agent") == DEFAULT_USER_AGENT
    assert "application/rss+xml" in (request.header("accept") or "")


def test_size_limit_enforced_while_streaming(feed_server):
    feed_server.huge("/huge", size=50 * 1024 * 1024)
    limit = 10 * 1024 * 1024
    with Fetcher(max_bytes=limit) as fetcher, pytest.raises(FetchError, match=str(limit)):
        fetcher.fetch(feed_server.url("/huge"))
    # The client stopped reading soon after the limit: what the server managed to
    # write is the limit plus socket buffers, far from the 50 MB it wanted to send.
    assert feed_server.bytes_sent("/huge") < 30 * 1024 * 1024


def test_content_length_over_limit_fails_before_reading(feed_server):
    feed_server.set("/feed", b"x" * 2000)
    with Fetcher(max_bytes=1000) as fetcher, pytest.raises(FetchError, match="1000 bytes"):
        fetcher.fetch(feed_server.url("/feed"))


def test_limit_applies_to_the_decompressed_size(feed_server):
    # 50 MB of zeros gzip to ~50 KB: a gzip bomb. Build it without holding 50 MB.
    comp = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = b"\0" * (1024 * 1024)
    bomb = b"".join(comp.compress(block) for _ in range(50)) + comp.flush()
    assert len(bomb) < 1024 * 1024
    feed_server.set("/bomb", bomb, headers={"Content-Encoding": "gzip"})
    with Fetcher(max_bytes=1024 * 1024) as fetcher, pytest.raises(FetchError, match="limit"):
        fetcher.fetch(feed_server.url("/bomb"))


def test_dribbling_server_is_cut_by_total_timeout(feed_server):
    feed_server.dribble("/slow", interval=0.1)
    with (
        Fetcher(total_timeout=1.5, read_timeout=5) as fetcher,
        pytest.raises(FetchError, match=r"took longer than 1\.5 s"),
    ):
        fetcher.fetch(feed_server.url("/slow"))
    # It did get bytes, so only the overall deadline could have stopped it.
    assert feed_server.bytes_sent("/slow") >= 1


def test_slow_headers_hit_the_read_timeout(feed_server):
    feed_server.set("/late", FEED, delay=3)
    with Fetcher(read_timeout=0.5) as fetcher, pytest.raises(FetchError, match="timeout"):
        fetcher.fetch(feed_server.url("/late"))


def test_redirect_is_followed(feed_server, fetcher):
    feed_server.set("/new-feed", FEED)
    feed_server.redirect("/old-feed", "/new-feed", status=301)
    result = fetcher.fetch(feed_server.url("/old-feed"))
    assert result.status == "changed"
    assert result.final_url == feed_server.url("/new-feed")


def test_redirect_loop_is_an_error(feed_server, fetcher):
    feed_server.redirect("/a", "/b")
    feed_server.redirect("/b", "/a")
    with pytest.raises(FetchError, match="redirect"):
        fetcher.fetch(feed_server.url("/a"))
    assert len(feed_server.requests) == 6  # the first request and max_redirects=5 more


def test_too_many_redirects(feed_server):
    for i in range(3):
        feed_server.redirect(f"/r{i}", f"/r{i + 1}")
    feed_server.set("/r3", FEED)
    with Fetcher(max_redirects=2) as fetcher, pytest.raises(FetchError, match="redirect"):
        fetcher.fetch(feed_server.url("/r0"))
    with Fetcher(max_redirects=3) as fetcher:
        assert fetcher.fetch(feed_server.url("/r0")).status == "changed"


def test_503_with_retry_after_seconds(feed_server, fetcher):
    feed_server.fail("/feed", 503, {"Retry-After": "120"})
    with pytest.raises(FetchError) as info:
        fetcher.fetch(feed_server.url("/feed"))
    assert info.value.http_status == 503
    assert info.value.retry_after == 120
    assert "503" in str(info.value) and feed_server.url("/feed") in str(info.value)


def test_429_with_retry_after_http_date(feed_server, fetcher):
    feed_server.fail("/feed", 429, {"Retry-After": "Wed, 21 Oct 2099 07:28:00 GMT"})
    with pytest.raises(FetchError) as info:
        fetcher.fetch(feed_server.url("/feed"))
    assert info.value.http_status == 429
    assert info.value.retry_after is not None and info.value.retry_after > 86400


def test_404_has_no_retry_after(feed_server, fetcher):
    with pytest.raises(FetchError, match="404") as info:
        fetcher.fetch(feed_server.url("/missing"))
    assert info.value.http_status == 404 and info.value.retry_after is None


def test_connection_refused_is_a_fetch_error():
    srv = FeedServer()
    url = srv.url("/feed")
    srv.stop()  # nothing listens there any more
    with Fetcher(connect_timeout=2) as fetcher, pytest.raises(FetchError, match=r"127\.0\.0\.1"):
        fetcher.fetch(url)


@pytest.mark.parametrize(
    "url", ["ftp://example.org/feed", "gopher://x/", "feed.xml", "http://", "https://exa mple.org/"]
)
def test_unsupported_or_invalid_urls(fetcher, url):
    with pytest.raises(FetchError):
        fetcher.fetch(url)


def test_credentials_in_url_are_not_in_the_message(feed_server, fetcher):
    url = feed_server.url("/missing?token=s3cr3t").replace("http://", "http://user:pa55@")
    with pytest.raises(FetchError) as info:
        fetcher.fetch(url)
    assert "s3cr3t" not in str(info.value) and "pa55" not in str(info.value)


def test_file_url_and_plain_path(tmp_path, fetcher):
    path = tmp_path / "feed.xml"
    path.write_bytes(FEED)
    first = fetcher.fetch(path.as_uri())
    assert first.status == "changed" and first.body == FEED
    assert first.last_modified and first.last_modified.endswith("GMT")
    assert first.final_url == path.as_uri()
    second = fetcher.fetch(str(path), body_hash=first.body_hash)
    assert second.status == "unchanged" and second.body is None
    path.write_bytes(FEED + b" ")
    assert fetcher.fetch(str(path), body_hash=first.body_hash).status == "changed"


def test_file_over_limit_and_missing_file(tmp_path):
    path = tmp_path / "big.xml"
    path.write_bytes(b"x" * 2048)
    with Fetcher(max_bytes=1024) as fetcher:
        with pytest.raises(FetchError, match="1024 bytes"):
            fetcher.fetch(str(path))
        with pytest.raises(FetchError, match="cannot read"):
            fetcher.fetch(str(tmp_path / "nope.xml"))


def test_bundled_example_via_file_url(fetcher):
    result = fetcher.fetch(EXAMPLE.as_uri())
    assert len(parse_feed(result.body or b"", base_url=result.final_url)) == 12


def test_connections_are_reused(feed_server, fetcher):
    feed_server.set("/feed", FEED)
    for _ in range(3):
        fetcher.fetch(feed_server.url("/feed"))
    ports = {r.client_port for r in feed_server.requests_for("/feed")}
    assert len(ports) == 1  # one keep-alive connection for all three polls


def test_fetch_page_metadata(feed_server, fetcher):
    page = Path(__file__).resolve().parents[1] / "data" / "feeds" / "article_page.html"
    feed_server.set("/story", page.read_bytes(), content_type="text/html; charset=utf-8")
    article = fetch_page_metadata(fetcher, feed_server.url("/story"))
    expected = feed_server.url("/2026/11/21/council-approves-old-mill-bridge-rebuild/")
    assert article.url == expected and article.guid == expected
    assert article.title == "Council approves $4.2 million plan & a new bridge"
    assert article.image is not None
    assert article.image.url == feed_server.url("/wp-content/uploads/2026/11/bridge.jpg")
    assert article.image.alt == "The Old Mill Bridge"
    (request,) = feed_server.requests_for("/story")
    assert (request.header("accept") or "").startswith("text/html")


def test_fetch_page_metadata_of_an_image_is_a_parse_error(feed_server, fetcher):
    from publisher.exceptions import ParseError

    feed_server.set("/pic", b"\x89PNG....", content_type="image/png")
    with pytest.raises(ParseError):
        fetch_page_metadata(fetcher, feed_server.url("/pic"))


def test_server_stops_promptly_with_a_dribble_in_flight():
    import threading

    with FeedServer() as srv:
        srv.dribble("/slow", interval=0.05)
        errors: list[Exception] = []

        def poll() -> None:
            with Fetcher(total_timeout=30) as f:
                try:
                    f.fetch(srv.url("/slow"))
                except FetchError as exc:
                    errors.append(exc)

        thread = threading.Thread(target=poll, daemon=True)
        thread.start()
        while srv.bytes_sent("/slow") < 3:
            thread.join(0.05)
    # Leaving the with block stopped the dribble; the client sees the body end.
    thread.join(10)
    assert not thread.is_alive()


# --- https: certificates are verified, and only https pays for the TLS set-up ----------


@pytest.fixture
def tls_site(tmp_path):
    """An HTTPS server on 127.0.0.1 serving FEED at any path, with a
    self-signed certificate (no CA anyone trusts); yields (base URL, cert path,
    paths it answered)."""
    import ssl
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from tests.fakes.smtp_server import self_signed

    key, cert = self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    answered: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            answered.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("Content-Length", str(len(FEED)))
            self.end_headers()
            self.wfile.write(FEED)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    # The handshake is made in accept(): a client refusing the certificate is
    # an OSError there, which socketserver drops quietly.
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01},
                              daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", cert, answered
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def test_https_site_is_really_served(tls_site):
    """The control for the refusals below: a client trusting the certificate reads it."""
    import ssl

    import httpx

    url, cert, answered = tls_site
    with httpx.Client(verify=ssl.create_default_context(cafile=str(cert))) as client:
        assert client.get(f"{url}/feed").content == FEED
    assert answered == ["/feed"]


def test_https_with_an_untrusted_certificate_is_refused(tls_site, fetcher):
    url, _cert, answered = tls_site
    with pytest.raises(FetchError, match="certificate verify failed") as info:
        fetcher.fetch(f"{url}/feed")
    assert f"{url}/feed" in str(info.value)
    assert answered == []


def test_a_redirect_from_http_to_an_untrusted_https_is_refused(tls_site, feed_server, fetcher):
    url, _cert, answered = tls_site
    feed_server.set("/plain", FEED)
    assert fetcher.fetch(feed_server.url("/plain")).status == "changed"
    feed_server.redirect("/moved", f"{url}/feed", status=301)
    with pytest.raises(FetchError, match="certificate verify failed"):
        fetcher.fetch(feed_server.url("/moved"))
    assert answered == []


def test_only_an_https_fetch_asks_for_the_ca_bundle(tls_site, feed_server, monkeypatch):
    """An http-only run never loads certifi's CA bundle (the costly part of the
    client's TLS set-up); the first https fetch does, as the client always did."""
    import certifi

    asked: list[str] = []
    where = certifi.where

    def recording_where() -> str:
        asked.append(where())
        return asked[-1]

    monkeypatch.setattr(certifi, "where", recording_where)
    feed_server.set("/feed", FEED)
    with Fetcher() as fetcher:
        for _ in range(2):
            fetcher.fetch(feed_server.url("/feed"))
        assert asked == []
        url, _cert, _answered = tls_site
        with pytest.raises(FetchError, match="certificate verify failed"):
            fetcher.fetch(f"{url}/feed")
        assert asked == [where()]
        with pytest.raises(FetchError, match="certificate verify failed"):
            fetcher.fetch(f"{url}/feed")
        assert len(asked) == 1  # built once, kept


def test_a_fetcher_loads_no_more_than_it_needs():
    """``from publisher.sources import Fetcher`` and ``Fetcher()`` load neither
    feedparser, httpx's command-line client (click, rich, pygments) nor httpcore
    (made at the first request); a fresh interpreter, as a run starts."""
    import json
    import subprocess
    import sys

    code = (
        "import json, sys\n"
        "from publisher.sources import Fetcher\n"
        "Fetcher().close()\n"
        "print(json.dumps(sorted(m for m in ('feedparser', 'httpx._main', 'pygments', 'httpcore')\n"
        "                        if sys.modules.get(m) is not None)))\n"
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []
