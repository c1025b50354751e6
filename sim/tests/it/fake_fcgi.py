"""A FastCGI responder for the simulator's tests, in IIS's model: the
connection is fd 0 (a socketpair end), KEEP_CONN, one request at a time.
PATH_INFO picks a behaviour, including the faults IIS must handle."""

import json
import os
import socket
import struct
import sys
import time

sock = socket.socket(fileno=0)


def read_exact(n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            sys.exit(0)
        buf += chunk
    return buf


def read_record():
    h = read_exact(8)
    _, rtype, rid, clen, plen, _ = struct.unpack(">BBHHBB", h)
    body = read_exact(clen)
    read_exact(plen)
    return rtype, rid, body


def record(rtype, rid, data=b""):
    return struct.pack(">BBHHBB", 1, rtype, rid, len(data), 0, 0) + data


def send(rtype, rid, data=b""):
    while len(data) > 65535:
        sock.sendall(record(rtype, rid, data[:65535]))
        data = data[65535:]
    sock.sendall(record(rtype, rid, data))


def pairs(data):
    out, i = {}, 0

    def length():
        nonlocal i
        if data[i] < 128:
            i += 1
            return data[i - 1]
        v = struct.unpack(">I", data[i : i + 4])[0] & 0x7FFFFFFF
        i += 4
        return v

    while i < len(data):
        n, v = length(), length()
        out[data[i : i + n].decode("latin-1")] = data[i + n : i + n + v].decode("latin-1")
        i += n + v
    return out


def end(rid):
    send(3, rid, struct.pack(">IB3x", 0, 0))


def reply(rid, body, status="200 OK", ctype="text/plain"):
    head = f"Status: {status}\r\nContent-Type: {ctype}\r\n\r\n".encode()
    send(6, rid, head + body)
    send(6, rid)
    end(rid)


def main():
    served = 0
    while True:
        rtype, rid, body = read_record()
        assert rtype == 1, rtype
        role, flags = struct.unpack(">HB5x", body)
        records = [("BEGIN", len(body), role, flags)]
        params = b""
        while True:
            rtype, _, data = read_record()
            records.append(("PARAMS", len(data)))
            if not data:
                break
            params += data
        env = pairs(params)
        size = 0
        while True:
            rtype, _, data = read_record()
            records.append(("STDIN", len(data))) if len(records) < 8 else None
            if not data:
                break
            size += len(data)
        served += 1
        path = env.get("PATH_INFO", "")
        if path.endswith("/hello"):
            reply(rid, b"hello from pid %d" % os.getpid())
        elif path.endswith("/vars"):
            reply(rid, json.dumps({"params": env, "records": records, "id": rid}).encode(), ctype="application/json")
        elif path.endswith("/environ"):
            lines = "".join(f"{k}={v}\n" for k, v in os.environ.items())
            reply(rid, lines.encode())
        elif path.endswith("/size"):
            reply(rid, str(size).encode())
        elif path.endswith("/big"):
            send(6, rid, b"Status: 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n")
            for _ in range(16):
                send(6, rid, b"x" * 65536)
            send(6, rid)
            end(rid)
        elif path.endswith("/exit"):
            send(6, rid, b"Status: 200 OK\r\n\r\npartial")
            os._exit(3)
        elif path.endswith("/hang"):
            time.sleep(3600)
        elif path.endswith("/slow"):
            time.sleep(1.0)
            reply(rid, b"slow")
        elif path.endswith("/stderr"):
            send(7, rid, b"boom on stderr")
            send(6, rid, b"Status: 200 OK\r\n\r\nstdout body")
            send(6, rid)
            end(rid)
        elif path.endswith("/badtype"):
            sock.sendall(record(11, 0, bytes([9, 0, 0, 0, 0, 0, 0, 0])))
            reply(rid, b"after a bad record")
        elif path.endswith("/badheader"):
            send(6, rid, b"Status: 201 Created\r\nBad Name: x\r\nX-Ok: 1\r\nX-Ctl: a\x01b\r\n\r\nbody")
            send(6, rid)
            end(rid)
        elif path.endswith("/crash"):
            os._exit(1)
        elif path.endswith("/pid"):
            reply(rid, str(os.getpid()).encode())
        else:
            reply(rid, b"not found", status="404 Not Found")


main()
