"""
A throwaway PostgreSQL cluster on loopback for the distributed-tuning test.

It uses the server binaries of Debian's ``postgresql`` package (``.ci/run`` installs it) and runs as the
``postgres`` system user when the tests run as root, since PostgreSQL refuses to start as root.
"""

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server can be started on this machine (the reason is the message)."""


def server_binaries() -> Path:
    """:return: the folder holding ``initdb`` and ``pg_ctl``"""
    candidates = [shutil.which("initdb") or "", *sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)]
    for initdb in candidates:
        if initdb and (Path(initdb).parent / "pg_ctl").exists():
            return Path(initdb).resolve().parent
    raise PostgresUnavailable("no PostgreSQL server binaries (initdb, pg_ctl): install Debian's `postgresql` package")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_server_user(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    if shutil.which("runuser") is None:
        raise PostgresUnavailable("running as root without `runuser` to drop to the `postgres` user")
    return ["runuser", "-u", "postgres", "--", *command]


def _run(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    if result.returncode != 0:
        raise PostgresUnavailable(f"`{' '.join(command)}` failed: {result.stdout[-1000:]} {result.stderr[-1000:]}")


@contextmanager
def throwaway_cluster() -> Iterator[str]:
    """
    Start a fresh cluster (trust authentication, loopback only, no fsync) and stop and delete it afterwards.

    :return: an SQLAlchemy URL for the ``postgres`` database, psycopg 3 driver
    """
    binaries = server_binaries()
    root = Path(tempfile.mkdtemp(prefix="sb3-maxent-pg-"))
    try:
        if os.geteuid() == 0:
            shutil.chown(root, user="postgres")
        data, log, port = root / "data", root / "server.log", _free_port()
        _run(_as_server_user([str(binaries / "initdb"), "-D", str(data), "-A", "trust", "-U", "optuna", "--no-sync"]))
        options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50"
        pg_ctl = [str(binaries / "pg_ctl"), "-D", str(data)]
        _run(_as_server_user([*pg_ctl, "-l", str(log), "-w", "-t", "60", "-o", options, "start"]))
        try:
            yield f"postgresql+psycopg://optuna@127.0.0.1:{port}/postgres"
        finally:
            subprocess.run(_as_server_user([*pg_ctl, "-m", "immediate", "stop"]), capture_output=True, check=False)
    finally:
        shutil.rmtree(root, ignore_errors=True)
