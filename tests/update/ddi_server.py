"""A small hawkBit DDI server for tests.

Eclipse hawkBit's Direct Device Integration API is the REST API an update
client on a device polls for software updates. hawkBit itself is a Java
service; this module serves the device-facing part of the published API
(https://eclipse.dev/hawkbit/apis/ddi_api/) over HTTPS from a background
thread, so the gateway's DDI client can be exercised against it:

    GET  /{tenant}/controller/v1/{controllerId}                      poll
    GET  .../deploymentBase/{actionId}[?actionHistory=N]             update action
    POST .../deploymentBase/{actionId}/feedback                      progress / result
    GET  .../installedBase/{actionId}                                last installed action
    GET  .../cancelAction/{cancelId}                                 cancel request
    POST .../cancelAction/{cancelId}/feedback                        cancel result
    PUT  .../configData                                              controller attributes
    GET  .../softwaremodules/{moduleId}/artifacts/{filename}[.MD5SUM] artifact (Range)

Clients authenticate with ``Authorization: TargetToken <t>``,
``Authorization: GatewayToken <t>`` or a client certificate signed by the
configured CA; anything else gets 401. With no authentication configured at
all, requests are accepted as anonymous.

The test side drives it through Python methods (add_deployment, cancel,
request_attributes, failure injection) and reads back what the client sent
(feedback, config_data, requests). All state is guarded by one lock.
"""

import hashlib
import json
import re
import socket
import ssl
import struct
import sys
import threading
import time
import zlib
from collections import namedtuple
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BytesIO
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

EXECUTIONS = ("closed", "proceeding", "canceled", "scheduled", "rejected", "resumed", "downloaded", "download")
FINISHED = ("success", "failure", "none")
HANDLING = ("forced", "attempt", "skip")
MAINTENANCE = ("available", "unavailable")
CONFIG_MODES = ("merge", "replace", "remove")
FAIL_MODES = ("truncate", "500", "404", "reset")
HAL_JSON = "application/hal+json;charset=UTF-8"
GARBAGE = b"<html><body>502 Bad Gateway (not JSON)</body></html>\n"
RECORDED_HEADERS = ("Range", "Accept", "Content-Type", "User-Agent", "If-Match", "If-None-Match")
SLEEP_RE = re.compile(r"^\d{2}:[0-5]\d:[0-5]\d$")

Request = namedtuple("Request", "method path headers auth")


class BadRequest(Exception):
    pass


def wait_for(predicate, timeout=10.0, interval=0.05, message=None):
    """Calls predicate until it returns something truthy, and returns that.
    Raises AssertionError after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(message or f"condition not met within {timeout} s")
        time.sleep(interval)


class _Action:
    def __init__(self, action_id, module_id, path, version, name, filename, download, update, maintenance):
        self.id = action_id
        self.module_id = module_id
        self.path = Path(path)
        self.version = version
        self.name = name
        self.filename = filename
        self.download = download
        self.update = update
        self.maintenance = maintenance
        self.status = "open"  # open | finished | cancelled
        self.result = None  # "success" | "failure" once finished
        self.cancel_id = None  # pending cancel request, if any
        self.messages = []  # feedback details, oldest first
        data = self.path.read_bytes()
        self.size = len(data)
        self.md5 = hashlib.md5(data).hexdigest()
        self.sha1 = hashlib.sha1(data).hexdigest()
        self.sha256 = hashlib.sha256(data).hexdigest()

    def hash_param(self):
        key = f"{self.id}|{self.version}|{self.download}|{self.update}|{self.maintenance}|{self.sha256}"
        return zlib.crc32(key.encode()) - 2**31


class DdiServer:
    """hawkBit DDI server on https://127.0.0.1:<ephemeral port>/<tenant>.

    cert, key: server certificate and key (PEM paths). client_ca: PEM path of
    the CA whose client certificates are accepted (requested, not required).
    """

    def __init__(self, cert, key, client_ca=None, target_token=None, gateway_token=None,
                 tenant="DEFAULT", controller_id="facteur-test", sleep="00:00:01",
                 host="127.0.0.1", port=0, public_host=None, match_cert_cn=False, log=False):
        if not SLEEP_RE.match(sleep):
            raise ValueError(f"sleep must be HH:MM:SS, not {sleep!r}")
        self.cert = str(cert)
        self.key = str(key)
        self.client_ca = str(client_ca) if client_ca else None
        self.target_token = target_token
        self.gateway_token = gateway_token
        self.tenant = tenant
        self.controller_id = controller_id
        self.sleep = sleep
        self.host = host
        self.public_host = public_host or host
        self.match_cert_cn = match_cert_cn
        self.log = log
        self._requested_port = port
        self._lock = threading.RLock()
        self._actions = {}  # action id (str) -> _Action, in insertion order
        self._cancels = {}  # cancel id (str) -> action id (str)
        self._next_module = 100
        self._next_cancel = 9000
        self._want_attributes = True
        self._installed = None  # id of the last action closed with success
        self._feedback = {}
        self._cancel_feedback = {}
        self._config_data = []
        self._requests = []
        self._fail_downloads = []  # pending failure modes, one per download
        self._garbage_polls = 0
        self._garbage_deployments = 0
        self._httpd = None
        self._thread = None
        self._connections = set()

    # ---- lifecycle -------------------------------------------------------

    def start(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert, self.key)
        if self.client_ca:
            ctx.verify_mode = ssl.CERT_OPTIONAL
            ctx.load_verify_locations(cafile=self.client_ca)
        self._httpd = _Server((self.host, self._requested_port), _Handler, self, ctx)
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), name="ddi-server",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        with self._lock:
            conns = list(self._connections)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._thread.join(timeout=5)
        self._httpd = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def port(self):
        if self._httpd is None:
            raise RuntimeError("DdiServer not started")
        return self._httpd.server_address[1]

    @property
    def origin(self):
        return f"https://{self.public_host}:{self.port}"

    @property
    def base_url(self):
        """https://host:port/tenant (the DDI base URL)."""
        return f"{self.origin}/{self.tenant}"

    @property
    def controller_url(self):
        return f"{self.base_url}/controller/v1/{self.controller_id}"

    # ---- test control ----------------------------------------------------

    def add_deployment(self, action_id, artifact_path, version, name="facteur", filename=None,
                       download="forced", update="forced", maintenance=None):
        if download not in HANDLING or update not in HANDLING:
            raise ValueError("download/update must be one of " + ", ".join(HANDLING))
        if maintenance not in (None,) + MAINTENANCE:
            raise ValueError("maintenance must be None, 'available' or 'unavailable'")
        action_id = str(action_id)
        filename = filename or Path(artifact_path).name
        with self._lock:
            if action_id in self._actions or action_id in self._cancels:
                raise ValueError(f"action id {action_id} already used")
            module_id = self._next_module
            self._next_module += 1
            self._actions[action_id] = _Action(action_id, module_id, artifact_path, version, name, filename,
                                               download, update, maintenance)

    def set_maintenance(self, action_id, maintenance):
        if maintenance not in (None,) + MAINTENANCE:
            raise ValueError("maintenance must be None, 'available' or 'unavailable'")
        with self._lock:
            self._actions[str(action_id)].maintenance = maintenance

    def cancel(self, action_id):
        """Asks the device to cancel action_id; returns the cancel action's id
        (a number as a string, never equal to an action id)."""
        with self._lock:
            action = self._actions[str(action_id)]
            if action.status != "open":
                raise ValueError(f"action {action_id} is {action.status}")
            while str(self._next_cancel) in self._actions or str(self._next_cancel) in self._cancels:
                self._next_cancel += 1
            cancel_id = str(self._next_cancel)
            self._next_cancel += 1
            self._cancels[cancel_id] = action.id
            action.cancel_id = cancel_id
            return cancel_id

    def request_attributes(self):
        with self._lock:
            self._want_attributes = True

    def fail_downloads(self, n, mode):
        """The next n artifact downloads fail: "truncate" (full Content-Length,
        connection closed after about half the bytes), "500", "404", or
        "reset" (TCP reset before any response)."""
        if mode not in FAIL_MODES:
            raise ValueError("mode must be one of " + ", ".join(FAIL_MODES))
        with self._lock:
            self._fail_downloads.extend([mode] * n)

    def garbage_next_polls(self, n):
        with self._lock:
            self._garbage_polls += n

    def garbage_deployment(self, n):
        with self._lock:
            self._garbage_deployments += n

    # ---- records ---------------------------------------------------------

    def feedback(self, action_id):
        with self._lock:
            return list(self._feedback.get(str(action_id), []))

    def cancel_feedback(self, cancel_id):
        with self._lock:
            return list(self._cancel_feedback.get(str(cancel_id), []))

    def config_data(self):
        with self._lock:
            return list(self._config_data)

    def requests(self):
        with self._lock:
            return list(self._requests)

    def action_status(self, action_id):
        with self._lock:
            return self._actions[str(action_id)].status

    def wait_for(self, predicate, timeout=10.0, interval=0.05, message=None):
        return wait_for(predicate, timeout, interval, message)

    # ---- request handling (called from handler threads) ------------------

    def _link(self, rel_path):
        return {"href": f"{self.controller_url}/{rel_path}"}

    def _current_action(self):
        for action in self._actions.values():
            if action.status == "open":
                return action
        return None

    def _poll_body(self):
        links = {}
        action = self._current_action()
        if action is not None:
            if action.cancel_id is not None:
                links["cancelAction"] = self._link(f"cancelAction/{action.cancel_id}")
            else:
                links["deploymentBase"] = self._link(f"deploymentBase/{action.id}?c={action.hash_param()}")
        if self._installed is not None:
            links["installedBase"] = self._link(f"installedBase/{self._installed}")
        if self._want_attributes:
            links["configData"] = self._link("configData")
        return {"config": {"polling": {"sleep": self.sleep}}, "_links": links}

    def _artifact_links(self, action):
        rel = f"softwaremodules/{action.module_id}/artifacts/{action.filename}"
        http = f"http://{self.public_host}:{self.port}/{self.tenant}/controller/v1/{self.controller_id}/{rel}"
        return {
            "download": self._link(rel),
            "download-http": {"href": http},
            "md5sum": self._link(rel + ".MD5SUM"),
            "md5sum-http": {"href": http + ".MD5SUM"},
        }

    def _deployment_body(self, action, history):
        deployment = {"download": action.download, "update": action.update}
        if action.maintenance is not None:
            deployment["maintenanceWindow"] = action.maintenance
        deployment["chunks"] = [{
            "part": "os",
            "version": action.version,
            "name": action.name,
            "artifacts": [{
                "filename": action.filename,
                "hashes": {"sha1": action.sha1, "md5": action.md5, "sha256": action.sha256},
                "size": action.size,
                "_links": self._artifact_links(action),
            }],
        }]
        body = {"id": action.id, "deployment": deployment}
        if history is not None and history != 0:
            status = {"open": "RUNNING", "cancelled": "CANCELED"}.get(action.status)
            if status is None:
                status = "FINISHED" if action.result == "success" else "ERROR"
            messages = list(reversed(action.messages))
            if history > 0:
                messages = messages[:history]
            body["actionHistory"] = {"status": status, "messages": messages}
        return body


def _validate_feedback(body):
    if not isinstance(body, dict):
        raise BadRequest("feedback must be a JSON object")
    status = body.get("status")
    if not isinstance(status, dict):
        raise BadRequest("status is required")
    execution = status.get("execution")
    if execution not in EXECUTIONS:
        raise BadRequest(f"status.execution {execution!r} is not one of {', '.join(EXECUTIONS)}")
    result = status.get("result")
    if not isinstance(result, dict):
        raise BadRequest("status.result is required")
    if result.get("finished") not in FINISHED:
        raise BadRequest(f"status.result.finished {result.get('finished')!r} is not one of {', '.join(FINISHED)}")
    progress = result.get("progress")
    if progress is not None:
        if not isinstance(progress, dict):
            raise BadRequest("status.result.progress must be an object")
        for k in ("cnt", "of"):
            v = progress.get(k)
            if v is not None and (not isinstance(v, int) or isinstance(v, bool)):
                raise BadRequest(f"status.result.progress.{k} must be an integer")
    details = status.get("details")
    if details is not None and (not isinstance(details, list) or not all(isinstance(d, str) for d in details)):
        raise BadRequest("status.details must be a list of strings")
    code = status.get("code")
    if code is not None and (not isinstance(code, int) or isinstance(code, bool)):
        raise BadRequest("status.code must be an integer")
    for k in ("time", "timestamp", "id"):
        if k in body and not isinstance(body[k], (str, int)):
            raise BadRequest(f"{k} must be a string")
    return execution, result["finished"], details or []


def _validate_config_data(body):
    if not isinstance(body, dict):
        raise BadRequest("configData must be a JSON object")
    mode = body.get("mode", "merge")
    if mode is not None and mode not in CONFIG_MODES:
        raise BadRequest(f"mode {mode!r} is not one of {', '.join(CONFIG_MODES)}")
    data = body.get("data")
    if not isinstance(data, dict) or not data:
        raise BadRequest("data must be a non-empty object")
    for k, v in data.items():
        if not isinstance(v, str):
            raise BadRequest(f"data[{k!r}] must be a string")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, handler, ddi, ctx):
        self.ddi = ddi
        self.ctx = ctx
        super().__init__(address, handler)

    def get_request(self):
        sock, addr = self.socket.accept()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # The TLS handshake happens in the connection's own thread (see
        # _Handler.setup), so a stalled client cannot block accept().
        return self.ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

    def handle_error(self, request, client_address):
        if self.ddi.log:
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ddi-test-server"
    timeout = 15

    # ---- plumbing --------------------------------------------------------

    def setup(self):
        self.request.settimeout(self.timeout)
        self.ddi = self.server.ddi
        self.peer_cert = None
        try:
            self.request.do_handshake()
            self.peer_cert = self.request.getpeercert() or None
        except (ssl.SSLError, OSError) as e:
            self.handshake_error = e
        else:
            self.handshake_error = None
        with self.ddi._lock:
            self.ddi._connections.add(self.request)
        super().setup()

    def handle(self):
        if self.handshake_error is None:
            super().handle()

    def finish(self):
        try:
            super().finish()
        finally:
            with self.ddi._lock:
                self.ddi._connections.discard(self.request)

    def log_message(self, fmt, *args):
        if self.ddi.log:
            sys.stderr.write("ddi-server: " + (fmt % args) + "\n")

    def _read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, code, body=b"", content_type="text/plain; charset=utf-8", headers=()):
        self.send_response(code)
        if body or code not in (204, 304):
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, code, obj):
        self._send(code, json.dumps(obj, indent=2).encode(), HAL_JSON)

    def _error(self, code, message):
        self._json(code, {"errorCode": f"ddi.test.{code}", "message": message})

    def _authenticate(self):
        ddi = self.ddi
        auth = self.headers.get("Authorization", "")
        scheme, _, value = auth.partition(" ")
        value = value.strip()
        if scheme == "TargetToken" and ddi.target_token and value == ddi.target_token:
            return "token"
        if scheme == "GatewayToken" and ddi.gateway_token and value == ddi.gateway_token:
            return "gateway"
        if self.peer_cert is not None:
            if not ddi.match_cert_cn or self._peer_cn() == ddi.controller_id:
                return "certificate"
        if not (ddi.target_token or ddi.gateway_token or ddi.client_ca):
            return "anonymous"
        return None

    def _peer_cn(self):
        for rdn in (self.peer_cert or {}).get("subject", ()):
            for k, v in rdn:
                if k == "commonName":
                    return v
        return None

    def _record(self, path, auth):
        headers = {k: self.headers[k] for k in RECORDED_HEADERS if self.headers.get(k) is not None}
        if self.headers.get("Authorization"):
            headers["Authorization"] = self.headers["Authorization"].split(" ", 1)[0]
        if self.peer_cert is not None:
            headers["Client-Cert-CN"] = self._peer_cn()
        with self.ddi._lock:
            self.ddi._requests.append(Request(self.command, path, headers, auth))

    # ---- dispatch --------------------------------------------------------

    def do_GET(self):
        self._dispatch()

    def do_HEAD(self):
        self._dispatch()

    def do_POST(self):
        self._dispatch()

    def do_PUT(self):
        self._dispatch()

    def do_DELETE(self):
        self._dispatch()

    def _dispatch(self):
        ddi = self.ddi
        url = urlsplit(self.path)
        path = unquote(url.path)
        query = parse_qs(url.query)
        body = self._read_body() if self.command in ("POST", "PUT", "DELETE") else b""
        auth = self._authenticate()
        self._record(path, auth)
        if auth is None:
            return self._send(401, b"Unauthorized\n", headers=[("WWW-Authenticate", "TargetToken")])

        parts = path.strip("/").split("/")
        if len(parts) < 4 or parts[0] != ddi.tenant or parts[1:3] != ["controller", "v1"]:
            return self._error(404, "no such resource")
        if parts[3] != ddi.controller_id:
            return self._error(404, f"controller {parts[3]!r} not found")
        rest = parts[4:]
        m = self.command

        try:
            if not rest:
                return self._only(m, ("GET",)) or self._poll()
            if rest == ["configData"]:
                return self._only(m, ("PUT",)) or self._config_data(body)
            if len(rest) == 2 and rest[0] in ("deploymentBase", "installedBase"):
                return self._only(m, ("GET",)) or self._deployment(rest[0], rest[1], query)
            if len(rest) == 3 and rest[0] == "deploymentBase" and rest[2] == "feedback":
                return self._only(m, ("POST",)) or self._feedback(rest[1], body)
            if len(rest) == 2 and rest[0] == "cancelAction":
                return self._only(m, ("GET",)) or self._cancel(rest[1])
            if len(rest) == 3 and rest[0] == "cancelAction" and rest[2] == "feedback":
                return self._only(m, ("POST",)) or self._cancel_feedback(rest[1], body)
            if len(rest) == 4 and rest[0] == "softwaremodules" and rest[2] == "artifacts":
                return self._only(m, ("GET", "HEAD")) or self._artifact(rest[1], rest[3])
        except BadRequest as e:
            return self._error(400, str(e))
        return self._error(404, "no such resource")

    def _only(self, method, allowed):
        if method in allowed:
            return None
        self._send(405, b"Method Not Allowed\n", headers=[("Allow", ", ".join(allowed))])
        return True

    # ---- resources -------------------------------------------------------

    def _poll(self):
        ddi = self.ddi
        with ddi._lock:
            if ddi._garbage_polls > 0:
                ddi._garbage_polls -= 1
                garbage = True
            else:
                garbage = False
                body = ddi._poll_body()
        if garbage:
            return self._send(200, GARBAGE, HAL_JSON)
        self._json(200, body)

    def _deployment(self, kind, action_id, query):
        ddi = self.ddi
        history = None
        if "actionHistory" in query:
            try:
                history = int(query["actionHistory"][0])
            except ValueError:
                raise BadRequest("actionHistory must be an integer")
        with ddi._lock:
            action = ddi._actions.get(action_id)
            if action is None:
                return self._error(404, f"action {action_id} not found")
            if kind == "installedBase":
                if action.status != "finished" or action.result != "success":
                    return self._error(404, f"action {action_id} is not installed")
            elif action.status == "cancelled" or action.cancel_id is not None:
                return self._error(404, f"action {action_id} is being cancelled")
            if kind == "deploymentBase" and ddi._garbage_deployments > 0:
                ddi._garbage_deployments -= 1
                body = None
            else:
                body = ddi._deployment_body(action, history)
        if body is None:
            return self._send(200, GARBAGE, HAL_JSON)
        self._json(200, body)

    def _parse(self, body):
        try:
            return json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise BadRequest("malformed JSON")

    def _feedback(self, action_id, raw):
        ddi = self.ddi
        body = self._parse(raw)
        execution, finished, details = _validate_feedback(body)
        with ddi._lock:
            action = ddi._actions.get(action_id)
            if action is None:
                return self._error(404, f"action {action_id} not found")
            ddi._feedback.setdefault(action_id, []).append(body)
            if action.status != "open":
                return self._error(410, f"action {action_id} is no longer active")
            action.messages.extend(details)
            # As in hawkBit: only "closed" ends the action ("failure" means
            # error, anything else success); "rejected" is a warning and
            # leaves the action open.
            if execution == "closed":
                action.status = "finished"
                action.result = "failure" if finished == "failure" else "success"
                if action.result == "success":
                    ddi._installed = action.id
                    ddi._want_attributes = True
        self._send(200)

    def _cancel(self, cancel_id):
        ddi = self.ddi
        with ddi._lock:
            action_id = ddi._cancels.get(cancel_id)
            if action_id is None:
                return self._error(404, f"cancel action {cancel_id} not found")
        self._json(200, {"id": cancel_id, "cancelAction": {"stopId": action_id}})

    def _cancel_feedback(self, cancel_id, raw):
        ddi = self.ddi
        body = self._parse(raw)
        execution, finished, details = _validate_feedback(body)
        with ddi._lock:
            action_id = ddi._cancels.get(cancel_id)
            if action_id is None:
                return self._error(404, f"cancel action {cancel_id} not found")
            ddi._cancel_feedback.setdefault(cancel_id, []).append(body)
            action = ddi._actions[action_id]
            if action.cancel_id != cancel_id:
                return self._error(410, f"cancel action {cancel_id} is no longer active")
            action.messages.extend(details)
            if execution == "canceled" or (execution == "closed" and finished != "failure"):
                action.status = "cancelled"
                action.cancel_id = None
            elif execution in ("rejected", "closed"):
                action.cancel_id = None  # refused: the update goes on
        self._send(200)

    def _config_data(self, raw):
        ddi = self.ddi
        body = self._parse(raw)
        _validate_config_data(body)
        with ddi._lock:
            ddi._config_data.append(body)
            ddi._want_attributes = False
        self._send(200)

    def _artifact(self, module_id, filename):
        ddi = self.ddi
        md5sum = filename.endswith(".MD5SUM")
        name = filename[: -len(".MD5SUM")] if md5sum else filename
        with ddi._lock:
            action = next((a for a in ddi._actions.values()
                           if str(a.module_id) == module_id and a.filename == name), None)
            if action is None:
                return self._error(404, "artifact not found")
            fail = None
            if not md5sum and self.command == "GET" and ddi._fail_downloads:
                fail = ddi._fail_downloads.pop(0)
        if md5sum:
            text = f"{action.md5}  {action.filename}".encode()
            return self._send(200, text, "text/plain", headers=[
                ("Content-Disposition", f'attachment;filename="{action.filename}.MD5SUM"')])
        if fail == "500":
            return self._send(500, b"Internal Server Error\n")
        if fail == "404":
            return self._error(404, "artifact not found")
        if fail == "reset":
            return self._reset()

        size = action.size
        start, end = 0, size - 1
        code = 200
        rng = self.headers.get("Range")
        if rng is not None:
            r = _parse_range(rng, size)
            if r is None:
                return self._send(416, b"Range Not Satisfiable\n",
                                  headers=[("Content-Range", f"bytes */{size}")])
            start, end = r
            code = 206
        length = end - start + 1 if size else 0
        self.send_response(code)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(length))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("ETag", f'"{action.sha1}"')
        self.send_header("Content-Disposition", f'attachment;filename="{action.filename}"')
        if code == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.end_headers()
        if self.command == "HEAD":
            return
        to_send = length if fail != "truncate" else length // 2
        with open(action.path, "rb") as f:
            f.seek(start)
            while to_send > 0:
                chunk = f.read(min(65536, to_send))
                if not chunk:
                    break
                self.wfile.write(chunk)
                to_send -= len(chunk)
        if fail == "truncate":
            self._drop()

    def _drop(self):
        """Closes the TCP connection (FIN) without TLS close_notify."""
        self.close_connection = True
        try:
            self.request.shutdown(socket.SHUT_RDWR)  # on an SSLSocket: TCP level only
        except OSError:
            pass
        self.wfile = BytesIO()

    def _reset(self):
        """Drops the connection with a TCP reset, without TLS close_notify."""
        self.close_connection = True
        try:
            self.request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.request.close()  # the descriptor closes (RST) once finish() drops rfile
        self.wfile = BytesIO()


def _parse_range(header, size):
    """(start, end) for a single "bytes=" range within size, else None."""
    m = re.fullmatch(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", header)
    if not m or (m.group(1) == "" and m.group(2) == ""):
        return None
    if m.group(1) == "":
        suffix = int(m.group(2))
        if suffix == 0 or size == 0:
            return None
        return max(0, size - suffix), size - 1
    start = int(m.group(1))
    end = int(m.group(2)) if m.group(2) else size - 1
    if start >= size or end < start:
        return None
    return start, min(end, size - 1)
