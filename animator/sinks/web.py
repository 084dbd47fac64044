"""A web page showing the avatar: HTTP + WebSocket on one port of 127.0.0.1, usable as an
OBS browser source (transparent background).

GET  /                  the page (static/live.html, with the rig's manifest and the newest
                        frame inlined: it draws as soon as its images are in)
GET  /rig.json          the rig's image list, size, expressions and the residual constants
GET  /rig/<path>        one rig image (only the images the rig lists; PNG, WebP or JPEG)
WS   /ws                one JSON message per frame: the frame choice, never pixels; the page
                        (or a controller) may send {"expression": NAME} to cue an expression
POST /expression/<NAME> cue an expression (no body): 204, 404 for a name the rig lacks
GET  /sync.json         with audio in: the audio -> mouth latency, its parts and the audio
                        delay to set in OBS (animator.live.sync); 404 without

Only this machine's pages may use it: every request must name the server itself as its Host
(127.0.0.1:PORT or localhost:PORT; a DNS-rebound name is refused); the WebSocket accepts
only the page's own origin, plus the origins given with ``allow_origins`` (``--allow-origin``)
for deliberate embedding, and a POST with an Origin header must come from one of those too
(a tool such as curl or a Stream Deck plugin sends none); any other web page the user has
open gets 403, whatever it tries (a form, fetch, a WebSocket).

The page preloads every rig image once, then draws each choice (image + residual angles)
itself, moving only the head layer when the rig has one (as animator/compose.py does).
Each client has a one-slot mailbox: a slow browser drops frames, nothing queues.

The sink runs ``inline`` in the loop's thread (animator.live.loop): ``send`` encodes the
frame's JSON (~20 us) and, when the page's socket takes it at once (open, writable, no send
of the page's own thread under way, nothing waiting in its mailbox), writes it there
itself; otherwise it drops the text into the client's one-slot mailbox, never waiting on a
socket, and the client's own thread sends it (a page that stops reading: once its socket is
full, frames are dropped there, the newest kept). Each thread woken per frame costs CPU:
a thread of the sink's own between the loop and the clients' threads cost ~10 % of the
process's CPU in the audio path (benchmarks.live), and the client's thread woken for every
frame ~0.5 % of a core at 30 fps (on this VM a thread woken every 33 ms runs on cold
caches: its few Python calls cost ~5x what they cost in the loop's warm tick).
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Callable
from importlib import resources
from typing import Any
from urllib.parse import unquote

from animator.core.errors import LiveError, one_line
from animator.core.types import AXES, LiveFrame
from animator.rig import REST_EXPRESSION, Rig
from animator.sinks.compose import PIVOT_FRAC, SHIFT_FRAC_PER_DEG
from animator.sinks.exports import frame_record
from animator.sinks.web_connection import PageConnection
from keypoints.visemes import REST_SHAPE

PAGE = "live.html"
WS_PATH = "/ws"
CUE_PATH = "/expression/"
#: Where the page's template takes the inlined rig (manifest + first frame).
PAGE_SLOT = b"/*RIG*/null"


#: Content types of the rig image formats (animator.rig.IMAGE_FORMATS).
IMAGE_TYPES = {".png": "image/png", ".webp": "image/webp", ".jpg": "image/jpeg"}


def rig_images(rig: Rig) -> list[str]:
    """Every image a frame choice can name (and the head layers' mattes and plates),
    relative to the rig folder, sorted."""
    return sorted(rig.image_relpaths())


def rig_manifest(rig: Rig) -> dict[str, Any]:
    """What the page needs to draw any choice: image size and list, residual constants, the
    head layer of each pose ({pose: [matte, plate]}, empty for a rig without one)."""
    w, h = rig.image_size
    chart = rig.config.mouth_chart if rig.mouths else None
    return {"width": w, "height": h, "images": rig_images(rig), "axes": list(AXES),
            "pivot_frac": list(PIVOT_FRAC), "shift_frac_per_deg": SHIFT_FRAC_PER_DEG,
            "layers": {pose: list(files) for pose, files in rig.layers.items()},
            "expressions": list(rig.config.expressions),
            # a mouth chart: {pose: [x, y, angle]} where the mouth goes (see compose.py)
            "mouth_chart": None if chart is None else
            {p: [m.x, m.y, m.angle_deg] for p, m in chart.items()}}


def rest_message(rig: Rig) -> dict[str, Any]:
    """What the page draws before the first frame arrives: the rest face at the rig's
    first pose (``center`` when it has one), unmoved."""
    pose = "center" if "center" in rig.config.poses else rig.config.poses[0]
    return {"i": -1, "pose": pose, "image": rig.endpoint(REST_EXPRESSION, pose),
            "residual": [0.0, 0.0, 0.0],
            "overlay": rig.mouths.get(REST_SHAPE)}  # a mouth chart's idle mouth


def choice_message(live: LiveFrame) -> str:
    """The JSON text sent for one frame."""
    f = live.frame
    return json.dumps({
        **frame_record(f), "residual": [round(float(x), 4) for x in f.choice.residual_deg],
        "overlay": f.choice.overlay,
        "audio_sample": live.audio_sample, "camera_frame": live.camera_frame})


def _single(headers: Any, name: str) -> str | None:
    """The header's value; None when absent or given more than once (ambiguous)."""
    values = headers.get_all(name)
    return values[0] if len(values) == 1 else None


def _one_line_logger() -> logging.Logger:
    """The server's logger: warnings and errors (a page that stopped reading, a broken
    connection) as one line each on stderr, never a traceback."""
    logger = logging.getLogger("animator.sinks.web")
    if not logger.handlers:
        handler = _StderrHandler()
        handler.setFormatter(_OneLineFormatter())
        logger.addHandler(handler)
        logger.setLevel(logging.WARNING)
        logger.propagate = False
    return logger


class _StderrHandler(logging.Handler):
    """Writes to the ``sys.stderr`` of the moment (not the one seen at start-up)."""

    def emit(self, record: logging.LogRecord) -> None:
        print(self.format(record), file=sys.stderr, flush=True)


class _OneLineFormatter(logging.Formatter):
    """The message and, for an exception, its text on the same line; no traceback."""

    def format(self, record: logging.LogRecord) -> str:
        line = record.getMessage()
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None:
            line += f" ({one_line(exc) or type(exc).__name__})"
        return f"animator: web page: {line}"


class WebSink:
    """Serves the page and pushes frame choices to every connected page.

    port 0 picks a free port (see ``port``); ``url`` is the page's address. A page that stops
    reading is dropped after ``ping_interval_s`` without an answer to a ping (one line on
    stderr, never a traceback).
    """

    name = "web"
    #: ``send`` runs in the loop's thread: it never blocks (the clients' mailboxes do not)
    inline = True

    def __init__(self, rig: Rig, port: int, host: str = "127.0.0.1",
                 allow_origins: tuple[str, ...] = (), ping_interval_s: float = 20.0,
                 on_cue: Callable[[str], None] | None = None,
                 keys: dict[str, str] | None = None, sync: Any = None) -> None:
        """on_cue(name): called for each cue (control message or POST); keys: {key:
        expression} the page's keyboard cues (none without); sync: an
        animator.live.sync.SyncMonitor (``record_delivery(s)``, ``report()``) that this
        sink tells how long a frame took from the loop to the page's socket, and that
        /sync.json reports."""
        from websockets.sync.server import serve

        self._rig = rig
        self._on_cue = on_cue
        self._expressions = set(rig.config.expressions)
        self.n_cues = 0
        self._manifest_dict = {**rig_manifest(rig), "keys": dict(keys or {})}
        self._manifest = json.dumps(self._manifest_dict).encode()
        self._rest = json.dumps(rest_message(rig))
        self._images = set(rig_images(rig))
        self._page = resources.files("animator.sinks").joinpath("static", PAGE).read_bytes()
        self._clients: set[PageConnection] = set()
        self._lock = threading.Lock()
        self.n_sent = 0  # frames handed to the clients (``send`` calls)
        #: frames written to a page's socket by ``send`` itself (no thread woken)
        self.n_written_inline = 0
        self._dropped_gone = 0  # frames the clients gone dropped (newer ones replaced them)
        self._last: str | None = None  # the newest frame's JSON (None: not made yet)
        #: the newest frame while no page is connected: its JSON is made only when a page
        #: asks for it (the loop does not encode frames nobody reads)
        self._last_live: LiveFrame | None = None
        self._sync = sync
        self._closing = threading.Event()
        try:
            # close_timeout: a page that never answers the closing handshake may hold up the
            # end of a run (Ctrl-C) by this much at most, instead of the library's 10 s.
            self._server = serve(self._handle, host, port, process_request=self._http,
                                 compression=None, server_header=None, close_timeout=1.0,
                                 ping_interval=ping_interval_s, ping_timeout=ping_interval_s,
                                 logger=_one_line_logger())
        except OSError as exc:
            raise LiveError(f"cannot serve the web page on {host}:{port}: "
                            f"{exc.strerror or exc}") from None
        self.host = host
        self.port = self._server.socket.getsockname()[1]
        names = (host, "localhost") if host in ("127.0.0.1", "localhost") else (host,)
        self._hosts = {f"{name}:{self.port}" for name in names}
        self._origins = {f"http://{h}" for h in self._hosts} | {
            o.rstrip("/") for o in allow_origins}
        self._thread = threading.Thread(target=self._server.serve_forever, name="web",
                                        daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    @property
    def n_clients(self) -> int:
        with self._lock:
            return len(self._clients)

    @property
    def n_dropped(self) -> int:
        """Frames a client never got because a newer one replaced it in its mailbox (a
        page slower than the frame rate), over every client so far."""
        with self._lock:
            return self._dropped_gone + sum(page.n_dropped for page in self._clients)

    # --- HTTP -------------------------------------------------------------------------------

    def _http(self, connection: Any, request: Any) -> Any:
        from websockets.datastructures import Headers
        from websockets.http11 import Response

        def reply(body: bytes, ctype: str, status: int = 200, reason: str = "OK") -> Response:
            return Response(status, reason, Headers([
                ("Content-Type", ctype), ("Content-Length", str(len(body))),
                ("Cache-Control", "no-cache"), ("Connection", "close")]), body)

        method = getattr(request, "method", "GET")
        forbidden = self.refusal(_single(request.headers, "Host"),
                                 _single(request.headers, "Origin"), request.path, method)
        if forbidden:
            return reply(f"forbidden: {forbidden}\n".encode(), "text/plain", 403, "Forbidden")
        path = request.path.split("?", 1)[0]
        if method == "POST" and path.startswith(CUE_PATH):
            error = self.cue(unquote(path.removeprefix(CUE_PATH)))
            if error:
                return reply(f"{error}\n".encode(), "text/plain", 404, "Not Found")
            return Response(204, "No Content", Headers([("Content-Length", "0"),
                                                         ("Connection", "close")]), b"")
        if method != "GET" or path.startswith(CUE_PATH):
            allow = "POST" if path.startswith(CUE_PATH) else "GET"
            return Response(405, "Method Not Allowed", Headers([
                ("Allow", allow), ("Content-Length", "0"), ("Connection", "close")]), b"")
        if path == WS_PATH:
            return None  # go on with the WebSocket handshake

        if path in ("/", "/index.html"):
            return reply(self._page_with_rig(), "text/html; charset=utf-8")
        if path == "/rig.json":
            return reply(self._manifest, "application/json")
        if path == "/sync.json" and self._sync is not None:
            return reply(json.dumps(self._sync.report()).encode(), "application/json")
        rel = path.removeprefix("/rig/")
        if path.startswith("/rig/") and rel in self._images:  # only listed files: no traversal
            try:
                ctype = IMAGE_TYPES.get(rel[rel.rfind("."):], "application/octet-stream")
                return reply(self._rig.image_path(rel).read_bytes(), ctype)
            except OSError:
                pass
        return reply(b"not found\n", "text/plain", 404, "Not Found")

    def refusal(self, host: str | None, origin: str | None, path: str,
                method: str = "GET") -> str | None:
        """Why a request is refused (None: served). Every request must be addressed to this
        server by its own name; the WebSocket also needs an allowed Origin (browsers always
        send one, so a missing Origin is not a browser page of ours); a POST from a browser
        page (which always names its Origin) must come from an allowed origin."""
        if host not in self._hosts:
            return f"Host {host!r} is not this server"
        if path.split("?", 1)[0] == WS_PATH and origin not in self._origins:
            return f"Origin {origin!r} is not allowed (see --allow-origin)"
        if method != "GET" and origin is not None and origin not in self._origins:
            return f"Origin {origin!r} may not send cues (see --allow-origin)"
        return None

    def _page_with_rig(self) -> bytes:
        """The page with the manifest and the newest frame (or the rest face) inlined, so it
        needs no request before its images: they load before its load event, and it draws
        as soon as they are in (a screenshot taken at the load event shows the character)."""
        with self._lock:
            first = self._newest() or self._rest
        blob = f'{{"rig": {self._manifest.decode()}, "first": {first}}}'
        return self._page.replace(PAGE_SLOT, blob.replace("</", "<\\/").encode())

    def cue(self, name: str) -> str | None:
        """Cue expression ``name`` (live controls); returns why not (None: done)."""
        if self._on_cue is None:
            return "expression cues are not enabled"
        if name not in self._expressions:
            return f"unknown expression {name!r} (the rig has: " \
                   f"{', '.join(self._manifest_dict['expressions'])})"
        self._on_cue(name)
        self.n_cues += 1
        return None

    # --- WebSocket --------------------------------------------------------------------------

    def _handle(self, connection: Any) -> None:
        from websockets.exceptions import ConnectionClosed

        threading.current_thread().name = "web-client"  # (the server's is unnamed)
        page = PageConnection(connection)
        with self._lock:
            self._clients.add(page)
            newest = self._newest()
            if newest is not None:
                page.slot.put((newest, -1.0, self.n_sent))
        threading.Thread(target=self._read_controls, args=(connection,), daemon=True,
                         name="web-controls").start()
        try:
            while not self._closing.is_set():
                item = page.slot.take(timeout_s=0.5)
                if item is None:
                    if page.slot.closed:  # the loop found the page gone
                        break
                    continue
                text, handed_s, seq = item
                if page.write_taken(text, seq) and self._sync is not None and handed_s >= 0:
                    self._sync.record_delivery(time.perf_counter() - handed_s)  # hand-off -> sent
        except ConnectionClosed:
            pass
        finally:
            with self._lock:
                self._clients.discard(page)
                self._dropped_gone += page.n_dropped

    def _read_controls(self, connection: Any) -> None:
        """Control messages of one client: {"expression": NAME}; a bad one is answered with
        {"error": reason} on that connection."""
        from websockets.exceptions import ConnectionClosed

        try:
            for text in connection:
                try:
                    msg = json.loads(text)
                    name = msg["expression"] if isinstance(msg, dict) else None
                except (ValueError, KeyError, TypeError):
                    name = None
                error = (self.cue(name) if isinstance(name, str)
                         else 'expected {"expression": NAME}')
                if error:
                    connection.send(json.dumps({"error": error}))
        except ConnectionClosed:
            pass

    def _newest(self) -> str | None:
        """The newest frame's JSON, made now if the loop left it to us (under ``_lock``)."""
        if self._last is None and self._last_live is not None:
            self._last, self._last_live = choice_message(self._last_live), None
        return self._last

    def send(self, live: LiveFrame) -> None:
        """The frame's JSON to every page (never blocks: the loop calls it): written to its
        socket at once when that never waits (:meth:`PageConnection.write_now`), else into its
        mailbox; with no page connected, only the frame is kept (its JSON is made if one
        connects)."""
        text = choice_message(live) if self._clients else None
        with self._lock:
            self.n_sent += 1
            if text is None and self._clients:  # a page connected meanwhile
                text = choice_message(live)
            self._last, self._last_live = text, (live if text is None else None)
            seq = self.n_sent
            for page in self._clients:
                if page.write_now(text, seq):
                    self.n_written_inline += 1
                    if self._sync is not None:
                        self._sync.record_delivery(time.perf_counter() - live.decided_s)
                else:
                    page.slot.put((text, live.decided_s, seq))

    def close(self) -> None:
        """Stop serving (idempotent)."""
        if self._closing.is_set():
            return
        self._closing.set()
        with self._lock:
            for page in self._clients:
                page.slot.close()
        self._server.shutdown()
        self._thread.join(2.0)

    def __enter__(self) -> WebSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
