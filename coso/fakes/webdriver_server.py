"""The simulated phone served over the W3C WebDriver / Appium wire protocol on loopback.

``SimWebDriverServer`` wraps any ``coso.env.base.Device`` (normally a ``SimPhone``) in a small HTTP server
(standard library, one thread per connection, port 0 -> a free port) that answers the subset of the
protocol ``AppiumDevice`` uses, so the real-device code path (appium-python-client included) runs end to
end without an emulator:

====================================================  ==============================================
``GET /status``                                        readiness
``POST /session`` / ``DELETE /session/{id}``           open / close a session (a new one replaces the old)
``GET /session/{id}/screenshot``                       base64 PNG
``GET /session/{id}/window/rect``                      screen size in pixels
``POST /session/{id}/actions``                         W3C pointer actions -> tap or swipe
``DELETE /session/{id}/actions``                       release actions (nothing is held)
``POST /session/{id}/back``                            Back key
``POST /session/{id}/execute/sync``                    ``mobile: pressKey`` (keycodes 3/4/66) and
                                                       ``mobile: cosoReset`` {seed} (simulator only)
``GET /session/{id}/element/active``                   the focused element
``POST /session/{id}/element/{eid}/value``             type into it
====================================================  ==============================================

Anything else gets W3C error JSON (``unknown command``, ``invalid session id``, ...): a malformed body, an
unknown HTTP method, a bad ``Content-Length``, a request not received within ``read_timeout_s`` (idle
connections are closed then) and a connection beyond ``max_connections`` (after waiting up to
``queue_wait_s`` for a free slot: 503) all get one, never a dropped connection or a traceback. ``Fault`` entries
make the k-th request drop its connection, answer 500, or hang (no answer for N seconds, then the
connection drops); a faulted request's command is never run, so what the phone did stays deterministic. The
``/wd/hub`` prefix of Appium 1 is accepted too.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import math
import re
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

from coso.env.base import Device, DeviceWrapper
from coso.errors import ConfigError, DeviceError

logger = logging.getLogger(__name__)

W3C_ELEMENT_KEY = "element-6066-11e4-a52e-4f735466cecf"
FAULT_KINDS = ("drop", "error", "hang")
KEY_ENTER = ("\ue007", "\ue006")  # WebDriver's Enter and Return keys
LEGACY_PREFIX = "/wd/hub"
MAX_BODY_BYTES = 4 * 1024 * 1024  # the largest request body read (AppiumDevice sends a few hundred bytes)
REAP_INTERVAL_S = 0.05  # how often timed-out reads, queued connections and rejected sockets are checked


@dataclass(frozen=True)
class Fault:
    """An injected failure: requests ``at_request`` .. ``at_request + count - 1`` (1-based) drop, fail or hang."""

    kind: str  # "drop": close the connection unanswered; "error": HTTP 500; "hang": silence for hang_s, then drop
    at_request: int
    count: int = 1
    hang_s: float = 5.0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ConfigError(f"Fault kind {self.kind!r} is not one of {FAULT_KINDS}")
        if self.at_request < 1 or self.count < 1 or self.hang_s < 0:
            raise ConfigError(f"Fault needs at_request >= 1, count >= 1 and hang_s >= 0, got {self}")

    def applies_to(self, request_number: int) -> bool:
        """True when this fault hits the request with this number."""
        return self.at_request <= request_number < self.at_request + self.count


class W3CError(Exception):
    """A protocol error answered as W3C error JSON."""

    STATUS = {
        "invalid argument": HTTPStatus.BAD_REQUEST,
        "invalid session id": HTTPStatus.NOT_FOUND,
        "no such element": HTTPStatus.NOT_FOUND,
        "unknown command": HTTPStatus.NOT_FOUND,
        "unknown method": HTTPStatus.METHOD_NOT_ALLOWED,
        "timeout": HTTPStatus.REQUEST_TIMEOUT,
        "session not created": HTTPStatus.INTERNAL_SERVER_ERROR,
        "unsupported operation": HTTPStatus.INTERNAL_SERVER_ERROR,
        "unknown error": HTTPStatus.INTERNAL_SERVER_ERROR,
    }

    def __init__(self, error: str, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.error = error
        self.message = message
        self._status = status

    @property
    def status(self) -> int:
        """The HTTP status the W3C spec gives this error (or the one given explicitly)."""
        if self._status is not None:
            return int(self._status)
        return int(self.STATUS.get(self.error, HTTPStatus.INTERNAL_SERVER_ERROR))

    def body(self) -> dict[str, Any]:
        """The W3C error JSON."""
        return {"value": {"error": self.error, "message": self.message, "stacktrace": ""}}


@dataclass(frozen=True)
class Gesture:
    """A completed touch gesture in pixels: a tap when start == end, else a swipe."""

    start: tuple[float, float]
    end: tuple[float, float]

    @property
    def is_tap(self) -> bool:
        """True when the finger did not move."""
        return math.dist(self.start, self.end) < 1.0


def pixel_to_fraction(pixel: float, size: int) -> float:
    """The centre of pixel ``pixel`` as a normalised coordinate (inverse of ``to_pixel`` up to half a pixel)."""
    return min(1.0, max(0.0, (math.floor(pixel) + 0.5) / size))


def _source_actions(source: dict[str, Any]) -> list[dict[str, Any]]:
    """The action list of one input source, checked to be a list of objects."""
    actions = source.get("actions", [])
    if not isinstance(actions, list) or not all(isinstance(action, dict) for action in actions):
        raise W3CError("invalid argument", "an input source's 'actions' must be a list of action objects")
    return actions


def _coordinate(action: dict[str, Any], name: str) -> float:
    """A pointerMove coordinate: a finite JSON number."""
    value = action.get(name, 0)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise W3CError("invalid argument", f"pointerMove needs finite numeric x and y, got {name}={value!r:.80}")
    return float(value)


def pointer_gestures(source: dict[str, Any]) -> list[Gesture]:
    """The gestures one W3C pointer input source performs (viewport and pointer origins)."""
    position = (0.0, 0.0)
    down_at: tuple[float, float] | None = None
    gestures = []
    for action in _source_actions(source):
        kind = action.get("type")
        if kind == "pointerMove":
            origin = action.get("origin", "viewport")
            x, y = _coordinate(action, "x"), _coordinate(action, "y")
            if origin == "viewport":
                position = (x, y)
            elif origin == "pointer":
                position = (position[0] + x, position[1] + y)
            else:
                raise W3CError("invalid argument",
                               f"pointerMove origin {origin!r:.80} is not supported (viewport, pointer)")
        elif kind == "pointerDown":
            down_at = position
        elif kind == "pointerUp":
            if down_at is not None:
                gestures.append(Gesture(down_at, position))
            down_at = None
        elif kind not in ("pause", "pointerCancel"):
            raise W3CError("invalid argument", f"unknown pointer action type {kind!r:.80}")
    return gestures


def key_text(source: dict[str, Any]) -> str:
    """The characters a W3C key input source presses (keyDown values, in order)."""
    presses = [action.get("value", "") for action in _source_actions(source) if action.get("type") == "keyDown"]
    if not all(isinstance(value, str) for value in presses):
        raise W3CError("invalid argument", "a keyDown action's 'value' must be a string")
    return "".join(presses)


def type_keys(device: Device, text: str) -> None:
    """Type ``text`` on ``device``: WebDriver's Enter / Return press Enter, its other special keys are ignored."""
    chunk = ""
    for char in text:
        if char in KEY_ENTER:
            if chunk:
                device.type_text(chunk)
                chunk = ""
            device.press_enter()
        elif not "\ue000" <= char <= "\uf8ff":  # other WebDriver special keys are ignored
            chunk += char
    if chunk:
        device.type_text(chunk)


def perform_input_sources(device: Device, sources: list[Any]) -> None:
    """Run W3C input sources on ``device``: pointer gestures become taps and swipes, key presses typed text."""
    width, height = device.window_size()
    for source in sources:
        kind = source.get("type") if isinstance(source, dict) else None
        if kind == "pointer":
            for gesture in pointer_gestures(source):
                x0, y0 = pixel_to_fraction(gesture.start[0], width), pixel_to_fraction(gesture.start[1], height)
                if gesture.is_tap:
                    device.tap(x0, y0)
                else:
                    x1, y1 = pixel_to_fraction(gesture.end[0], width), pixel_to_fraction(gesture.end[1], height)
                    device.swipe(x0, y0, x1, y1)
        elif kind == "key":
            type_keys(device, key_text(source))
        elif kind not in ("none", "wheel"):
            raise W3CError("invalid argument", f"input source type {kind!r} is not supported")


def requested_capabilities(payload: dict[str, Any]) -> dict[str, Any]:
    """The capabilities a new-session request asks for (alwaysMatch merged with the first firstMatch), checked
    to name an Android platform."""
    requested = payload.get("capabilities", {})
    if not isinstance(requested, dict):
        raise W3CError("invalid argument", "'capabilities' must be an object")
    always = requested.get("alwaysMatch", {})
    first = requested.get("firstMatch", [{}])
    if not isinstance(always, dict) or not isinstance(first, list) or not all(isinstance(f, dict) for f in first):
        raise W3CError("invalid argument", "'alwaysMatch' must be an object and 'firstMatch' a list of objects")
    merged = {**always, **(first[0] if first else {})}
    platform = str(merged.get("platformName", "Android"))
    if platform.lower() != "android":
        raise W3CError("session not created", f"platformName {platform!r}: this server is an Android phone")
    return merged


@dataclass
class _Session:
    session_id: str
    capabilities: dict[str, Any]

    @property
    def focused_element(self) -> str:
        return f"{self.session_id}-focused"


Handler = Callable[["SimWebDriverServer", _Session | None, dict[str, Any], dict[str, str]], Any]


class SimWebDriverServer:
    """A loopback HTTP server speaking enough WebDriver/Appium for ``AppiumDevice`` to drive ``device``."""

    def __init__(
        self, device: Device, host: str = "127.0.0.1", port: int = 0, faults: Sequence[Fault] = (),
        session_override: bool = True, read_timeout_s: float = 30.0, max_connections: int = 32,
        max_waiting: int = 256, queue_wait_s: float = 5.0,
    ) -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ConfigError(f"SimWebDriverServer host={host!r}: the simulator server only listens on loopback")
        if not (read_timeout_s > 0 and queue_wait_s >= 0 and max_connections >= 1 and max_waiting >= 0):
            raise ConfigError("SimWebDriverServer needs read_timeout_s > 0, queue_wait_s >= 0, max_connections >= 1 "
                              f"and max_waiting >= 0, got {read_timeout_s}, {queue_wait_s}, {max_connections}, "
                              f"{max_waiting}")
        self.read_timeout_s = float(read_timeout_s)  # to receive one request (idle time included), and per send
        self.max_connections = int(max_connections)  # connections served at once (one thread each)
        self.max_waiting = int(max_waiting)  # accepted connections waiting for a slot; beyond: 503 at once
        self.queue_wait_s = float(queue_wait_s)  # a waiting connection gets 503 after this long
        self.device = device
        self.host = host
        self.requested_port = port
        self.faults = tuple(faults)
        self.session_override = session_override
        self.requests_served = 0  # session requests seen (``/status`` is not counted); faults are keyed on it
        self.commands: deque[str] = deque(maxlen=1000)  # "METHOD route" of recent session requests (tests, debugging)
        self._session: _Session | None = None
        self._device_lock = threading.Lock()
        self._count_lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: _BoundedHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._reaper: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------------------

    def start(self) -> SimWebDriverServer:
        """Bind (port 0 -> a free port) and serve in a daemon thread."""
        server = self
        self._stopping.clear()

        class RequestHandler(_RequestHandler):
            app = server

        self._httpd = _BoundedHTTPServer((self.host, self.requested_port), RequestHandler, self)
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="sim-webdriver-server", daemon=True)
        self._thread.start()
        self._reaper = threading.Thread(target=self._reap_loop, args=(self._httpd,), name="sim-webdriver-reaper",
                                        daemon=True)
        self._reaper.start()
        return self

    def stop(self) -> None:
        """Stop serving; hanging fault handlers are released."""
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.close_pending()
            self._httpd.server_close()
            self._httpd = None
        for thread in (self._thread, self._reaper):
            if thread is not None:
                thread.join(timeout=5.0)
        self._thread = self._reaper = None

    def _reap_loop(self, httpd: _BoundedHTTPServer) -> None:
        """Time out slow reads, answer connections that waited too long, close rejected sockets."""
        while not self._stopping.wait(REAP_INTERVAL_S):
            httpd.reap()

    def __enter__(self) -> SimWebDriverServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The port actually bound."""
        if self._httpd is None:
            raise RuntimeError("SimWebDriverServer is not started")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """The base URL to give ``AppiumDevice``."""
        return f"http://{self.host}:{self.port}"

    @property
    def session_id(self) -> str | None:
        """The open session's id, if any."""
        return self._session.session_id if self._session else None

    # -- request dispatch ----------------------------------------------------------------------------

    def next_fault(self, path: str) -> Fault | None:
        """Count this request and return the fault that hits it, if any (``/status`` is never faulted)."""
        if _route_path(path) == "/status":
            return None
        with self._count_lock:
            self.requests_served += 1
            number = self.requests_served
        return next((fault for fault in self.faults if fault.applies_to(number)), None)

    def wait_hang(self, seconds: float) -> None:
        """Sleep for a hang fault, cut short when the server stops."""
        self._stopping.wait(seconds)

    def dispatch(self, method: str, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
        """Route one request; returns (HTTP status, JSON body)."""
        route = _route_path(path)
        try:
            payload = json.loads(body.decode("utf-8"), parse_constant=_reject_constant) if body.strip() else {}
        except (UnicodeDecodeError, ValueError) as error:
            bad_body = W3CError("invalid argument", f"the request body is not JSON: {error}")
            return bad_body.status, bad_body.body()
        except RecursionError:
            bad_body = W3CError("invalid argument", "the request body is nested too deeply")
            return bad_body.status, bad_body.body()
        if not isinstance(payload, dict):
            payload = {}
        allowed = []
        for route_method, pattern, handler, needs_session in ROUTES:
            match = pattern.fullmatch(route)
            if match is None:
                continue
            if route_method != method:
                allowed.append(route_method)
                continue
            params = match.groupdict()
            if route != "/status":
                self.commands.append(f"{method} {_route_label(pattern)}")
            try:
                session = self._require_session(params.get("sid")) if needs_session else None
                with self._device_lock:
                    value = handler(self, session, payload, params)
            except W3CError as error:
                return error.status, error.body()
            except DeviceError as error:
                failure = W3CError("unknown error", f"the device failed: {type(error).__name__}: {error}")
                return failure.status, failure.body()
            except Exception as error:  # noqa: BLE001 - a bad request must get an answer, never a dropped connection
                logger.debug("%s %s failed", method, route, exc_info=True)
                failure = W3CError("unknown error", f"{method} {route} failed: {type(error).__name__}: {error!s:.200}")
                return failure.status, failure.body()
            return HTTPStatus.OK, {"value": value}
        if allowed:
            failure = W3CError("unknown method", f"{method} is not allowed on {route} (use {', '.join(allowed)})")
        else:
            failure = W3CError("unknown command", f"{method} {route} is not a command this server knows")
        return failure.status, failure.body()

    def _require_session(self, session_id: str | None) -> _Session:
        if self._session is None or session_id != self._session.session_id:
            raise W3CError("invalid session id", f"no open session with id {session_id!r}")
        return self._session

    # -- command handlers ----------------------------------------------------------------------------

    def _status(self, session: _Session | None, payload: dict, params: dict) -> Any:
        return {"ready": True, "message": "coso simulated phone", "build": {"version": "coso-sim"}}

    def _new_session(self, session: _Session | None, payload: dict, params: dict) -> Any:
        merged = requested_capabilities(payload)
        if self._session is not None and not self.session_override:
            raise W3CError("session not created", "a session is already open on this phone")
        width, height = self.device.window_size()
        capabilities = {key.split(":", 1)[-1]: value for key, value in merged.items()}
        capabilities.update({"platformName": "Android", "automationName": "UiAutomator2",
                             "deviceScreenSize": f"{width}x{height}", "deviceName": "coso-sim"})
        self._session = _Session(uuid.uuid4().hex, capabilities)
        return {"sessionId": self._session.session_id, "capabilities": capabilities}

    def _delete_session(self, session: _Session | None, payload: dict, params: dict) -> Any:
        self._session = None
        return None

    def _screenshot(self, session: _Session | None, payload: dict, params: dict) -> Any:
        buffer = io.BytesIO()
        self.device.screenshot().convert("RGB").save(buffer, format="PNG", compress_level=1)
        return base64.b64encode(buffer.getvalue()).decode("ascii")

    def _window_rect(self, session: _Session | None, payload: dict, params: dict) -> Any:
        width, height = self.device.window_size()
        return {"x": 0, "y": 0, "width": width, "height": height}

    def _perform_actions(self, session: _Session | None, payload: dict, params: dict) -> Any:
        sources = payload.get("actions")
        if not isinstance(sources, list):
            raise W3CError("invalid argument", "POST /actions needs an 'actions' list of input sources")
        perform_input_sources(self.device, sources)
        return None

    def _release_actions(self, session: _Session | None, payload: dict, params: dict) -> Any:
        return None

    def _back(self, session: _Session | None, payload: dict, params: dict) -> Any:
        self.device.press_back()
        return None

    def _execute(self, session: _Session | None, payload: dict, params: dict) -> Any:
        script = str(payload.get("script", "")).strip()
        args = payload.get("args") or [{}]
        arguments = args[0] if isinstance(args, list) and args and isinstance(args[0], dict) else {}
        command = MOBILE_COMMANDS.get(script)
        if command is None:
            raise W3CError("unsupported operation",
                           f"script {script!r} is not supported; use one of {sorted(MOBILE_COMMANDS)}")
        return command(self, arguments)

    def _active_element(self, session: _Session | None, payload: dict, params: dict) -> Any:
        assert session is not None
        return {W3C_ELEMENT_KEY: session.focused_element}

    def _element_value(self, session: _Session | None, payload: dict, params: dict) -> Any:
        assert session is not None
        if params.get("eid") != session.focused_element:
            raise W3CError("no such element", f"element {params.get('eid')!r} is not on the screen")
        text = payload.get("text")
        if not isinstance(text, str):
            value = payload.get("value")
            text = "".join(str(v) for v in value) if isinstance(value, list) else None
        if text is None:
            raise W3CError("invalid argument", "element value needs 'text' (a string) or 'value' (a list)")
        type_keys(self.device, text)
        return None

    # -- mobile: commands ----------------------------------------------------------------------------

    def _press_key(self, arguments: dict[str, Any]) -> Any:
        keycode = arguments.get("keycode")
        press = KEYCODE_ACTIONS.get(keycode) if isinstance(keycode, int) else None
        if press is None:
            raise W3CError("invalid argument",
                           f"keycode {keycode!r} is not supported; use one of {sorted(KEYCODE_ACTIONS)}")
        press(self.device)
        return None

    def _reset(self, arguments: dict[str, Any]) -> Any:
        seed = arguments.get("seed")
        if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**32:
            raise W3CError("invalid argument",
                           f"mobile: cosoReset needs an integer 'seed' in [0, 2**32), got {seed!r:.80}")
        self.device.reset(seed)
        return None


KEYCODE_ACTIONS: dict[int, Callable[[Device], None]] = {
    3: lambda device: device.press_home(),
    4: lambda device: device.press_back(),
    66: lambda device: device.press_enter(),
}

MOBILE_COMMANDS: dict[str, Callable[[SimWebDriverServer, dict[str, Any]], Any]] = {
    "mobile: pressKey": SimWebDriverServer._press_key,
    "mobile: cosoReset": SimWebDriverServer._reset,
}

_SID = r"(?P<sid>[^/]+)"
ROUTES: list[tuple[str, re.Pattern[str], Handler, bool]] = [
    (method, re.compile(pattern), handler, needs_session)
    for method, pattern, handler, needs_session in [
        ("GET", r"/status", SimWebDriverServer._status, False),
        ("POST", r"/session", SimWebDriverServer._new_session, False),
        ("DELETE", rf"/session/{_SID}", SimWebDriverServer._delete_session, True),
        ("GET", rf"/session/{_SID}/screenshot", SimWebDriverServer._screenshot, True),
        ("GET", rf"/session/{_SID}/window/rect", SimWebDriverServer._window_rect, True),
        ("POST", rf"/session/{_SID}/actions", SimWebDriverServer._perform_actions, True),
        ("DELETE", rf"/session/{_SID}/actions", SimWebDriverServer._release_actions, True),
        ("POST", rf"/session/{_SID}/back", SimWebDriverServer._back, True),
        ("POST", rf"/session/{_SID}/execute/sync", SimWebDriverServer._execute, True),
        ("GET", rf"/session/{_SID}/element/active", SimWebDriverServer._active_element, True),
        ("POST", rf"/session/{_SID}/element/(?P<eid>[^/]+)/value", SimWebDriverServer._element_value, True),
    ]
]


def _route_label(pattern: re.Pattern[str]) -> str:
    return re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", pattern.pattern)


def _route_path(path: str) -> str:
    route = path.split("?", 1)[0].rstrip("/") or "/"
    if route.startswith(LEGACY_PREFIX):
        route = route[len(LEGACY_PREFIX):] or "/"
    return route


def _reject_constant(name: str) -> Any:
    """json.loads hook: NaN and Infinity are not JSON."""
    raise ValueError(f"{name} is not a JSON number")


def _phrase(status: int) -> str:
    """The reason phrase of an HTTP status."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _error_bytes(error: W3CError) -> bytes:
    """A complete HTTP/1.1 response carrying the W3C error JSON, announcing that the connection closes."""
    data = json.dumps(error.body()).encode("utf-8")
    head = (f"HTTP/1.1 {error.status} {_phrase(error.status)}\r\nContent-Type: application/json; charset=utf-8\r\n"
            f"Content-Length: {len(data)}\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n")
    return head.encode("ascii") + data


class _BoundedHTTPServer(HTTPServer):
    """An HTTP server with at most ``max_connections`` handler threads; more connections wait, then get 503."""

    request_queue_size = 512  # listen backlog: a burst of connections waits in the kernel instead of being reset
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handler: type[_RequestHandler], app: SimWebDriverServer) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.app = app
        self._lock = threading.Lock()
        self._active = 0
        self._handlers: set[_RequestHandler] = set()
        self._waiting: deque[tuple[socket.socket, Any, float]] = deque()
        self._lingering: list[tuple[socket.socket, float]] = []  # rejected sockets, drained before closing
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        """Serve the connection in a free slot, queue it, or answer 503 when the queue is full too."""
        with self._lock:
            if self._active < self.app.max_connections:
                self._active += 1
            elif len(self._waiting) < self.app.max_waiting:
                self._waiting.append((request, client_address, time.monotonic()))
                return
            else:
                self._reject(request, f"the server is busy: {self.app.max_connections} connections are served and "
                                      f"{self.app.max_waiting} wait (max_connections, max_waiting); retry later")
                return
        try:
            threading.Thread(target=self._serve, args=(request, client_address), daemon=True,
                             name="sim-webdriver-connection").start()
        except RuntimeError:  # no thread could be started: answer instead of dropping the connection
            with self._lock:
                self._active -= 1
                self._reject(request, "the server could not start a thread for this connection; retry later")

    def _serve(self, request: Any, client_address: Any) -> None:
        """Serve connections in this slot until none waits."""
        while True:
            try:
                self.finish_request(request, client_address)
            except Exception:  # noqa: BLE001
                self.handle_error(request, client_address)
            finally:
                self.shutdown_request(request)
            with self._lock:
                if not self._waiting or self.app._stopping.is_set():
                    self._active -= 1
                    return
                request, client_address, _ = self._waiting.popleft()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A connection that failed (reset by the client, ...) is logged at debug level, without a traceback."""
        logger.debug("connection from %s failed", client_address, exc_info=True)

    def register(self, handler: _RequestHandler, active: bool) -> None:
        """Track a connection's handler (its read deadline is watched by ``reap``)."""
        with self._lock:
            (self._handlers.add if active else self._handlers.discard)(handler)

    def _reject(self, request: socket.socket, message: str) -> None:
        """Answer 503 without reading the request; the socket is closed once the client has sent it (or soon)."""
        try:
            request.setblocking(False)
            request.send(_error_bytes(W3CError("unknown error", message, HTTPStatus.SERVICE_UNAVAILABLE)))
            request.shutdown(socket.SHUT_WR)
        except OSError:
            request.close()
            return
        self._lingering.append((request, time.monotonic() + 2.0))

    def reap(self) -> None:
        """Time out reads past their deadline, answer 503 to connections that waited too long, close rejected ones."""
        now = time.monotonic()
        with self._lock:
            for handler in self._handlers:
                handler.expire(now)
            while self._waiting and now - self._waiting[0][2] > self.app.queue_wait_s:
                request, _, queued_at = self._waiting.popleft()
                self._reject(request, f"the server is busy: all {self.app.max_connections} connections "
                                      f"(max_connections) stayed in use for {now - queued_at:.1f} s; retry later")
            still = []
            for request, until in self._lingering:
                try:
                    while request.recv(65536):
                        pass
                except BlockingIOError:
                    if now < until:
                        still.append((request, until))
                        continue
                except OSError:
                    pass
                request.close()
            self._lingering = still

    def close_pending(self) -> None:
        """Close queued and rejected connections (the server is stopping)."""
        with self._lock:
            for request in [entry[0] for entry in self._waiting] + [entry[0] for entry in self._lingering]:
                request.close()
            self._waiting.clear()
            self._lingering = []
            for handler in self._handlers:
                handler.expire(float("inf"))


class _RequestHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive handler that applies faults, then hands the request to the server object.

    Every request gets W3C error JSON when it cannot be served: any HTTP method is routed (unknown ones answer
    ``unknown method``), the standard library's own errors (bad request line, long headers) are sent as JSON,
    and a request not received within ``read_timeout_s`` gets ``timeout`` (an idle connection is just closed).
    """

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes: no 40 ms delayed-ACK stalls
    app: SimWebDriverServer
    server: _BoundedHTTPServer

    def setup(self) -> None:
        """Apply the read/send timeout and register with the server's reaper."""
        # typeshed declares timeout a ClassVar, but socketserver reads it from the instance in setup()
        self.timeout = self.app.read_timeout_s  # type: ignore[misc]
        self._deadline: float | None = None
        self._timed_out = False
        super().setup()
        self.server.register(self, True)

    def finish(self) -> None:
        """Unregister, then close the streams."""
        self.server.register(self, False)
        try:
            super().finish()
        except OSError:
            pass

    def expire(self, now: float) -> None:
        """Cut a read that passed its deadline: the blocked read returns and the request is answered ``timeout``."""
        if self._deadline is not None and now >= self._deadline and not self._timed_out:
            self._timed_out = True
            try:
                self.connection.shutdown(socket.SHUT_RD)
            except OSError:
                pass

    def handle_one_request(self) -> None:
        """Read and answer one request; the whole request must arrive within ``read_timeout_s``."""
        self._deadline = time.monotonic() + self.app.read_timeout_s
        try:
            super().handle_one_request()
        except OSError as error:  # the client went away mid-request: nothing to answer
            logger.debug("connection closed by the client: %s", error)
            self.close_connection = True
        finally:
            self._deadline = None

    def parse_request(self) -> bool:
        """The standard parser, but a request line or headers cut short by the deadline get ``timeout``."""
        if self._timed_out:
            self.request_version, self.command, self.requestline = "HTTP/1.1", "", ""
            self._send_timeout()
            return False
        parsed = super().parse_request()
        if parsed and self._timed_out:
            self._send_timeout()
            return False
        if parsed and self.request_version == "HTTP/0.9":
            self.send_error(HTTPStatus.BAD_REQUEST, "HTTP/0.9 requests are not supported: send HTTP/1.1")
            return False
        return parsed

    def _send_timeout(self) -> None:
        self.send_error(HTTPStatus.REQUEST_TIMEOUT, f"the request was not received within {self.app.read_timeout_s} s")

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The standard library's errors as W3C error JSON, with HTTP/1.1 headers; the connection closes after it."""
        if getattr(self, "request_version", "HTTP/0.9") == "HTTP/0.9":
            self.request_version = "HTTP/1.1"  # a request line the parser took for HTTP/0.9 still gets headers
        errors: dict[int, str] = {
            HTTPStatus.NOT_FOUND: "unknown command", HTTPStatus.METHOD_NOT_ALLOWED: "unknown method",
            HTTPStatus.NOT_IMPLEMENTED: "unknown method", HTTPStatus.REQUEST_TIMEOUT: "timeout"}
        status = HTTPStatus.METHOD_NOT_ALLOWED if code == HTTPStatus.NOT_IMPLEMENTED else code
        name = errors.get(code, "invalid argument" if 400 <= code < 500 else "unknown error")
        text = message or _phrase(code)
        self._send_json(*_w3c(W3CError(name, f"{text}{': ' + explain if explain else ''}", int(status))), close=True)

    def log_message(self, format: str, *args: Any) -> None:  # route the standard library's access log
        logger.debug("%s - %s", self.address_string(), format % args)

    def __getattr__(self, name: str) -> Any:
        """Every HTTP method is handled (``do_X``): those no route takes answer ``unknown method`` as JSON."""
        if name.startswith("do_") and len(name) > 3:
            return lambda: self._handle(name[3:])
        raise AttributeError(name)

    def _read_body(self) -> bytes:
        """The request body, per Content-Length; W3CError for a bad length, a chunked body or a short read."""
        if self.headers.get("Transfer-Encoding"):
            raise W3CError("invalid argument", "chunked request bodies are not supported: send a Content-Length",
                           HTTPStatus.LENGTH_REQUIRED)
        raw = (self.headers.get("Content-Length") or "0").strip()
        if not raw.isascii() or not raw.isdigit():
            raise W3CError("invalid argument", f"Content-Length {raw[:40]!r} is not a non-negative integer")
        length = int(raw) if len(raw) < 20 else MAX_BODY_BYTES + 1
        if length > MAX_BODY_BYTES:
            raise W3CError("invalid argument", f"the request body of {raw[:20]} bytes is over the "
                           f"{MAX_BODY_BYTES}-byte limit", HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
        chunks, received = [], 0
        try:
            while received < length and not self._timed_out:
                chunk = self.rfile.read1(length - received)
                if not chunk:
                    break
                chunks.append(chunk)
                received += len(chunk)
        except TimeoutError:
            pass
        if received < length:
            raise W3CError("timeout", f"the request body ended after {received} of {length} bytes (Content-Length); "
                           f"nothing more came within {self.app.read_timeout_s} s", HTTPStatus.REQUEST_TIMEOUT)
        return b"".join(chunks)

    def _handle(self, method: str) -> None:
        try:
            body = self._read_body()
        except W3CError as error:
            self._send_json(*_w3c(error), close=True)
            return
        self._deadline = None  # the request is in: the command itself may take as long as the device does
        fault = self.app.next_fault(self.path)
        if fault is not None and fault.kind == "hang":
            self.app.wait_hang(fault.hang_s)  # a stuck device: nothing for hang_s, then the connection drops
        if fault is not None and fault.kind in ("drop", "hang"):
            self.close_connection = True  # no answer at all and the command is not run
            return
        if fault is not None and fault.kind == "error":
            status, payload = _w3c(W3CError("unknown error", "injected server fault"))
        else:
            status, payload = self.app.dispatch(method, self.path, body)
        self._send_json(status, payload, close=method == "HEAD")

    def _send_json(self, status: int, payload: dict[str, Any], *, close: bool) -> None:
        try:
            data = json.dumps(payload, allow_nan=False).encode("utf-8")
        except (TypeError, ValueError, RecursionError) as error:
            status, payload = _w3c(W3CError("unknown error", f"the answer could not be encoded as JSON: {error}"))
            data = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-cache")
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(data)


def _w3c(error: W3CError) -> tuple[int, dict[str, Any]]:
    """(HTTP status, W3C error JSON) of an error."""
    return error.status, error.body()


class ServedDevice(DeviceWrapper):
    """An ``AppiumDevice`` on a ``SimWebDriverServer`` plus the served phone's privileged state (experts, RuleJudge).

    Every control and screenshot goes over the wire through appium-python-client (W3C pointer actions, mobile:
    pressKey); only ``privileged_state`` reads the server-side phone directly, as the simulator's scripted
    expert needs. ``close`` ends the session; the server keeps running.
    """

    def __init__(self, server: SimWebDriverServer, timeouts: Any = None) -> None:
        from coso.env.android.appium_device import AppiumDevice

        self.server = server
        super().__init__(AppiumDevice(server.url, {"platformName": "Android"}, timeouts, reset_mode="sim_seed"))

    @property
    def remote(self) -> Any:
        """The Appium session over the wire."""
        return self.device

    def privileged_state(self) -> object | None:
        """The served phone's own state, read server-side."""
        return self.server.device.privileged_state()
