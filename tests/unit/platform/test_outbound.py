"""Callback URLs (core/outbound.py): every spelling of an inside address is refused, and delivery goes
to the address that was checked. Request text checks (core/text.py)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from core.errors import InvalidCharacters, InvalidOption
from core.outbound import Allowlist, check_syntax, check_target, parse_url
from core.text import check_text
from db.keys import create_key
from worker.webhooks import post_to

NOBODY = Allowlist.parse([])

INSIDE = [
    "http://127.0.0.1/hook",
    "http://127.0.0.1:8000/hook",
    "http://[::1]/hook",
    "http://0x7f000001/hook",
    "http://2130706433/hook",
    "http://0177.0.0.1/hook",
    "http://127.1/hook",
    "http://0x7f.1/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://[::ffff:7f00:1]/hook",
    "http://[0:0:0:0:0:ffff:127.0.0.1]/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://[fe80::1%25eth0]/hook",
    "http://10.0.0.5/hook",
    "http://172.16.3.4/hook",
    "http://192.168.1.1/hook",
    "http://100.64.0.1/hook",
    "http://[fc00::1]/hook",
    "http://224.0.0.251/hook",
    "http://[ff02::1]/hook",
    "http://240.0.0.1/hook",
    "http://0.0.0.0/hook",
    "http://0/hook",
    "http://[::]/hook",
    "http://[2002:7f00:1::]/hook",  # 6to4 wrapping of 127.0.0.1
    "http://[64:ff9b::a9fe:a9fe]/hook",  # NAT64 wrapping of 169.254.169.254
    "https://LOCALHOST./hook",
]


@pytest.mark.parametrize("url", INSIDE)
def test_inside_addresses_are_refused_in_every_spelling(url):
    with pytest.raises(InvalidOption) as refused:
        check_target(url, NOBODY)
    assert "OCR_WEBHOOK_ALLOW" in refused.value.message


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://example.com/hook", "http:// or https://"),
        ("file:///etc/passwd", "http:// or https://"),
        ("gopher://example.com/", "http:// or https://"),
        ("http://user:pass@example.com/hook", "user name or password"),
        ("http://user@example.com/hook", "user name or password"),
        ("http://example.com/ho\x00ok", "control characters"),
        ("http://example.com/\r\nX-Injected: 1", "control characters"),
        ("http://exa mple.com/", "control characters"),
        ("http://example.com\\@127.0.0.1/", "backslashes"),
        ("http:///hook", "no host"),
        ("http://example.com:99999/", "not a valid URL"),
        ("http://例子.测试/", "ASCII"),
        ("http://example.com/" + "a" * 2000, "at most 2000"),
    ],
)
def test_malformed_callback_urls_are_refused_by_their_form(url, why):
    with pytest.raises(InvalidOption) as refused:
        parse_url(url)
    assert why in refused.value.message


def test_literal_addresses_are_refused_without_dns_and_names_wait_for_resolution():
    with pytest.raises(InvalidOption):
        check_syntax("http://0x7f000001/", NOBODY)
    check_syntax("https://hooks.example.com/x", NOBODY)  # a name: judged once resolved


def test_public_addresses_pass():
    target = check_target("https://8.8.8.8:8443/hook?x=1", NOBODY)
    assert (target.scheme, target.host, target.port, target.path, target.addresses) == (
        "https",
        "8.8.8.8",
        8443,
        "/hook?x=1",
        ("8.8.8.8",),
    )
    assert target.host_header == "8.8.8.8:8443"


def test_the_operator_allows_named_hosts_and_ranges():
    ranges = Allowlist.parse(["10.0.0.0/8", "127.0.0.1", "fd00::/8"])
    assert check_target("http://10.1.2.3/x", ranges).addresses == ("10.1.2.3",)
    assert check_target("http://[::ffff:127.0.0.1]/x", ranges).addresses == ("::ffff:7f00:1",)
    with pytest.raises(InvalidOption):
        check_target("http://127.0.0.2/x", ranges)  # only the one address is allowed
    names = Allowlist.parse(["LocalHost"])
    assert set(check_target("http://localhost:9/x", names).addresses) <= {"127.0.0.1", "::1"}


class Receiver:
    def __init__(self):
        self.seen: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                self.rfile.read(int(self.headers["Content-Length"]))
                receiver.seen.append({"path": self.path, "host": self.headers["Host"]})
                self.send_response(204)
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_delivery_connects_to_the_checked_address_and_names_the_host():
    receiver = Receiver()
    try:
        target = check_target(f"http://localhost:{receiver.port}/hook?job=1", Allowlist.parse(["localhost"]))
        assert post_to(target, b"{}", {"Content-Type": "application/json"}, timeout=5) == 204
    finally:
        receiver.server.shutdown()
    assert receiver.seen == [{"path": "/hook?job=1", "host": f"localhost:{receiver.port}"}]


@pytest.mark.parametrize(
    ("value", "what"),
    [("a\x00b", "NUL byte"), ("tag\ufffd", "not UTF-8"), ("line\nbreak", "control character"), ("\x7f", "control")],
)
def test_bad_text_is_named(value, what):
    with pytest.raises(InvalidCharacters) as refused:
        check_text(value, "The tag")
    assert what in refused.value.message and refused.value.code == "invalid_characters"


def test_good_text_passes():
    assert check_text("发票 2024 — box/12", "The tag") == "发票 2024 — box/12"


def test_key_names_from_the_command_line_are_checked_too(database):
    # ocr-admin passes argv, where bytes that are not UTF-8 arrive as lone surrogates.
    with pytest.raises(InvalidCharacters), database.session() as s:
        create_key(s, "ops-\udcff")
