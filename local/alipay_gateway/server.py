"""The HTTP/1.1 server (stdlib, one thread per connection, keep-alive) and an in-process starter."""

from __future__ import annotations

import json
import select
import socket
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from local.alipay_gateway.admin_api import PREFIX, handle_admin
from local.alipay_gateway.api_calls import handle_api
from local.alipay_gateway.apis import APIS
from local.alipay_gateway.gateway_state import GatewayConfig, GatewayState
from local.alipay_gateway.replies import JSON_TYPE, Reply, v3_error_body

IDLE_KEEPALIVE_SECONDS = 30.0


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A caller killed mid-request (a crashed Lambda environment) drops its connection: expected.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)

    def __init__(self, address: tuple[str, int], state: GatewayState, verbose: bool) -> None:
        self.state = state
        self.verbose = verbose
        self.stopping = threading.Event()
        self.open_connections: set[socket.socket] = set()
        self.connections_accepted = 0
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "AlipayGatewayEmulator/1.0"
    timeout = IDLE_KEEPALIVE_SECONDS  # idle keep-alive connections (and their threads) end after this
    disable_nagle_algorithm = True  # headers and body go out in two writes: avoid the delayed-ACK stall
    server: _Server

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.open_connections.add(self.connection)
            self.server.connections_accepted += 1

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.open_connections.discard(self.connection)
        super().finish()

    def parse_request(self) -> bool:
        # The request line has just been read: the latency an answer waits counts from here, so the
        # emulator's own work (verifying, signing) falls inside it, as Alipay's does inside its round
        # trip, instead of queueing after it on this process's one interpreter.
        self.arrived_at = time.monotonic()
        return super().parse_request()

    def log_message(self, format: str, *args: object) -> None:
        if self.server.verbose:
            super().log_message(format, *args)

    def _read_body(self) -> bytes | None:
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            self._send(Reply(411, v3_error_body("length-required", "send Content-Length")))
            return None
        try:
            length = int(self.headers.get("content-length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            self._send(Reply(400, v3_error_body("bad-request", "bad Content-Length")))
            return None
        return self.rfile.read(length) if length > 0 else b""

    def do_POST(self) -> None:
        self._guarded()

    def do_GET(self) -> None:
        self._guarded()

    def do_DELETE(self) -> None:
        self._guarded()

    def _guarded(self) -> None:
        try:
            self._dispatch()
        except ConnectionError:
            raise  # the caller hung up (a killed Lambda environment): _Server.handle_error drops it quietly
        except Exception:  # noqa: BLE001 - an emulator bug must show as a 500, not a dropped connection
            traceback.print_exc()
            self.close_connection = True
            self._send(Reply(500, v3_error_body("internal-error", "emulator error (see its stderr)")))

    def _dispatch(self) -> None:
        body = self._read_body()
        if body is None:
            return
        api = APIS.get(self.path.split("?", 1)[0])
        if self.path.startswith(PREFIX):
            self._admin(body)
        elif api is not None and api.method == self.command:
            headers = {name.lower(): value for name, value in self.headers.items()}
            self._send(handle_api(self.server.state, self.command, self.path, headers, body))
        else:
            self._send(Reply(404, v3_error_body("not-found", f"no such API {self.command} {self.path}")))

    def _admin(self, body: bytes) -> None:
        status, obj = handle_admin(self.server.state, self.command, self.path, body)
        self._send(Reply(status, json.dumps(obj, ensure_ascii=False).encode(), JSON_TYPE))

    def _wait_for_client(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; False as soon as the client hangs up or the server stops."""
        deadline = time.monotonic() + seconds
        while not self.server.stopping.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return True
            try:
                readable, _, _ = select.select([self.connection], [], [], min(left, 0.05))
                if readable and not self.connection.recv(1, socket.MSG_PEEK):
                    return False  # orderly close by the client: it gave up
            except OSError:
                return False
            if readable:
                time.sleep(min(left, 0.05))  # client sent more bytes (pipelining): keep holding
        return False

    def _send(self, reply: Reply) -> None:
        if reply.hang:
            self._wait_for_client(self.server.state.hang_seconds)
            self.close_connection = True  # never answered: this connection is finished
            return
        if reply.delay_seconds > 0:
            left = reply.delay_seconds - (time.monotonic() - self.arrived_at)
            if left > 0 and not self._wait_for_client(left):
                self.close_connection = True
                return
        self.send_response(reply.status)
        if self.close_connection:  # the client asked to close, or we will: say so, or it may reuse it
            self.send_header("Connection", "close")
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if reply.drip_seconds <= 0:
            self.wfile.write(reply.body)
            return
        self.wfile.flush()
        for index in range(len(reply.body)):  # a slow peer: one byte at a time
            if index and not self._wait_for_client(reply.drip_seconds):
                self.close_connection = True
                return
            try:
                self.wfile.write(reply.body[index : index + 1])
                self.wfile.flush()
            except OSError:
                self.close_connection = True
                return


class GatewayServer:
    """In-process starter: ``base_url = GatewayServer(config).start()``; ``stop()`` when done."""

    def __init__(
        self, config: GatewayConfig, host: str = "127.0.0.1", port: int = 0, *, verbose: bool = False
    ) -> None:
        self.state = GatewayState(config)
        self._httpd = _Server((host, port), self.state, verbose)
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def open_connections(self) -> int:
        """TCP connections open now (a connection's thread has ended once it is no longer counted)."""
        with self._httpd.connections_lock:
            return len(self._httpd.open_connections)

    @property
    def connections_accepted(self) -> int:
        """TCP connections accepted so far (keep-alive clients reuse one)."""
        with self._httpd.connections_lock:
            return self._httpd.connections_accepted

    def start(self) -> str:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="alipay-gateway",
            daemon=True,
        )
        self._thread.start()
        return self.base_url

    def serve_forever(self) -> None:
        self._httpd.serve_forever(poll_interval=0.2)

    def stop(self) -> None:
        self._httpd.stopping.set()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
        with self._httpd.connections_lock:
            connections = list(self._httpd.open_connections)
        for conn in connections:  # wake keep-alive threads blocked in readline
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._httpd.server_close()

    def __enter__(self) -> GatewayServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
