"""The installed distribution: console script, ``python -m``, the PasteDeploy
server entry point, and the gateway seen from an independent FastCGI client."""

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest

import fcgi
from conftest import FIXTURES, ROOT

import iiswsgi

BIN = os.path.dirname(sys.executable)


def _env(**extra):
    env = dict(os.environ)
    env["PYTHONPATH"] = FIXTURES
    env.pop("WSGI_HANDLER", None)
    env.update(extra)
    return env


def _wait_socket(path, proc, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise AssertionError("gateway exited: %s" % proc.communicate())
        try:
            fcgi.connect_unix(path).close()
            return
        except OSError:
            time.sleep(0.02)
    raise AssertionError("gateway did not listen on %s" % path)


def test_version_matches_the_console_script():
    out = subprocess.run(
        [os.path.join(BIN, "iiswsgi"), "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "iiswsgi %s" % iiswsgi.__version__


def test_python_m_help_has_examples():
    out = subprocess.run(
        [sys.executable, "-m", "iiswsgi", "serve", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "Examples:" in out.stdout and "--bind" in out.stdout


def test_bad_bind_address_is_explained():
    out = subprocess.run(
        [sys.executable, "-m", "iiswsgi", "serve", "x:y", "--bind", "localhost:80"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2
    assert "use unix:PATH or tcp:HOST:PORT" in out.stderr


def test_serve_over_tcp_with_an_independent_client(tmp_path):
    port_sock = socket.socket()
    port_sock.bind(("127.0.0.1", 0))
    port = port_sock.getsockname()[1]
    port_sock.close()
    proc = subprocess.Popen(
        [sys.executable, "-m", "iiswsgi", "serve", "conformance:validated_app",
         "--bind", "tcp:127.0.0.1:%d" % port, "--log", str(tmp_path / "gw.log")],
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.time() + 30
        while True:
            try:
                s = socket.create_connection(("127.0.0.1", port))
                break
            except OSError:
                assert time.time() < deadline and proc.poll() is None
                time.sleep(0.02)
        with s:
            for rid in (1, 2):
                status, headers, body, err = fcgi.request(s, fcgi.PARAMS_GET, rid=rid)
                assert (status, body, err) == (200, b"Hello, World!", b"")
            params = dict(fcgi.PARAMS_GET, PATH_INFO="/upload-size", REQUEST_METHOD="POST")
            status, _, body, _ = fcgi.request(s, params, body=b"z" * 200_000, rid=3)
            assert status == 200 and b'"size": 200000' in body
            # GET_VALUES, answered for the --bind model (no multiplexing).
            s.sendall(fcgi.record(fcgi.GET_VALUES, 0, fcgi.pairs(
                [(b"FCGI_MAX_CONNS", b""), (b"FCGI_MPXS_CONNS", b"")])))
            rtype, rid, content = next(fcgi.read_records(s))
            assert (rtype, rid) == (fcgi.GET_VALUES_RESULT, 0)
            # Open connections are capped at 10,000; --max-conns (64) bounds requests.
            assert content == fcgi.pairs(
                [(b"FCGI_MAX_CONNS", b"10000"), (b"FCGI_MPXS_CONNS", b"0")]
            )
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0


def test_pastedeploy_server_entry_point(tmp_path):
    sock = tmp_path / "paste.sock"
    ini = tmp_path / "site.ini"
    ini.write_text(textwrap.dedent("""\
        [app:main]
        paste.app_factory = conformance:make_app

        [server:main]
        use = egg:iiswsgi#iis
        bind = unix:%s
        log = %s
    """ % (sock, tmp_path / "paste.log")))
    script = textwrap.dedent("""\
        import sys
        from paste.deploy import loadapp, loadserver
        app = loadapp("config:" + sys.argv[1])
        server = loadserver("config:" + sys.argv[1])
        server(app)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script, str(ini)], env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_socket(str(sock), proc)
        with fcgi.connect_unix(str(sock)) as s:
            status, _, body, _ = fcgi.request(s, fcgi.PARAMS_GET)
            assert (status, body) == (200, b"Hello, World!")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    assert "starting" in (tmp_path / "paste.log").read_text()


def test_serve_config_ini(tmp_path):
    sock = tmp_path / "ini.sock"
    ini = tmp_path / "app.ini"
    ini.write_text("[app:main]\npaste.app_factory = conformance:make_app\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "iiswsgi", "serve", "config:%s#main" % ini,
         "--bind", "unix:%s" % sock, "--log", str(tmp_path / "ini.log")],
        env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_socket(str(sock), proc)
        with fcgi.connect_unix(str(sock)) as s:
            status, _, body, _ = fcgi.request(s, dict(fcgi.PARAMS_GET, PATH_INFO="/environ"))
            assert status == 200 and b'"wsgi.multithread": true' in body
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0


def test_flask_app_through_the_gateway(tmp_path):
    pytest.importorskip("flask")
    sock = tmp_path / "flask.sock"
    proc = subprocess.Popen(
        [sys.executable, "-m", "iiswsgi", "serve", "flask_hello:app",
         "--bind", "unix:%s" % sock, "--log", str(tmp_path / "flask.log")],
        env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_socket(str(sock), proc)
        with fcgi.connect_unix(str(sock)) as s:
            status, headers, body, _ = fcgi.request(s, dict(fcgi.PARAMS_GET, PATH_INFO="/"))
            assert (status, body) == (200, b"Hello, World!")
            status, _, _, _ = fcgi.request(s, dict(fcgi.PARAMS_GET, PATH_INFO="/missing"), rid=2)
            assert status == 404
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
