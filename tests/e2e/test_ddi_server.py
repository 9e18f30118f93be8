"""The hawkBit DDI test server (tests/update/ddi_server.py) on its own:
shapes of its answers, authentication, downloads and the action life cycle."""

import hashlib
import http.client
import json
import os
import ssl
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "update"))

from ddi_server import DdiServer  # noqa: E402

TOKEN = "t0k3n-for-tests"
GATEWAY = "gw-s3cret"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("ddi-pki")

    def run(*args):
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)

    def key_and_csr(name, cn):
        run("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={cn}")

    def sign(name, ca, ext):
        (d / f"{name}.ext").write_text(ext)
        run("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
            "-CAcreateserial", "-days", "2", "-out", f"{name}.pem", "-extfile", f"{name}.ext")

    for ca in ("ca", "otherca"):
        run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", f"{ca}.key", "-out", f"{ca}.pem", "-days", "2", "-subj", f"/CN=DDI test {ca}")
    key_and_csr("server", "127.0.0.1")
    sign("server", "ca", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    key_and_csr("client", "facteur-test")
    sign("client", "ca", "extendedKeyUsage=clientAuth\n")
    key_and_csr("stranger", "facteur-test")
    sign("stranger", "otherca", "extendedKeyUsage=clientAuth\n")
    return d


@pytest.fixture
def artifact(tmp_path):
    p = tmp_path / "facteur-1.2.3.swu"
    p.write_bytes(os.urandom(100_000) + b"end")
    return p


@pytest.fixture
def ddi(pki):
    srv = DdiServer(pki / "server.pem", pki / "server.key", client_ca=pki / "ca.pem",
                    target_token=TOKEN, gateway_token=GATEWAY).start()
    yield srv
    srv.stop()


def call(srv, method, url, body=None, token=TOKEN, scheme="TargetToken", cert=None, headers=None):
    """(status, headers, body bytes). url: absolute, or relative to the controller URL."""
    if not url.startswith("https://"):
        url = srv.controller_url + url
    ctx = ssl.create_default_context(cafile=str(Path(srv.cert).parent / "ca.pem"))
    if cert:
        ctx.load_cert_chain(*cert)
    u = urlsplit(url)
    conn = http.client.HTTPSConnection(u.hostname, u.port, context=ctx, timeout=10)
    h = dict(headers or {})
    if token:
        h["Authorization"] = f"{scheme} {token}"
    data = None
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    try:
        conn.request(method, u.path + (f"?{u.query}" if u.query else ""), body=data, headers=h)
        r = conn.getresponse()
        return r.status, r.headers, r.read()
    finally:
        conn.close()


def get_json(srv, url, **kw):
    status, _, body = call(srv, "GET", url, **kw)
    assert status == 200, body
    return json.loads(body)


def feedback(execution, finished="none", details=(), **extra):
    return {"status": {"execution": execution, "result": {"finished": finished}, "details": list(details)}, **extra}


def test_poll_shape_and_token_auth(ddi, artifact):
    assert call(ddi, "GET", "", token=None)[0] == 401
    assert call(ddi, "GET", "", token="wrong")[0] == 401
    poll = get_json(ddi, "")
    assert poll["config"] == {"polling": {"sleep": "00:00:01"}}
    assert set(poll["_links"]) == {"configData"}
    assert poll["_links"]["configData"]["href"] == ddi.controller_url + "/configData"
    assert ddi.base_url == f"https://127.0.0.1:{ddi.port}/DEFAULT"

    ddi.add_deployment(7, artifact, "1.2.3")
    href = get_json(ddi, "")["_links"]["deploymentBase"]["href"]
    assert href.startswith(f"https://127.0.0.1:{ddi.port}/DEFAULT/controller/v1/facteur-test/deploymentBase/7?c=")

    assert get_json(ddi, "", token=GATEWAY, scheme="GatewayToken")["_links"]["deploymentBase"]["href"] == href
    assert call(ddi, "GET", ddi.base_url + "/controller/v1/someone-else")[0] == 404
    assert call(ddi, "GET", "/nonsense")[0] == 404

    auths = [(r.method, r.auth, r.headers.get("Authorization")) for r in ddi.requests()]
    assert auths[:4] == [("GET", None, None), ("GET", None, "TargetToken"),
                         ("GET", "token", "TargetToken"), ("GET", "token", "TargetToken")]
    assert ("GET", "gateway", "GatewayToken") in auths
    assert all(TOKEN not in json.dumps(r.headers) for r in ddi.requests())


def test_deployment_shape_and_hashes(ddi, artifact):
    ddi.add_deployment("12", artifact, "1.2.3", name="facteur-os", filename="update.swu",
                       download="attempt", maintenance="unavailable")
    dep = get_json(ddi, get_json(ddi, "")["_links"]["deploymentBase"]["href"])
    assert dep["id"] == "12"
    assert "actionHistory" not in dep
    d = dep["deployment"]
    assert (d["download"], d["update"], d["maintenanceWindow"]) == ("attempt", "forced", "unavailable")
    [chunk] = d["chunks"]
    assert (chunk["part"], chunk["version"], chunk["name"]) == ("os", "1.2.3", "facteur-os")
    [art] = chunk["artifacts"]
    data = artifact.read_bytes()
    assert art["filename"] == "update.swu"
    assert art["size"] == len(data)
    assert art["hashes"] == {"sha1": hashlib.sha1(data).hexdigest(), "md5": hashlib.md5(data).hexdigest(),
                             "sha256": hashlib.sha256(data).hexdigest()}
    links = art["_links"]
    assert links["download"]["href"].startswith(ddi.controller_url + "/softwaremodules/")
    assert links["download"]["href"].endswith("/artifacts/update.swu")
    assert links["download-http"]["href"].startswith("http://")
    status, headers, body = call(ddi, "GET", links["download"]["href"])
    assert status == 200 and body == data
    assert headers["Content-Length"] == str(len(data)) and headers["ETag"]
    status, _, body = call(ddi, "GET", links["md5sum"]["href"])
    assert body.decode().split() == [hashlib.md5(data).hexdigest(), "update.swu"]

    ddi.set_maintenance("12", None)
    d = get_json(ddi, "/deploymentBase/12?actionHistory=-1")
    assert "maintenanceWindow" not in d["deployment"]
    assert d["actionHistory"] == {"status": "RUNNING", "messages": []}
    assert call(ddi, "GET", "/deploymentBase/99")[0] == 404


def test_range_download(ddi, artifact):
    ddi.add_deployment(3, artifact, "1.0")
    url = get_json(ddi, "/deploymentBase/3")["deployment"]["chunks"][0]["artifacts"][0]["_links"]["download"]["href"]
    data = artifact.read_bytes()
    status, headers, body = call(ddi, "GET", url, headers={"Range": "bytes=60000-"})
    assert status == 206
    assert body == data[60000:]
    assert headers["Content-Range"] == f"bytes 60000-{len(data) - 1}/{len(data)}"
    assert headers["Content-Length"] == str(len(data) - 60000)
    status, _, body = call(ddi, "GET", url, headers={"Range": "bytes=10-19"})
    assert (status, body) == (206, data[10:20])
    status, headers, _ = call(ddi, "GET", url, headers={"Range": f"bytes={len(data)}-"})
    assert status == 416 and headers["Content-Range"] == f"bytes */{len(data)}"
    assert call(ddi, "GET", url, headers={"Range": "pages=1-2"})[0] == 416
    assert [r.headers.get("Range") for r in ddi.requests() if "/artifacts/" in r.path] == [
        "bytes=60000-", "bytes=10-19", f"bytes={len(data)}-", "pages=1-2"]


def test_download_failure_modes(ddi, artifact):
    ddi.add_deployment(4, artifact, "1.0")
    url = get_json(ddi, "/deploymentBase/4")["deployment"]["chunks"][0]["artifacts"][0]["_links"]["download"]["href"]
    size = artifact.stat().st_size

    ddi.fail_downloads(1, "truncate")
    with pytest.raises(http.client.IncompleteRead) as e:
        call(ddi, "GET", url)
    assert 0 < len(e.value.partial) < size
    assert e.value.expected + len(e.value.partial) == size  # Content-Length announced the whole file

    ddi.fail_downloads(1, "500")
    ddi.fail_downloads(1, "404")
    assert call(ddi, "GET", url)[0] == 500
    assert call(ddi, "GET", url)[0] == 404
    ddi.fail_downloads(1, "reset")
    with pytest.raises((ConnectionError, http.client.RemoteDisconnected, ssl.SSLError)):
        call(ddi, "GET", url)
    status, _, body = call(ddi, "GET", url)
    assert status == 200 and len(body) == size


def test_client_certificate(ddi, pki):
    poll = get_json(ddi, "", token=None, cert=(pki / "client.pem", pki / "client.key"))
    assert poll["config"]["polling"]["sleep"] == "00:00:01"
    last = ddi.requests()[-1]
    assert last.auth == "certificate" and last.headers["Client-Cert-CN"] == "facteur-test"
    # A certificate from another CA is refused during the handshake (or at the latest by a 401).
    try:
        status = call(ddi, "GET", "", token=None, cert=(pki / "stranger.pem", pki / "stranger.key"))[0]
    except (ssl.SSLError, ConnectionError):
        status = None
    assert status in (None, 401)


def test_feedback_closed_removes_action(ddi, artifact):
    ddi.add_deployment(5, artifact, "2.0")
    assert call(ddi, "POST", "/deploymentBase/5/feedback", body=b"{not json")[0] == 400
    assert call(ddi, "POST", "/deploymentBase/5/feedback", body=feedback("installing"))[0] == 400
    assert call(ddi, "POST", "/deploymentBase/5/feedback", body={"status": {"execution": "proceeding"}})[0] == 400
    progress = feedback("download", details=["downloading"])
    progress["status"]["result"]["progress"] = {"cnt": 1, "of": 3}
    assert call(ddi, "POST", "/deploymentBase/5/feedback", body=progress)[0] == 200
    assert call(ddi, "POST", "/deploymentBase/5/feedback", body=feedback("rejected", details=["busy"]))[0] == 200
    assert ddi.action_status(5) == "open"
    assert "deploymentBase" in get_json(ddi, "")["_links"]
    closed = feedback("closed", "success", ["installed"], time="20250101T000000")
    assert call(ddi, "POST", "/deploymentBase/5/feedback", body=closed)[0] == 200
    assert ddi.action_status(5) == "finished"
    assert [f["status"]["execution"] for f in ddi.feedback(5)] == ["download", "rejected", "closed"]
    assert ddi.feedback(5)[0]["status"]["result"]["progress"] == {"cnt": 1, "of": 3}
    links = get_json(ddi, "")["_links"]
    assert "deploymentBase" not in links
    assert links["installedBase"]["href"].endswith("/installedBase/5")
    assert get_json(ddi, "/deploymentBase/5?actionHistory=2")["actionHistory"] == {
        "status": "FINISHED", "messages": ["installed", "busy"]}
    assert call(ddi, "POST", "/deploymentBase/5/feedback", body=closed)[0] == 410


def test_cancel_flow(ddi, artifact, tmp_path):
    ddi.add_deployment(8, artifact, "3.0")
    cancel_id = ddi.cancel(8)
    assert cancel_id != "8"
    links = get_json(ddi, "")["_links"]
    assert "deploymentBase" not in links
    assert links["cancelAction"]["href"] == f"{ddi.controller_url}/cancelAction/{cancel_id}"
    assert get_json(ddi, links["cancelAction"]["href"]) == {"id": cancel_id, "cancelAction": {"stopId": "8"}}
    assert call(ddi, "GET", "/deploymentBase/8")[0] == 404

    # refused: the update goes on
    fb = f"/cancelAction/{cancel_id}/feedback"
    assert call(ddi, "POST", fb, body=feedback("closed", "failure", ["too late"]))[0] == 200
    assert ddi.action_status(8) == "open"
    assert "deploymentBase" in get_json(ddi, "")["_links"]

    # accepted
    second = ddi.cancel(8)
    assert second != cancel_id
    assert call(ddi, "POST", f"/cancelAction/{second}/feedback", body=feedback("closed", "success"))[0] == 200
    assert ddi.action_status(8) == "cancelled"
    assert "cancelAction" not in get_json(ddi, "")["_links"]
    assert [f["status"]["result"]["finished"] for f in ddi.cancel_feedback(cancel_id)] == ["failure"]
    assert len(ddi.cancel_feedback(second)) == 1


def test_config_data(ddi):
    assert "configData" in get_json(ddi, "")["_links"]
    assert call(ddi, "PUT", "/configData", body={"mode": "merge", "data": {"version": 3}})[0] == 400
    assert call(ddi, "PUT", "/configData", body={"mode": "sideways", "data": {"a": "b"}})[0] == 400
    assert call(ddi, "POST", "/configData", body={"data": {"a": "b"}})[0] == 405
    body = {"mode": "replace", "data": {"version": "1.2.3", "hw": "rpi4"}, "id": "", "time": "x",
            "status": {"execution": "closed", "result": {"finished": "success"}}}
    assert call(ddi, "PUT", "/configData", body=body)[0] == 200
    assert ddi.config_data() == [body]
    assert "configData" not in get_json(ddi, "")["_links"]
    ddi.request_attributes()
    assert "configData" in get_json(ddi, "")["_links"]


def test_garbage_answers(ddi, artifact):
    ddi.add_deployment(9, artifact, "4.0")
    ddi.garbage_next_polls(2)
    ddi.garbage_deployment(1)
    for _ in range(2):
        status, _, body = call(ddi, "GET", "")
        assert status == 200
        with pytest.raises(ValueError):
            json.loads(body)
    href = get_json(ddi, "")["_links"]["deploymentBase"]["href"]
    status, _, body = call(ddi, "GET", href)
    assert status == 200
    with pytest.raises(ValueError):
        json.loads(body)
    assert get_json(ddi, href)["id"] == "9"
    assert ddi.wait_for(lambda: len(ddi.requests()) == 5, timeout=1)
