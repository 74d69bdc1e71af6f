"""api/multipart.py's BoundaryDecoder decodes exactly as werkzeug's MultipartDecoder: the same events,
the same bytes, the same errors, for well-formed bodies, bodies with odd line breaks and whitespace,
boundaries that look like their own dashes, and every way of cutting a body into chunks."""

from __future__ import annotations

import random

import pytest
from werkzeug import formparser
from werkzeug.sansio.multipart import Epilogue, MultipartDecoder, NeedData

from api.multipart import BoundaryDecoder, install


def events(decoder_class, boundary: bytes, body: bytes, cuts: list[int]) -> list:
    decoder = decoder_class(boundary, max_form_memory_size=None, max_parts=1000)
    out = []
    pieces = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)] + [None]
    try:
        for piece in pieces:
            decoder.receive_data(piece)
            event = decoder.next_event()
            while not isinstance(event, (Epilogue, NeedData)):
                out.append(event)
                event = decoder.next_event()
            if isinstance(event, Epilogue):
                out.append(event)
                break
    except ValueError as exc:
        out.append(("ValueError", str(exc)))
    return out


def body_for(rng: random.Random, boundary: bytes) -> bytes:
    breaks = [b"\r\n"] * 6 + [b"\n", b"\r"]
    parts = [rng.choice([b"", b"preamble", b"x\r\n"])]
    for n in range(rng.randint(0, 4)):
        lb = rng.choice(breaks)
        head = b'Content-Disposition: form-data; name="f%d"' % n
        if rng.random() < 0.5:
            head += b'; filename="p%d.png"' % n + lb + b"Content-Type: image/png"
        data = bytes(rng.choice(b"ab-\r\n \t") for _ in range(rng.randint(0, 40)))
        if rng.random() < 0.3:
            data += b"--" + boundary[: rng.randint(0, len(boundary))]  # a boundary's beginning inside the data
        parts.append(rng.choice(breaks) + b"--" + boundary + rng.choice([b"", b" ", b"\t"]) + lb + head + lb + lb + data)
    parts.append(rng.choice(breaks) + b"--" + boundary + b"--" + rng.choice([b"", b"  ", b"\r\n", b"\n"]))
    if rng.random() < 0.2:
        parts.append(b"epilogue")
    body = b"".join(parts)
    if rng.random() < 0.1 and body:
        body = body[: rng.randint(0, len(body))]  # truncated
    return body


@pytest.mark.parametrize("seed", range(40))
def test_the_same_events_as_werkzeugs_decoder(seed):
    rng = random.Random(seed)
    for _ in range(50):
        boundary = rng.choice(
            [
                b"%032x" % rng.getrandbits(128),
                b"----WebKitFormBoundary" + bytes(rng.choice(b"abcXYZ019") for _ in range(16)),
                b"-",
                b"--x",
                b"a-b",
            ]
        )
        body = body_for(rng, boundary)
        cuts = sorted(rng.sample(range(1, len(body)), min(len(body) - 1, rng.randint(0, 6)))) if len(body) > 1 else []
        assert events(BoundaryDecoder, boundary, body, cuts) == events(MultipartDecoder, boundary, body, cuts)


def test_flask_parses_uploads_with_it():
    install()
    assert formparser.MultipartDecoder is BoundaryDecoder
    install()  # a second call changes nothing
    assert formparser.MultipartDecoder is BoundaryDecoder
    from flask import Flask, request

    app = Flask(__name__)

    @app.post("/")
    def upload():
        return {"form": request.form.to_dict(), "files": {k: v.read().decode() for k, v in request.files.items()}}

    boundary = "7d1b5e"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="lang"\r\n\r\nzh\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\nbytes\r\n--x\r\n'
        f"--{boundary}--\r\n"
    ).encode()
    answer = app.test_client().post("/", data=body, content_type=f"multipart/form-data; boundary={boundary}")
    assert answer.json == {"form": {"lang": "zh"}, "files": {"file": "bytes\r\n--x"}}
