"""Private PostgreSQL, Redis and nginx instances on free ports, in their own directories.

None of them uses a server already running on the machine or a default port.
"""

from __future__ import annotations

import glob
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from tryton_ops.testing.processes import (
    ManagedProcess,
    ServerStartError,
    free_port,
    port_open,
    service_user,
)

HOST = "127.0.0.1"


def find_binary(name: str, extra_globs: tuple[str, ...] = ()) -> str:
    found = shutil.which(name)
    if found:
        return found
    for pattern in extra_globs:
        matches = sorted(glob.glob(pattern), reverse=True)
        if matches:
            return matches[0]
    raise ServerStartError(f"{name} not found; install it (`make test` does, as root)")


def private_dir(prefix: str, owner: str | None = None) -> Path:
    """A fresh directory under the system temp dir, owned by `owner` when given."""
    path = Path(tempfile.mkdtemp(prefix=f"tryton-ops-{prefix}-"))
    path.chmod(0o755)
    if owner:
        shutil.chown(path, owner, owner)
    return path


class PostgresServer(ManagedProcess):
    """A private PostgreSQL cluster (initdb once, then start/stop/kill/pause at will)."""

    stop_signal = signal.SIGINT  # "fast" shutdown: SIGTERM would wait for every client

    def __init__(self, base: Path | None = None, port: int | None = None):
        user = service_user()
        self.base = base or private_dir("pg", user)
        self.port = port or free_port()
        self.data = self.base / "data"
        bindir = Path(find_binary("postgres", ("/usr/lib/postgresql/*/bin/postgres",))).parent
        self.bindir = bindir
        super().__init__(
            name="postgresql",
            argv=[
                str(bindir / "postgres"),
                "-D", str(self.data),
                "-p", str(self.port),
                "-k", str(self.base),
                "-c", f"listen_addresses={HOST}",
                "-c", "fsync=off",
                "-c", "synchronous_commit=off",
                "-c", "full_page_writes=off",
                "-c", "max_connections=300",
            ],
            ready=self._accepts_connections,
            log_path=self.base / "postgresql.log",
            user=user,
            start_timeout=60,
        )  # fmt: skip

    @property
    def uri(self) -> str:
        """trytond-style URI: no database name in the path."""
        return f"postgresql://postgres@{HOST}:{self.port}/"

    def dsn(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@{HOST}:{self.port}/{dbname}"

    def start(self) -> PostgresServer:
        if not (self.data / "PG_VERSION").exists():
            self._initdb()
        super().start()
        return self

    def _initdb(self) -> None:
        proc = subprocess.run(
            [
                str(self.bindir / "initdb"),
                "-D", str(self.data),
                "-U", "postgres",
                "--auth=trust",
                "-E", "UTF8",
                "--locale=C",
                "--no-sync",
            ],
            user=self.user,
            capture_output=True,
            text=True,
            check=False,
        )  # fmt: skip
        if proc.returncode:
            raise ServerStartError(f"initdb failed:\n{proc.stdout}\n{proc.stderr}")

    def _accepts_connections(self) -> bool:
        import psycopg

        if not port_open(HOST, self.port):
            return False
        try:
            with psycopg.connect(self.dsn(), connect_timeout=2) as conn:
                conn.execute("SELECT 1")
            return True
        except psycopg.OperationalError:
            return False

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)


class RedisServer(ManagedProcess):
    """A private Redis with no persistence; also listens on a unix socket.

    With `tls=True` it also listens with TLS on `tls_port`, with a self-signed certificate
    whose file is `ca_file` (what a client must trust).
    """

    def __init__(
        self,
        base: Path | None = None,
        port: int | None = None,
        password: str = "",
        tls: bool = False,
    ):
        self.base = base or private_dir("redis")
        self.port = port or free_port()
        self.password = password
        self.socket_path = self.base / "redis.sock"
        self.tls_port = free_port() if tls else None
        self.ca_file = self.base / "redis-cert.pem"
        argv = [
            find_binary("redis-server", ("/usr/bin/redis-server",)),
            "--port", str(self.port),
            "--bind", HOST,
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.base),
            "--unixsocket", str(self.socket_path),
            "--unixsocketperm", "700",
        ]  # fmt: skip
        if password:
            argv += ["--requirepass", password]
        if tls:
            argv += self._tls_arguments()
        super().__init__(
            name="redis", argv=argv, ready=self._pings, log_path=self.base / "redis.log"
        )

    @property
    def uri(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}{HOST}:{self.port}/0"

    @property
    def unix_uri(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"unix://{auth}{self.socket_path}"

    @property
    def tls_uri(self) -> str:
        if self.tls_port is None:
            raise RuntimeError("this Redis was started without tls=True")
        auth = f":{self.password}@" if self.password else ""
        return f"rediss://{auth}{HOST}:{self.tls_port}/0"

    def _tls_arguments(self) -> list[str]:
        from tryton_ops.deploy.certificates import write_self_signed

        key_file = self.base / "redis-key.pem"
        write_self_signed(self.ca_file, key_file, HOST)
        return [
            "--tls-port", str(self.tls_port),
            "--tls-cert-file", str(self.ca_file),
            "--tls-key-file", str(key_file),
            "--tls-ca-cert-file", str(self.ca_file),
            "--tls-auth-clients", "no",
        ]  # fmt: skip

    def client(self):
        import redis

        return redis.Redis.from_url(self.uri, socket_timeout=2)

    def _pings(self) -> bool:
        import redis

        try:
            with self.client() as client:
                return bool(client.ping())
        except redis.RedisError:
            return False

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)


NGINX_MAIN = """\
daemon off;
master_process on;
worker_processes 1;
pid {base}/nginx.pid;
error_log {base}/error.log info;
events {{ worker_connections 1024; }}
http {{
    access_log {base}/access.log;
    client_body_temp_path {base}/tmp/body;
    proxy_temp_path {base}/tmp/proxy;
    fastcgi_temp_path {base}/tmp/fastcgi;
    uwsgi_temp_path {base}/tmp/uwsgi;
    scgi_temp_path {base}/tmp/scgi;
{http}
}}
"""


class NginxServer(ManagedProcess):
    """A private nginx whose `http {}` body the test provides; `{port}` is its listen port."""

    def __init__(self, http_body: str, base: Path | None = None, port: int | None = None):
        self.base = base or private_dir("nginx")
        self.port = port or free_port()
        (self.base / "tmp").mkdir(exist_ok=True)
        self.conf = self.base / "nginx.conf"
        body = http_body.replace("{port}", str(self.port))
        self.conf.write_text(NGINX_MAIN.format(base=self.base, http=body))
        binary = find_binary("nginx", ("/usr/sbin/nginx",))
        super().__init__(
            name="nginx",
            argv=[binary, "-p", str(self.base), "-c", str(self.conf)],
            ready=lambda: port_open(HOST, self.port),
            log_path=self.base / "nginx.stderr.log",
        )

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/"

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)
