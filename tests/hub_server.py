"""A loopback stand-in for the Hugging Face Hub HTTP API, enough for ``huggingface_hub`` 2.x to upload and download.

Speaks, for model repos:

- ``POST /api/repos/create``; ``GET /api/models/{repo}[/revision/{rev}]`` (model_info, revision resolution);
- uploads as ``HfApi.upload_folder`` does them without Xet: ``POST /api/validate-yaml``,
  ``POST /api/models/{repo}/preupload/{rev}``, the LFS batch API ``POST /{repo}.git/info/lfs/objects/batch``
  with basic ``PUT`` transfers and a verify step, and the NDJSON ``POST /api/models/{repo}/commit/{rev}``;
- ``HEAD``/``GET /{repo}/resolve/{rev}/{path}`` with the ``X-Repo-Commit``, ``ETag``, ``X-Linked-Etag`` and
  ``X-Linked-Size`` headers ``hf_hub_download`` relies on, and the ``X-Error-Code`` of real Hub errors.

Files live in memory; every commit has a real sha (sha1 over parent, tree and message). huggingface_hub uploads
through Xet whenever ``hf_xet`` is installed: set ``HF_HUB_DISABLE_XET`` (``huggingface_hub.constants``) so it takes
the LFS path this server implements. ``requests`` logs ``(method, path)`` of every request.
"""
from __future__ import annotations

import base64
import fnmatch
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

import yaml

LFS_PATTERNS = ("*.safetensors", "*.bin", "*.pt", "*.png")
GITATTRIBUTES = "".join(f"{pattern} filter=lfs diff=lfs merge=lfs -text\n" for pattern in LFS_PATTERNS).encode()
_REPO = r"(?P<repo>[\w.-]+/[\w.-]+)"


@dataclass(frozen=True)
class StoredFile:
    data: bytes
    lfs: bool

    @property
    def oid(self) -> str:
        """What the Hub reports: sha256 of the content for LFS files, the git blob sha1 for regular ones."""
        if self.lfs:
            return hashlib.sha256(self.data).hexdigest()
        return hashlib.sha1(b"blob %d\0" % len(self.data) + self.data).hexdigest()


@dataclass
class Repo:
    private: bool
    commits: dict[str, dict[str, StoredFile]] = field(default_factory=dict)  # sha -> tree (path -> file)
    refs: dict[str, str] = field(default_factory=dict)  # branch -> sha

    def resolve(self, revision: str) -> str | None:
        return self.refs.get(revision) or (revision if revision in self.commits else None)


class HubError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None, commit: str | None = None):
        super().__init__(message)
        self.status, self.code, self.commit = status, code, commit


class HubServer:
    """The fake Hub on ``http://127.0.0.1:{port}``; use as a context manager, or ``start()``/``stop()``."""

    def __init__(self, token: str | None = None):
        self.token = token  # when set, writes need "Authorization: Bearer <token>"
        self.repos: dict[str, Repo] = {}
        self.lfs: dict[str, bytes] = {}  # sha256 -> content
        self.requests: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.hub = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), name="hub-server", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> HubServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- repository operations, also usable directly by tests ---------------------------------------------------

    def create_repo(self, repo_id: str, *, private: bool = False) -> None:
        with self.lock:
            if repo_id in self.repos:
                raise HubError(409, "You already created this model repo")
            self.repos[repo_id] = Repo(private)
        self.commit(repo_id, {".gitattributes": StoredFile(GITATTRIBUTES, lfs=False)}, "initial commit")

    def commit(
        self, repo_id: str, changes: dict[str, StoredFile | None], message: str, branch: str = "main",
        parent: str | None = None,
    ) -> str:
        """Apply ``changes`` (None deletes a path) on top of ``branch``; return the new commit sha."""
        with self.lock:
            repo = self.repo(repo_id)
            head = repo.refs.get(branch)
            if head is None and repo.refs:
                raise HubError(404, f"Invalid rev id: {branch}", "RevisionNotFound")
            if parent is not None and head is not None and not head.startswith(parent):
                raise HubError(412, f"parent commit {parent} is not the head of {branch} ({head})")
            tree = dict(repo.commits[head]) if head else {}
            for path, stored in changes.items():
                if stored is None:
                    tree = {p: f for p, f in tree.items() if p != path and not p.startswith(path.rstrip("/") + "/")}
                else:
                    tree[path] = stored
            listing = json.dumps({"parent": head, "message": message, "tree": {p: f.oid for p, f in tree.items()}},
                                 sort_keys=True)
            sha = hashlib.sha1(listing.encode()).hexdigest()
            repo.commits[sha] = tree
            repo.refs[branch] = sha
            return sha

    def tree(self, repo_id: str, revision: str) -> tuple[str, dict[str, StoredFile]]:
        with self.lock:
            repo = self.repo(repo_id)
            sha = repo.resolve(revision)
            if sha is None:
                raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
            return sha, repo.commits[sha]

    def repo(self, repo_id: str) -> Repo:
        try:
            return self.repos[repo_id]
        except KeyError:
            raise HubError(404, "Repository not found", "RepoNotFound") from None


def is_lfs(path: str) -> bool:
    return any(fnmatch.fnmatch(path.rsplit("/", 1)[-1], pattern) for pattern in LFS_PATTERNS)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: every response carries a Content-Length

    ROUTES = (
        ("POST", r"/api/repos/create", "create_repo"),
        ("POST", r"/api/validate-yaml", "validate_yaml"),
        ("GET", rf"/api/models/{_REPO}(?:/revision/(?P<rev>[^/]+))?", "model_info"),
        ("POST", rf"/api/models/{_REPO}/preupload/(?P<rev>[^/]+)", "preupload"),
        ("POST", rf"/api/models/{_REPO}/commit/(?P<rev>[^/]+)", "commit"),
        ("POST", rf"/{_REPO}\.git/info/lfs/objects/batch", "lfs_batch"),
        ("PUT", r"/lfs/(?P<oid>[0-9a-f]{64})", "lfs_upload"),
        ("POST", r"/lfs/(?P<oid>[0-9a-f]{64})/verify", "lfs_verify"),
        ("GET", rf"/{_REPO}/resolve/(?P<rev>[^/]+)/(?P<path>.+)", "resolve"),
        ("HEAD", rf"/{_REPO}/resolve/(?P<rev>[^/]+)/(?P<path>.+)", "resolve"),
    )
    # Routes that need the token; LFS PUTs go to URLs the batch call handed out, as the Hub's signed URLs.
    WRITES = frozenset({"create_repo", "preupload", "commit", "lfs_batch", "lfs_verify"})

    @property
    def hub(self) -> HubServer:
        return self.server.hub  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self._dispatch()

    do_HEAD = do_POST = do_PUT = do_GET

    def _dispatch(self) -> None:
        path = urlsplit(self.path).path
        self.hub.requests.append((self.command, path))
        body = self._read_body()
        for method, pattern, name in self.ROUTES:
            match = re.fullmatch(pattern, path)
            if method == self.command and match:
                try:
                    if name in self.WRITES:
                        self._authorize()
                    params = {k: unquote(v) for k, v in match.groupdict().items() if v is not None}
                    getattr(self, name)(body, **params)
                except HubError as exc:
                    self._error(exc)
                return
        self._error(HubError(404, f"{self.command} {path} is not implemented by the test Hub (it speaks LFS, not Xet: "
                                  "set HF_HUB_DISABLE_XET)"))

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0], 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers
                pass
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _authorize(self) -> None:
        if self.hub.token is not None and self.headers.get("Authorization") != f"Bearer {self.hub.token}":
            raise HubError(401, "Invalid credentials in Authorization header")

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, payload: object, status: int = 200) -> None:
        self._send(status, json.dumps(payload).encode(), {"Content-Type": "application/json"})

    def _error(self, exc: HubError) -> None:
        headers = {"Content-Type": "application/json", "X-Error-Message": str(exc)}
        if exc.code:
            headers["X-Error-Code"] = exc.code
        if exc.commit:
            headers["X-Repo-Commit"] = exc.commit
        self._send(exc.status, json.dumps({"error": str(exc)}).encode(), headers)

    # -- endpoints ------------------------------------------------------------------------------------------------

    def create_repo(self, body: bytes) -> None:
        request = json.loads(body)
        if request.get("type", "model") != "model":
            raise HubError(400, "the test Hub only hosts model repos")
        repo_id = f"{request['organization']}/{request['name']}" if request.get("organization") else request["name"]
        url = f"{self.hub.url}/{repo_id}"
        try:
            self.hub.create_repo(repo_id, private=bool(request.get("private")))
        except HubError as exc:  # the Hub's 409 names the existing repo, and huggingface_hub reads it
            self._send(exc.status, json.dumps({"error": str(exc), "url": url}).encode(),
                       {"Content-Type": "application/json", "X-Error-Message": str(exc)})
            return
        self._json({"url": url, "name": repo_id})

    def validate_yaml(self, body: bytes) -> None:
        content = json.loads(body)["content"]
        front = re.match(r"---\n(.*?)\n---\n", content, re.DOTALL)
        try:
            metadata = yaml.safe_load(front.group(1)) if front else None
        except yaml.YAMLError as exc:
            self._json({"errors": [{"message": f"invalid YAML: {exc}"}], "warnings": []}, status=400)
            return
        warnings = [] if isinstance(metadata, dict) else [{"message": "empty or missing metadata"}]
        self._json({"errors": [], "warnings": warnings})

    def model_info(self, body: bytes, repo: str, rev: str = "main") -> None:
        sha, tree = self.hub.tree(repo, rev)
        siblings = [{"rfilename": path, "size": len(f.data)} for path, f in sorted(tree.items())]
        self._json({"id": repo, "sha": sha, "private": self.hub.repo(repo).private, "siblings": siblings})

    def preupload(self, body: bytes, repo: str, rev: str) -> None:
        _, tree = self.hub.tree(repo, rev)
        files = []
        for item in json.loads(body)["files"]:
            lfs = is_lfs(item["path"]) or b"\0" in base64.b64decode(item["sample"])
            existing = tree.get(item["path"])
            files.append({"path": item["path"], "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False,
                          "oid": existing.oid if existing else None})
        self._json({"files": files})

    def lfs_batch(self, body: bytes, repo: str) -> None:
        self.hub.repo(repo)  # 404 for unknown repos
        objects = []
        for item in json.loads(body)["objects"]:
            entry = {"oid": item["oid"], "size": item["size"], "authenticated": True}
            if item["oid"] not in self.hub.lfs:
                base = f"{self.hub.url}/lfs/{item['oid']}"
                entry["actions"] = {"upload": {"href": base}, "verify": {"href": f"{base}/verify"}}
            objects.append(entry)
        self._json({"transfer": "basic", "objects": objects})

    def lfs_upload(self, body: bytes, oid: str) -> None:
        if hashlib.sha256(body).hexdigest() != oid:
            raise HubError(400, "uploaded content does not match its sha256 oid")
        with self.hub.lock:
            self.hub.lfs[oid] = body
        self._send(200)

    def lfs_verify(self, body: bytes, oid: str) -> None:
        stored = self.hub.lfs.get(oid)
        if stored is None or len(stored) != json.loads(body)["size"]:
            raise HubError(404, f"LFS object {oid} was not uploaded")
        self._json({"success": True})

    def commit(self, body: bytes, repo: str, rev: str) -> None:
        header, changes = {}, {}
        for line in body.decode().splitlines():
            item = json.loads(line)
            value = item["value"]
            if item["key"] == "header":
                header = value
            elif item["key"] == "file":
                changes[value["path"]] = StoredFile(base64.b64decode(value["content"]), lfs=is_lfs(value["path"]))
            elif item["key"] == "lfsFile":
                if value["oid"] not in self.hub.lfs:
                    raise HubError(422, f"LFS object {value['oid']} for {value['path']} was not uploaded")
                changes[value["path"]] = StoredFile(self.hub.lfs[value["oid"]], lfs=True)
            elif item["key"] in ("deletedFile", "deletedFolder"):
                changes[value["path"]] = None
            else:
                raise HubError(400, f"unsupported commit operation {item['key']!r}")
        sha = self.hub.commit(repo, changes, header.get("summary", ""), branch=rev, parent=header.get("parentCommit"))
        self._json({"success": True, "commitOid": sha, "commitUrl": f"{self.hub.url}/{repo}/commit/{sha}"})

    def resolve(self, body: bytes, repo: str, rev: str, path: str) -> None:
        sha, tree = self.hub.tree(repo, rev)
        stored = tree.get(path)
        if stored is None:
            raise HubError(404, "Entry not found", "EntryNotFound", commit=sha)
        headers = {"X-Repo-Commit": sha, "ETag": f'"{stored.oid}"', "Content-Type": "application/octet-stream"}
        if stored.lfs:
            headers.update({"X-Linked-Etag": f'"{stored.oid}"', "X-Linked-Size": str(len(stored.data))})
        self._send(200, stored.data, headers)
