"""A fake OpenAI images API on 127.0.0.1 for tests: the only mocked edge of the openai backend.

It speaks the real wire format of ``POST /v1/images/edits`` as the official ``openai``
package sends it (multipart/form-data: ``model``, ``prompt``, ``size``, ``quality``, ``n``
fields and the ``image`` / ``image[]`` files) and answers with a JSON body
``{"created", "data": [{"b64_json"}]}``, or with whatever a test's responder returns (errors,
Retry-After headers, malformed bodies). Every request is recorded for inspection.
"""

from __future__ import annotations

import base64
import io
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
from PIL import Image


@dataclass
class Request:
    """One request as received: path, headers (lower-case names), form fields and files."""

    path: str
    headers: dict[str, str]
    fields: dict[str, str] = field(default_factory=dict)
    files: list[tuple[str, str, bytes]] = field(default_factory=list)  # (field, filename, data)

    def images(self) -> list[np.ndarray]:
        """The uploaded reference images, decoded to RGBA arrays, in order."""
        out = []
        for _, _, data in self.files:
            with Image.open(io.BytesIO(data)) as img:
                out.append(np.asarray(img.convert("RGBA")))
        return out


@dataclass
class Response:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def png_of(value: int, size: tuple[int, int] = (16, 24)) -> bytes:
    """A small opaque grey PNG (w x h) whose level identifies it."""
    buf = io.BytesIO()
    Image.new("RGBA", size, (value, value, value, 255)).save(buf, "PNG")
    return buf.getvalue()


def image_response(png: bytes) -> Response:
    """A successful images response carrying ``png`` as b64_json."""
    body = {"created": 1700000000, "data": [{"b64_json": base64.b64encode(png).decode()}],
            "usage": {"input_tokens": 10, "output_tokens": 10, "total_tokens": 20}}
    return Response(200, json.dumps(body).encode(), {"Content-Type": "application/json"})


def error_response(status: int, message: str, retry_after: str | None = None) -> Response:
    """An API error in OpenAI's JSON shape, with an optional Retry-After header."""
    body = {"error": {"message": message, "type": "test_error", "param": None, "code": None}}
    headers = {"Content-Type": "application/json"}
    if retry_after is not None:
        headers["Retry-After"] = retry_after
    return Response(status, json.dumps(body).encode(), headers)


def always_ok(value: int = 128) -> Callable[[Request, int], Response]:
    png = png_of(value)
    return lambda request, n: image_response(png)


def parse_multipart(content_type: str, body: bytes) -> tuple[dict[str, str], list]:
    """(fields, files) of a multipart/form-data body."""
    msg = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
    if not msg.is_multipart():
        raise ValueError(f"not multipart: {content_type}")
    fields, files = {}, []
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        data = part.get_payload(decode=True) or b""
        filename = part.get_filename()
        if filename is None:
            fields[name] = data.decode("utf-8")
        else:
            files.append((name, filename, data))
    return fields, files


class FakeOpenAI:
    """``with FakeOpenAI(responder) as api:`` serves on ``api.base_url`` (``.../v1``).

    ``responder(request, n)`` gets each images request and its 0-based number and returns
    a Response; default: a grey PNG every time.
    """

    def __init__(self, responder: Callable[[Request, int], Response] | None = None) -> None:
        self.responder = responder or always_ok()
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                request = Request(self.path, headers)
                try:
                    request.fields, request.files = parse_multipart(
                        headers.get("content-type", ""), body)
                except ValueError as exc:
                    return self._send(error_response(400, str(exc)))
                with fake._lock:
                    n = len(fake.requests)
                    fake.requests.append(request)
                if self.path != "/v1/images/edits":
                    return self._send(error_response(404, f"no route {self.path}"))
                self._send(fake.responder(request, n))

            def _send(self, response: Response) -> None:
                self.send_response(response.status)
                for key, value in response.headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(response.body)))
                self.end_headers()
                self.wfile.write(response.body)

            def log_message(self, *args) -> None:  # keep test output clean
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def __enter__(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
