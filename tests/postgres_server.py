"""A real, throw-away PostgreSQL server for the tests: Debian's binaries, a cluster in a temporary
folder, a Unix socket only (no TCP port to collide with), stopped and removed at the end.

PostgreSQL refuses to run as root, so under root the cluster belongs to the ``postgres`` system
user that Debian's package creates and its commands run through ``runuser``. ``make test``
installs the package (the Makefile's ``postgresql`` rule); when the server cannot start the
fixture fails with the reason: the database test is never skipped.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


class PostgresUnavailable(RuntimeError):
    """The test server could not be started (the message says why and what to install)."""


def _bindir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(p.split("/")[4]))
    if not found:
        raise PostgresUnavailable(
            "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin: run `make test` "
            "(it installs Debian's postgresql package) or `apt-get install postgresql`"
        )
    return Path(found[-1]).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """Start with :meth:`start`, connect with :attr:`url`, stop with :meth:`stop`."""

    def __init__(self):
        self.bindir = _bindir()
        self.root = Path(tempfile.mkdtemp(prefix="endoimmune_pg_", dir="/tmp"))
        self.data = self.root / "data"
        self.socket_dir = self.root / "socket"
        self.port = _free_port()
        self.user = None
        if os.geteuid() == 0:
            try:
                self.user = pwd.getpwnam("postgres")
            except KeyError as exc:
                raise PostgresUnavailable("running as root and no 'postgres' system user to own the cluster") from exc
            os.chown(self.root, self.user.pw_uid, self.user.pw_gid)
        self.socket_dir.mkdir()
        if self.user:
            os.chown(self.socket_dir, self.user.pw_uid, self.user.pw_gid)
        self.superuser = self.user.pw_name if self.user else pwd.getpwuid(os.geteuid()).pw_name

    def _run(self, *args: str) -> subprocess.CompletedProcess:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self.user:
            cmd = ["runuser", "-u", self.user.pw_name, "--", *cmd]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if res.returncode != 0:
            log = (self.root / "server.log").read_text() if (self.root / "server.log").exists() else ""
            raise PostgresUnavailable(
                f"`{' '.join(cmd)}` failed ({res.returncode}):\n{res.stdout}\n{res.stderr}\n{log[-2000:]}"
            )
        return res

    def start(self) -> PostgresServer:
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", self.superuser, "--no-sync", "-E", "UTF8")
        options = f"-k {self.socket_dir} -p {self.port} -c listen_addresses='' -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"), "-o", options, "-w", "start")
        self._run("createdb", "-h", str(self.socket_dir), "-p", str(self.port), "-U", self.superuser, "clinic")
        return self

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the ``clinic`` database over the Unix socket."""
        return f"postgresql+psycopg://{self.superuser}@/clinic?host={self.socket_dir}&port={self.port}"

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "stop")
        except PostgresUnavailable:
            pass
        shutil.rmtree(self.root, ignore_errors=True)
