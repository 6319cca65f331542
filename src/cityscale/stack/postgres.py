"""A private PostgreSQL cluster (primary or streaming replica) in a directory of its own.

Layout of a cluster directory (`base`):

    base/cluster.json   port, superuser, password, role (mode 0600: it holds the password)
    base/data/          the data directory (owned by the `postgres` user when we run as root)
    base/postgres.log   the server log

`initdb` refuses to run as root, so as root every server binary runs as the `postgres` system user
(`runuser -u postgres --`) and the directory is handed to that user. The server listens on 127.0.0.1
only, with no Unix socket (socket paths are limited to 107 bytes, too short for deep temp dirs), and
requires a password (scram-sha-256) even on loopback: other local users share this machine.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import quote

from cityscale.stack.binaries import postgres_bin_dir
from cityscale.stack.ports import free_port

SUPERUSER = "cityscale"
SYSTEM_USER = "postgres"
Role = Literal["primary", "replica"]


class PostgresError(RuntimeError):
    """A cluster could not be created, started or stopped; the message says why and where the log is."""


@dataclass(frozen=True)
class ClusterState:
    port: int
    password: str
    role: Role
    superuser: str = SUPERUSER

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.__dict__, indent=2) + "\n")
        path.chmod(0o600)

    @classmethod
    def load(cls, path: Path) -> ClusterState:
        return cls(**json.loads(path.read_text()))


class PostgresCluster:
    """One PostgreSQL server: create it once, then start, stop and connect to it any number of times."""

    def __init__(self, base: Path, *, bin_dir: Path | None = None) -> None:
        self.base = base.resolve()
        self.data_dir = self.base / "data"
        self.log_file = self.base / "postgres.log"
        self._state_file = self.base / "cluster.json"
        self._bin_dir = bin_dir
        self._run_as = SYSTEM_USER if os.geteuid() == 0 else None

    # -- facts ---------------------------------------------------------------------------------

    @property
    def exists(self) -> bool:
        return self._state_file.exists() and (self.data_dir / "PG_VERSION").exists()

    @property
    def state(self) -> ClusterState:
        try:
            return ClusterState.load(self._state_file)
        except FileNotFoundError:
            raise PostgresError(f"no cluster in {self.base} (create it first)") from None

    @property
    def port(self) -> int:
        return self.state.port

    def url(self, dbname: str = "cityscale", *, user: str | None = None) -> str:
        state = self.state
        user = user or state.superuser
        return f"postgresql://{quote(user)}:{quote(state.password, safe='')}@127.0.0.1:{state.port}/{quote(dbname)}"

    @property
    def pid(self) -> int | None:
        """The postmaster's pid while it runs (from postmaster.pid), else None."""
        try:
            first_line = (self.data_dir / "postmaster.pid").read_text().splitlines()[0]
            pid = int(first_line)
        except (FileNotFoundError, IndexError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return pid
        return pid

    def is_running(self) -> bool:
        if not self.data_dir.exists():
            return False
        result = self._run(["pg_ctl", "status", "-D", str(self.data_dir)], check=False)
        return result.returncode == 0

    # -- creation ------------------------------------------------------------------------------

    def create_primary(self, *, port: int | None = None, durable: bool = True, max_connections: int = 200) -> None:
        """initdb a new primary, configured for streaming replication."""
        if self.exists:
            raise PostgresError(f"a cluster already exists in {self.base}")
        self._prepare_base()
        password = secrets.token_urlsafe(24)
        pwfile = self.base / ".initdb-password"
        pwfile.write_text(password + "\n")
        self._hand_over(pwfile)
        try:
            self._run(
                [
                    "initdb",
                    "-D",
                    str(self.data_dir),
                    "-U",
                    SUPERUSER,
                    f"--pwfile={pwfile}",
                    "--auth-host=scram-sha-256",
                    "--auth-local=scram-sha-256",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                    *([] if durable else ["--no-sync"]),
                ]
            )
        finally:
            pwfile.unlink(missing_ok=True)
        with (self.data_dir / "pg_hba.conf").open("a") as hba:
            hba.write("\n# cityscale: streaming replicas connect over loopback with the superuser's password\n")
            hba.write("host replication all 127.0.0.1/32 scram-sha-256\n")
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write("\ninclude_if_exists = 'cityscale.conf'\n")
        state = ClusterState(port=port or free_port(), password=password, role="primary")
        self._write_settings(state.port, durable=durable, max_connections=max_connections)
        state.save(self._state_file)

    def create_replica_of(self, primary: PostgresCluster, *, port: int | None = None, durable: bool = True) -> None:
        """A streaming replica made with `pg_basebackup -R -X stream` from a running primary."""
        if self.exists:
            raise PostgresError(f"a cluster already exists in {self.base}")
        self._prepare_base()
        source = primary.state
        conninfo = f"host=127.0.0.1 port={source.port} user={source.superuser} password={source.password}"
        self._run(
            [
                "pg_basebackup",
                "-d",
                conninfo,
                "-D",
                str(self.data_dir),
                "-R",
                "-X",
                "stream",
                "--checkpoint=fast",
                *([] if durable else ["--no-sync"]),
            ],
            timeout=300,
        )
        state = ClusterState(port=port or free_port(), password=source.password, role="replica")
        self._write_settings(state.port, durable=durable, max_connections=self._primary_max_connections(primary))
        state.save(self._state_file)

    def follow(self, primary: PostgresCluster) -> None:
        """Point a stopped replica at `primary`'s current port (after the primary moved to another one).

        `pg_basebackup -R` wrote `primary_conninfo` into postgresql.auto.conf, which PostgreSQL reads
        last, so that is the line to replace.
        """
        source = primary.state
        conninfo = f"host=127.0.0.1 port={source.port} user={source.superuser} password={source.password}"
        auto_conf = self.data_dir / "postgresql.auto.conf"
        kept = [line for line in auto_conf.read_text().splitlines() if not line.startswith("primary_conninfo")]
        escaped = conninfo.replace("'", "''")
        auto_conf.write_text("\n".join([*kept, f"primary_conninfo = '{escaped}'"]) + "\n")

    def _primary_max_connections(self, primary: PostgresCluster) -> int:
        # A hot standby refuses to start with max_connections below its primary's.
        for line in (primary.data_dir / "cityscale.conf").read_text().splitlines():
            if line.startswith("max_connections"):
                return int(line.split("=")[1])
        return 200

    def _write_settings(self, port: int, *, durable: bool, max_connections: int) -> None:
        lines = [
            "# written by cityscale; edit freely, it is rewritten only when the port changes",
            "listen_addresses = '127.0.0.1'",
            f"port = {port}",
            "unix_socket_directories = ''",
            f"max_connections = {max_connections}",
            "wal_level = replica",
            "max_wal_senders = 10",
            "wal_keep_size = '256MB'",
            "hot_standby = on",
            "hot_standby_feedback = on",
            "shared_buffers = '128MB'",
            "log_min_messages = warning",
            "log_line_prefix = '%m [%p] %q%u@%d '",
        ]
        if (self._bin_dir_or_find().parent / "lib" / "pg_stat_statements.so").exists():
            # Per-query statistics: what the doctor and the benchmarks read to see who does what.
            lines += ["shared_preload_libraries = 'pg_stat_statements'", "pg_stat_statements.track = top"]
        if not durable:
            # Test clusters only: losing them on a crash costs nothing, and fsync dominates their run time.
            lines += ["fsync = off", "synchronous_commit = off", "full_page_writes = off"]
        path = self.data_dir / "cityscale.conf"
        path.write_text("\n".join(lines) + "\n")
        self._hand_over(path)

    def set_port(self, port: int) -> None:
        """Move a stopped cluster to another port (when its old one was taken meanwhile)."""
        conf = self.data_dir / "cityscale.conf"
        text = "\n".join(
            f"port = {port}" if line.startswith("port =") else line for line in conf.read_text().splitlines()
        )
        conf.write_text(text + "\n")
        state = self.state
        ClusterState(port=port, password=state.password, role=state.role, superuser=state.superuser).save(
            self._state_file
        )

    def _prepare_base(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        self.base.chmod(0o700)
        if self._run_as:
            self._ensure_traversable(self.base.parent)
            self._hand_over(self.base)

    def _ensure_traversable(self, path: Path) -> None:
        """The `postgres` user must be able to walk down to the cluster directory."""
        for parent in [path, *path.parents]:
            if parent.stat().st_mode & 0o001 == 0:
                raise PostgresError(
                    f"{parent} is not searchable by other users, so the '{SYSTEM_USER}' user cannot reach "
                    f"{self.base}; choose a data directory elsewhere or run: chmod o+x {parent}"
                )

    def _hand_over(self, path: Path) -> None:
        if self._run_as:
            user = pwd.getpwnam(self._run_as)
            os.chown(path, user.pw_uid, user.pw_gid)

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self, *, timeout: float = 60) -> None:
        """Start the server and wait until it accepts connections."""
        if self.is_running():
            return
        if self._run_as and self.log_file.exists():
            self._hand_over(self.log_file)
        elif self._run_as:
            self.log_file.touch()
            self._hand_over(self.log_file)
        result = self._run(
            ["pg_ctl", "start", "-D", str(self.data_dir), "-l", str(self.log_file), "-w", "-t", str(int(timeout))],
            check=False,
            timeout=timeout + 10,
        )
        if result.returncode != 0:
            raise PostgresError(
                f"PostgreSQL in {self.data_dir} did not start: {result.stderr.strip() or result.stdout.strip()}; "
                f"last log lines:\n{self.log_tail()}"
            )

    def stop(self, *, mode: Literal["smart", "fast", "immediate"] = "fast", timeout: float = 60) -> None:
        """Stop the server; `fast` rolls back open transactions and disconnects clients, then checkpoints."""
        if not self.is_running():
            return
        self._run(
            ["pg_ctl", "stop", "-D", str(self.data_dir), "-m", mode, "-w", "-t", str(int(timeout))],
            check=False,
            timeout=timeout + 10,
        )

    def pause(self) -> None:
        """SIGSTOP the postmaster: it keeps accepting TCP connections and never answers (a blackhole)."""
        pid = self.pid
        if pid is not None:
            os.kill(pid, signal.SIGSTOP)

    def resume(self) -> None:
        pid = self.pid
        if pid is not None:
            os.kill(pid, signal.SIGCONT)

    def destroy(self) -> None:
        self.stop(mode="immediate")
        shutil.rmtree(self.base, ignore_errors=True)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    def wait_until_accepting(self, *, timeout: float = 30) -> None:
        """Wait until the server answers (pg_isready), e.g. a replica still replaying at start-up."""
        deadline = time.monotonic() + timeout
        while True:
            result = self._run(
                ["pg_isready", "-h", "127.0.0.1", "-p", str(self.port), "-t", "2"], check=False, timeout=10
            )
            if result.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise PostgresError(f"PostgreSQL on port {self.port} not ready after {timeout:g} s")
            time.sleep(0.1)

    # -- running binaries ----------------------------------------------------------------------

    def _bin_dir_or_find(self) -> Path:
        if self._bin_dir is None:
            self._bin_dir = postgres_bin_dir()
        return self._bin_dir

    def _binary(self, name: str) -> str:
        return str(self._bin_dir_or_find() / name)

    def _run(self, argv: list[str], *, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        command = [self._binary(argv[0]), *argv[1:]]
        if self._run_as:
            command = ["runuser", "-u", self._run_as, "--", *command]
        # A session of its own: the postmaster that `pg_ctl start` leaves behind must not receive the
        # terminal's Ctrl-C; its owner (`cityscale up`, a test) stops it in order.
        with subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            cwd="/",
            start_new_session=True,
        ) as process:
            try:
                stdout, stderr = process.communicate(timeout=timeout)
            except BaseException:
                # Interrupted (Ctrl-C, a timeout): end the whole group, so that no pg_basebackup keeps
                # writing behind `runuser`'s back.
                _end_group(process)
                raise
        result = subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
        if check and result.returncode != 0:
            raise PostgresError(f"{argv[0]} failed ({result.returncode}): {(result.stderr or '').strip()}")
        return result


def _end_group(process: subprocess.Popen[str], grace: float = 10) -> None:
    """SIGTERM a command's process group (a postmaster among it shuts down cleanly), SIGKILL what stays."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
