"""A minimal PostgreSQL client (Python standard library only) for the fault suite.

Speaks the simple-query protocol to a trust-authenticated server (what scripts/start-postgres
makes). Values come back as text (None for NULL). Enough for probes and checks; not a driver.
Why not psycopg2: the suite must run where only python3 is installed.
"""
import socket
import struct
import urllib.parse


class PgError(Exception):
    """The server answered an ErrorResponse, or the connection broke."""


def quote(value) -> str:
    """A SQL literal for value (None -> NULL); standard_conforming_strings is on since PG 9.1."""
    if value is None:
        return "NULL"
    return "'" + str(value).replace("'", "''") + "'"


class Connection:
    def __init__(self, url: str, application_name: str = "rehome-faults", timeout: float = 30):
        u = urllib.parse.urlsplit(url)
        self.sock = socket.create_connection((u.hostname or "127.0.0.1", u.port or 5432), timeout=timeout)
        self.buf = b""
        params = {"user": u.username or "postgres", "database": (u.path or "/postgres")[1:] or "postgres",
                  "application_name": application_name}
        body = struct.pack("!i", 196608) + b"".join(
            k.encode() + b"\0" + v.encode() + b"\0" for k, v in params.items()) + b"\0"
        self.sock.sendall(struct.pack("!i", len(body) + 4) + body)
        while True:
            kind, payload = self._read()
            if kind == b"R" and struct.unpack("!i", payload[:4])[0] != 0:
                raise PgError("only trust authentication is supported")
            if kind == b"E":
                raise PgError(self._error(payload))
            if kind == b"Z":
                return

    def _recv(self, n: int) -> bytes:
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise PgError("connection closed by the server")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _read(self):
        head = self._recv(5)
        length = struct.unpack("!i", head[1:])[0]
        return head[:1], self._recv(length - 4)

    @staticmethod
    def _error(payload: bytes) -> str:
        fields = {}
        for part in payload.split(b"\0"):
            if part:
                fields[part[:1]] = part[1:].decode(errors="replace")
        return "%s %s" % (fields.get(b"C", "?"), fields.get(b"M", "?"))

    def query(self, sql: str):
        """Runs sql (one or more statements); returns the rows of the last result, as tuples."""
        data = sql.encode() + b"\0"
        self.sock.sendall(b"Q" + struct.pack("!i", len(data) + 4) + data)
        rows, error = [], None
        while True:
            kind, payload = self._read()
            if kind == b"T":
                rows = []
            elif kind == b"D":
                count = struct.unpack("!h", payload[:2])[0]
                pos, row = 2, []
                for _ in range(count):
                    n = struct.unpack("!i", payload[pos:pos + 4])[0]
                    pos += 4
                    if n < 0:
                        row.append(None)
                    else:
                        row.append(payload[pos:pos + n].decode())
                        pos += n
                rows.append(tuple(row))
            elif kind == b"E":
                error = self._error(payload)
            elif kind == b"Z":
                if error:
                    raise PgError(error)
                return rows

    def close(self):
        try:
            self.sock.sendall(b"X\0\0\0\4")
        except OSError:
            pass
        self.sock.close()
