"""A lean load generator: N websocket feed clients in one process, on raw sockets.

Why not N ``trio_websocket`` clients in the test process: on a 2-core
machine their pure-Python frame handling would cost the test more CPU than
the daemon spends sending, so the test would measure itself. Here each
client is a non-blocking socket, frames are parsed by hand (server frames
are unmasked, each a ``{"feed": [...]}`` of one or more messages; pings are
answered with masked pongs so the server's heartbeat never drops us), and per
client only the sequence check is kept.

Usage (loopback only)::

    python _feedload.py PORT AFTER CLIENTS TOKEN

prints ``connected`` once every client is subscribed; then reads commands
from stdin: ``wait SEQ`` prints ``reached`` once every client has received
everything up to SEQ; ``until SEQ`` waits likewise (at most 120 s), prints a
JSON summary and exits.

A client cut off for lagging (close 4008, ``resume with after=N``) does what
docs/protocol.md tells clients to do: it reconnects with ``?after=N``. The
summary counts those resumptions; the sequence check spans them, so "every
message, in order, once" is checked across reconnects.
"""

from __future__ import annotations

import base64
import json
import os
import re
import selectors
import socket
import sys
import time

SEQ = re.compile(rb'\{"seq": (\d+), "type": "')


class Client:
    def __init__(self, port: int, after: int, token: str) -> None:
        self.port, self.token = port, token
        self.expected = after + 1
        self.received = 0
        self.out_of_order = 0
        self.resumed = 0
        self.close_code: int | None = None
        self.resume_after: int | None = None
        self.connect(after)

    def connect(self, after: int) -> None:
        port, token = self.port, self.token
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            f"GET /ws?after={after} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Authorization: Bearer {token}\r\n\r\n".encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("closed during the handshake")
            head += chunk
        status = head.split(b"\r\n", 1)[0]
        if b" 101 " not in status:
            raise ConnectionError(status.decode(errors="replace"))
        self.buffer = bytearray(head.split(b"\r\n\r\n", 1)[1])
        self.sock.setblocking(False)
        self.close_code = None
        self._parse()

    def on_readable(self) -> None:
        try:
            data = self.sock.recv(1 << 18)
        except BlockingIOError:
            return
        if not data:
            self.close_code = self.close_code or 1006
            return
        self.buffer += data
        self._parse()

    def _parse(self) -> None:
        buf = self.buffer
        at = 0
        while len(buf) - at >= 2:
            opcode, length, header = buf[at] & 0x0F, buf[at + 1] & 0x7F, 2
            if length == 126:
                if len(buf) - at < 4:
                    break
                length, header = int.from_bytes(buf[at + 2 : at + 4], "big"), 4
            elif length == 127:
                if len(buf) - at < 10:
                    break
                length, header = int.from_bytes(buf[at + 2 : at + 10], "big"), 10
            if len(buf) - at < header + length:
                break
            payload = bytes(buf[at + header : at + header + length])
            at += header + length
            if opcode == 1:
                # Every message of a frame starts like this (json.dumps of the outbox
                # row; nested data never holds a "seq" key): cheaper than json.loads.
                for seq in map(int, SEQ.findall(payload)):
                    if seq != self.expected:
                        self.out_of_order += 1
                    self.expected = seq + 1
                    self.received += 1
            elif opcode == 9:  # ping → pong, masked as a client must
                mask = os.urandom(4)
                masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
                self.sock.sendall(bytes([0x8A, 0x80 | len(payload)]) + mask + masked)
            elif opcode == 8:
                self.close_code = int.from_bytes(payload[:2], "big") if payload else 1005
                reason = payload[2:].decode(errors="replace")
                if self.close_code == 4008 and "after=" in reason:
                    self.resume_after = int(reason.rsplit("after=", 1)[1])
                break
        del buf[:at]


def main() -> None:
    port, after, count, token = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    clients = [Client(port, after, token) for _ in range(count)]
    selector = selectors.DefaultSelector()
    for client in clients:
        selector.register(client.sock, selectors.EVENT_READ, client)
    selector.register(sys.stdin, selectors.EVENT_READ, None)
    print("connected", flush=True)
    until: int | None = None
    wait: int | None = None
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        for key, _ in selector.select(timeout=0.5):
            if key.data is None:
                line = sys.stdin.readline()
                if not line:
                    return
                command, seq = line.split()
                if command == "wait":
                    wait = int(seq)
                else:
                    until = int(seq)
                    deadline = min(deadline, time.monotonic() + 120)
            else:
                client = key.data
                client.on_readable()
                if client.close_code is not None:
                    selector.unregister(key.fileobj)
                    client.sock.close()
                    if client.resume_after is not None:  # lagging: resume, as documented
                        client.resumed += 1
                        client.connect(client.resume_after)
                        client.resume_after = None
                        selector.register(client.sock, selectors.EVENT_READ, client)
        if wait is not None and all(c.expected > wait for c in clients):
            print("reached", flush=True)
            wait = None
        if until is not None and all(c.expected > until or c.close_code for c in clients):
            break
    print(
        json.dumps(
            {
                "clients": count,
                "complete": sum(c.expected > (until or 0) for c in clients),
                "received": [c.received for c in clients],
                "out_of_order": sum(c.out_of_order for c in clients),
                "resumed": sum(c.resumed for c in clients),
                "clients_resumed": sum(c.resumed > 0 for c in clients),
                "cpu_seconds": round(time.process_time(), 1),
                "closed": [c.close_code for c in clients if c.close_code is not None],
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
