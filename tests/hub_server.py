"""A local stand-in for the Hugging Face Hub's file-resolve endpoint, for tests.

It speaks just enough of the protocol for ``huggingface_hub.hf_hub_download``:
``HEAD`` and ``GET`` on ``/{prefix}{repo_id}/resolve/{revision}/{filename}`` (prefix ``''``
for models, ``spaces/`` and ``datasets/`` otherwise). A HEAD answers with the commit
(``X-Repo-Commit``), an ``ETag`` (the quoted SHA-256, as for LFS files), ``X-Linked-Etag``
/ ``X-Linked-Size`` and ``Content-Length``; a GET sends the bytes, honouring ``Range``.
Unknown repos, revisions and files get 404s with the ``X-Error-Code`` the client maps to
its exceptions. Every request is recorded so tests can assert on network use.
"""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

PREFIXES = {"model": "", "space": "spaces/", "dataset": "datasets/"}
RESOLVE = re.compile(r"^/(?:(?P<prefix>spaces|datasets)/)?(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<file>.+)$")


@dataclass
class HostedFile:
    data: bytes
    # What the server advertises; a test can make it differ from what it sends.
    etag: str


@dataclass
class Repo:
    commit: str
    branches: set[str]
    files: dict[str, HostedFile] = field(default_factory=dict)


class FakeHub:
    """``with FakeHub() as hub: hub.add(...); os.environ["HF_ENDPOINT"] = hub.endpoint``."""

    def __init__(self) -> None:
        self.repos: dict[tuple[str, str], Repo] = {}
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def add(
        self,
        repo_id: str,
        filename: str,
        data: bytes,
        repo_type: str = "model",
        commit: str = "0123456789abcdef0123456789abcdef01234567",
        etag: str | None = None,
    ) -> str:
        """Host ``data``; returns the commit hash the file lives at (also reachable as ``main``)."""
        repo = self.repos.setdefault((PREFIXES[repo_type], repo_id), Repo(commit=commit, branches={"main"}))
        repo.files[filename] = HostedFile(data=data, etag=etag or hashlib.sha256(data).hexdigest())
        return repo.commit

    def count(self, method: str | None = None, resolve_only: bool = True) -> int:
        """Requests seen; by default only file requests, not the client's own side calls
        (huggingface_hub also asks the endpoint for its agent-harness list)."""
        with self._lock:
            return sum(
                1
                for seen, path in self.requests
                if (method is None or seen == method) and (not resolve_only or "/resolve/" in path)
            )

    def __enter__(self) -> "FakeHub":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - keep test output clean
                pass

            def do_HEAD(self) -> None:  # noqa: N802 - http.server's naming
                self._answer(send_body=False)

            def do_GET(self) -> None:  # noqa: N802
                self._answer(send_body=True)

            def _answer(self, send_body: bool) -> None:
                with hub._lock:
                    hub.requests.append((self.command, self.path))
                match = RESOLVE.match(self.path.split("?", 1)[0])
                if match is None:
                    return self._error(404, "EntryNotFound", None)
                prefix = f"{match['prefix']}/" if match["prefix"] else ""
                repo = hub.repos.get((prefix, unquote(match["repo"])))
                if repo is None:
                    return self._error(404, "RepoNotFound", None)
                revision = unquote(match["rev"])
                if revision != repo.commit and revision not in repo.branches:
                    return self._error(404, "RevisionNotFound", None)
                hosted = repo.files.get(unquote(match["file"]))
                if hosted is None:
                    return self._error(404, "EntryNotFound", repo.commit)
                body, status, extra = hosted.data, 200, {}
                ranged = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
                if ranged and send_body:
                    start = int(ranged[1])
                    end = int(ranged[2]) if ranged[2] else len(body) - 1
                    extra["Content-Range"] = f"bytes {start}-{end}/{len(body)}"
                    body, status = body[start : end + 1], 206
                self.send_response(status)
                self.send_header("X-Repo-Commit", repo.commit)
                self.send_header("ETag", f'"{hosted.etag}"')
                self.send_header("X-Linked-Etag", f'"{hosted.etag}"')
                self.send_header("X-Linked-Size", str(len(hosted.data)))
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                for key, value in extra.items():
                    self.send_header(key, value)
                self.end_headers()
                if send_body:
                    self.wfile.write(body)

            def _error(self, status: int, code: str, commit: str | None) -> None:
                message = f"{code}".encode()
                self.send_response(status)
                self.send_header("X-Error-Code", code)
                self.send_header("X-Error-Message", code)
                if commit:
                    self.send_header("X-Repo-Commit", commit)
                self.send_header("Content-Length", str(len(message)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(message)

        return Handler
