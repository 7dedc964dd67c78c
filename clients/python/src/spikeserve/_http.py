"""JSON over HTTP with the standard library: keep-alive connections, the API
key, a timeout, and the server's errors as exceptions."""

from __future__ import annotations

import http.client
import json
import threading
import urllib.parse
from typing import Any

from .errors import SpikeserveError, error_from_body


class HttpTransport:
    """Thread-safe: each request takes an idle connection (or opens one) and
    gives it back, so concurrent callers do not share a connection."""

    def __init__(self, base_url: str, api_key: str | None = None, timeout: float | None = 30.0):
        u = urllib.parse.urlsplit(base_url.rstrip("/"))
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ValueError(f"base_url must be http(s)://host[:port], got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self._scheme = u.scheme
        self._host = u.hostname
        self._port = u.port
        self._prefix = u.path.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def _connection(self) -> tuple[http.client.HTTPConnection, bool]:
        """A connection, and whether it was kept alive from an earlier request."""
        with self._lock:
            if self._idle:
                return self._idle.pop(), True
        cls = http.client.HTTPSConnection if self._scheme == "https" else http.client.HTTPConnection
        return cls(self._host, self._port, timeout=self.timeout), False

    def request(self, method: str, path: str, body: Any = None, query: dict[str, Any] | None = None) -> Any:
        """The response's JSON (None for an empty body); an error status raises
        the catalogue's exception."""
        url = self._prefix + path
        if query:
            # A list is the parameter repeated (?copies=2&copies=0).
            url += "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v is not None}, doseq=True)
        headers = {"accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body, separators=(",", ":")).encode()
            headers["content-type"] = "application/json"
        if self.api_key:
            headers["authorization"] = f"Bearer {self.api_key}"
        # A kept-alive connection the server closed while it was idle fails on its next use, before
        # the request is read: that one is retried once on a fresh connection.
        for attempt in (0, 1):
            conn, reused = self._connection()
            try:
                conn.request(method, url, body=data, headers=headers)
                res = conn.getresponse()
                raw = res.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                conn.close()
                if attempt or not reused:
                    raise
                continue
            except BaseException:
                conn.close()
                raise
            if res.will_close:
                conn.close()
            else:
                with self._lock:
                    self._idle.append(conn)
            break
        parsed = json.loads(raw) if raw else None
        if res.status >= 400:
            err = error_from_body(parsed, res.status)
            retry = res.getheader("retry-after")
            if retry is not None and isinstance(err, SpikeserveError):
                err.details.setdefault("retryAfterS", float(retry))
            raise err
        return parsed

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for c in idle:
            c.close()
