"""The control protocol over a Unix socket: a live run's ``control.sock``, and a client for it.

One thread serves every client with a selector, so a slow, silent or hostile client costs the
trainer nothing but that thread's few microseconds. Each line a client sends is one command
(engine/control.py) and gets one JSON line back: ``{"ok": true, "command": ...}`` or
``{"ok": false, "error": ...}``. Nothing a client sends is run: only the fixed commands exist.
A peer of another user is refused (SO_PEERCRED), on top of the socket's 0600 and the folder's 0700.
"""
from __future__ import annotations

import contextlib
import json
import os
import selectors
import socket
import struct
import threading
from pathlib import Path

from rnn_tui.engine.control import TrainControl, apply_command, command_line

MAX_LINE_BYTES = 64 * 1024
MAX_CLIENTS = 32
# AF_UNIX paths are limited to 108 bytes; a longer one is reached through the folder's descriptor
_SHORT_PATH_BYTES = 100


class RunNotLive(Exception):
    """Nothing listens on the run's control socket: the run has ended, or never ran here."""


@contextlib.contextmanager
def _address(path: Path):
    """The socket address for ``path``, whatever its length (Linux's /proc/self/fd for a long one)."""
    if len(os.fsencode(path)) < _SHORT_PATH_BYTES or not Path("/proc/self/fd").is_dir():
        yield str(path)
        return
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        yield f"/proc/self/fd/{fd}/{path.name}"
    finally:
        os.close(fd)


def _peer_uid(connection: socket.socket) -> int | None:
    """The connecting process's user id, where the platform tells it."""
    if not hasattr(socket, "SO_PEERCRED"):
        return None
    _pid, uid, _gid = struct.unpack("3i", connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                                  struct.calcsize("3i")))
    return uid


def _reply(ok: bool, **fields) -> bytes:
    return (json.dumps({"ok": ok, **fields}, ensure_ascii=False) + "\n").encode()


class ControlServer:
    """Listens on ``path`` and applies each command to ``control`` until ``close``."""

    def __init__(self, path: Path, control: TrainControl):
        self.path = Path(path)
        self.control = control
        self._selector = selectors.DefaultSelector()
        self._buffers: dict[socket.socket, bytes] = {}
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._thread = threading.Thread(target=self._serve, name="rnn-tui-control", daemon=True)

    def start(self) -> "ControlServer":
        # A socket left by a killed run is stale: whoever calls this holds the folder's lock.
        self.path.unlink(missing_ok=True)
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        with _address(self.path) as address:
            self._listener.bind(address)
        os.chmod(self.path, 0o600)
        self._listener.listen(64)
        self._listener.setblocking(False)
        self._selector.register(self._listener, selectors.EVENT_READ)
        self._selector.register(self._wake_reader, selectors.EVENT_READ)
        self._thread.start()
        return self

    def close(self) -> None:
        self._wake_writer.send(b"x")
        self._thread.join(timeout=5)
        for connection in list(self._buffers):
            self._drop(connection)
        self._selector.close()
        self._listener.close()
        self._wake_reader.close()
        self._wake_writer.close()
        with contextlib.suppress(OSError):
            self.path.unlink()

    def _serve(self) -> None:
        while True:
            for key, _mask in self._selector.select():
                if key.fileobj is self._wake_reader:
                    return
                if key.fileobj is self._listener:
                    self._accept()
                else:
                    self._read(key.fileobj)

    def _accept(self) -> None:
        try:
            connection, _ = self._listener.accept()
        except OSError:
            return
        connection.setblocking(False)
        if _peer_uid(connection) not in (None, os.getuid()):
            refusal = "refused: this run belongs to another user"
        elif len(self._buffers) >= MAX_CLIENTS:
            refusal = f"refused: {MAX_CLIENTS} clients are connected already"
        else:
            self._buffers[connection] = b""
            self._selector.register(connection, selectors.EVENT_READ)
            return
        with contextlib.suppress(OSError):
            connection.send(_reply(False, error=refusal))
        connection.close()

    def _read(self, connection: socket.socket) -> None:
        try:
            data = connection.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        buffer = self._buffers[connection] + data
        lines = buffer.split(b"\n")
        buffer = lines.pop() if data else b""  # at the end of the stream, an unfinished line counts too
        for line in filter(bytes.strip, lines):
            if not self._answer(connection, line):
                return
        if not data:
            self._drop(connection)
        elif len(buffer) > MAX_LINE_BYTES:
            self._answer(connection, None)
            self._drop(connection)
        else:
            self._buffers[connection] = buffer

    def _answer(self, connection: socket.socket, line: bytes | None) -> bool:
        """Apply one line and reply; False (and the client dropped) if the client does not read replies."""
        if line is None:
            reply = _reply(False, error=f"line too long: a command is under {MAX_LINE_BYTES // 1024} KiB")
        else:
            error = apply_command(self.control, line)
            reply = _reply(True) if error is None else _reply(False, error=error)
        try:
            if connection.send(reply) == len(reply):
                return True
        except OSError:
            pass
        self._drop(connection)
        return False

    def _drop(self, connection: socket.socket) -> None:
        if self._buffers.pop(connection, None) is not None:
            self._selector.unregister(connection)
        connection.close()


def send_command(run_path: str | os.PathLike, command: str, timeout_s: float = 5.0, **options) -> dict:
    """Send one command to the run in ``run_path`` and return its reply; RunNotLive if none listens."""
    path = Path(run_path) / "control.sock"
    line = command_line(command, **options)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(timeout_s)
        try:
            with _address(path) as address:
                client.connect(address)
        except (FileNotFoundError, ConnectionRefusedError, NotADirectoryError):
            raise RunNotLive(f"{run_path} is not a live run: nothing listens on its control socket") from None
        client.sendall(line.encode() + b"\n")
        reply = b""
        while not reply.endswith(b"\n"):
            chunk = client.recv(4096)
            if not chunk:
                break
            reply += chunk
    try:
        return json.loads(reply)
    except ValueError:
        return {"ok": False, "error": "the run closed the connection without an answer"}
