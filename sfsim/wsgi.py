"""A small threaded HTTPS server for WSGI apps, with HTTP/1.1 keep-alive.

Werkzeug's development server closes every connection and, after each response, drains the socket — which eats a
pipelined next request. Salesforce clients keep connections open, and a TLS handshake per call would dominate the
cost of small requests, so sfsim serves through this instead (Werkzeug still does requests and responses)."""

import contextlib
import io
import socket
import ssl
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

DROP = "sfsim.drop"  # environ key: a callable that closes the connection without an answer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "sfsim"
    sys_version = ""
    timeout = 300

    def setup(self) -> None:
        # Headers and body go out in separate writes: without NODELAY, Nagle plus the client's delayed ACK
        # would add ~40 ms to every response.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            self.request = self.server.ssl_context.wrap_socket(self.request, server_side=True)
        except (ssl.SSLError, OSError):
            self.request.close()
            raise ConnectionAbortedError from None
        super().setup()

    def log_message(self, format: str, *args) -> None:
        pass

    def handle_one_request(self) -> None:
        try:
            self.raw_requestline = self.rfile.readline(65537)
        except (OSError, ssl.SSLError):
            self.close_connection = True
            return
        if not self.raw_requestline:
            self.close_connection = True
            return
        if len(self.raw_requestline) > 65536:
            self.send_error(414)
            return
        if not self.parse_request():
            return
        try:
            self.run_wsgi()
        except (TimeoutError, ConnectionError, ssl.SSLError):
            self.close_connection = True

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def run_wsgi(self) -> None:
        body = self._read_body()
        path, _, query = self.path.partition("?")
        if "://" in path:
            path = "/" + path.split("://", 1)[1].partition("/")[2]
        environ = {
            "REQUEST_METHOD": self.command,
            "SCRIPT_NAME": "",
            "PATH_INFO": unquote(path, "latin-1"),
            "QUERY_STRING": query,
            "SERVER_NAME": self.server.server_name,
            "SERVER_PORT": str(self.server.port),
            "SERVER_PROTOCOL": self.request_version,
            "REMOTE_ADDR": self.client_address[0],
            "REMOTE_PORT": str(self.client_address[1]),
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "https",
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        for key, value in self.headers.items():
            name = "HTTP_" + key.upper().replace("-", "_")
            if name not in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
                environ[name] = f"{environ[name]},{value}" if name in environ else value
        dropped = []

        def drop() -> None:
            dropped.append(True)
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            self.connection.close()

        environ[DROP] = drop
        state: dict = {}

        def start_response(status, headers, exc_info=None):
            state["status"], state["headers"] = status, headers
            return lambda data: None

        result = self.server.app(environ, start_response)
        try:
            if dropped:
                return
            headers = state["headers"]
            names = {k.lower() for k, _ in headers}
            code = int(state["status"].split()[0])
            chunks: list | None = None
            if "content-length" not in names and code not in (204, 304):
                chunks = [c for c in result if c]
                headers = [*headers, ("Content-Length", str(sum(len(c) for c in chunks)))]
            self.send_response_only(code, state["status"].split(" ", 1)[1])
            self.send_header("Date", self.date_time_string())
            for key, value in headers:
                self.send_header(key, value)
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                for chunk in chunks if chunks is not None else result:
                    if chunk:
                        self.wfile.write(chunk)
            self.wfile.flush()
        finally:
            if hasattr(result, "close"):
                result.close()


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    allow_reuse_address = True

    def __init__(self, host: str, port: int, app, ssl_context: ssl.SSLContext):
        self.app = app
        self.ssl_context = ssl_context
        super().__init__((host, port), Handler)
        self.port = self.server_address[1]

    def handle_error(self, request, client_address) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, ssl.SSLError, socket.timeout, OSError)):
            return
        super().handle_error(request, client_address)
