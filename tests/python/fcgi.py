"""A minimal FastCGI client (the web server's side), written from the spec
independently of the Rust codec, to cross-check the gateway from Python."""

import socket
import struct

BEGIN_REQUEST, END_REQUEST, PARAMS, STDIN, STDOUT, STDERR = 1, 3, 4, 5, 6, 7
GET_VALUES, GET_VALUES_RESULT = 9, 10


def record(rtype, rid, content=b""):
    pad = -len(content) % 8
    return struct.pack(">BBHHBx", 1, rtype, rid, len(content), pad) + content + b"\0" * pad


def _len(n):
    return bytes([n]) if n < 128 else struct.pack(">I", n | 0x80000000)


def pairs(items):
    return b"".join(_len(len(k)) + _len(len(v)) + k + v for k, v in items)


def _stream(rtype, rid, data):
    out = b"".join(record(rtype, rid, data[i : i + 65535]) for i in range(0, len(data), 65535))
    return out + record(rtype, rid)


def read_records(sock):
    buf = b""
    while True:
        while len(buf) >= 8:
            _, rtype, rid, clen, plen = struct.unpack(">BBHHBx", buf[:8])
            if len(buf) < 8 + clen + plen:
                break
            yield rtype, rid, buf[8 : 8 + clen]
            buf = buf[8 + clen + plen :]
        data = sock.recv(65536)
        if not data:
            return
        buf += data


def request(sock, params, body=b"", rid=1, keep=True):
    """Sends one request; returns (status, headers, body, stderr)."""
    env = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in params.items()]
    sock.sendall(
        record(BEGIN_REQUEST, rid, struct.pack(">HB5x", 1, 1 if keep else 0))
        + _stream(PARAMS, rid, pairs(env))
        + _stream(STDIN, rid, body)
    )
    out, err = b"", b""
    for rtype, r, content in read_records(sock):
        assert r == rid, (rtype, r)
        if rtype == STDOUT:
            out += content
        elif rtype == STDERR:
            err += content
        elif rtype == END_REQUEST:
            break
    head, _, body = out.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(":", 1)[1].split()[0])
    headers = dict(line.split(": ", 1) for line in lines[1:] if line)
    return status, headers, body, err


def connect_unix(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    return s


PARAMS_GET = {
    "REQUEST_METHOD": "GET",
    "SCRIPT_NAME": "",
    "PATH_INFO": "/hello",
    "QUERY_STRING": "",
    "SERVER_NAME": "localhost",
    "SERVER_PORT": "80",
    "SERVER_PROTOCOL": "HTTP/1.1",
}
