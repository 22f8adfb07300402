"""Real parts for the remote-host tests: Debian's prometheus-node-exporter, gptoss-top agents and
an sshd, each on a free loopback port, started and stopped here (by PID)."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from backends.servers.llamaserver import free_port

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
TOKEN_ENV = "GPTOSS_TOP_AGENT_TOKEN"


def need(binary: str, package: str) -> str:
    found = shutil.which(binary) or (f"/usr/sbin/{binary}" if Path(f"/usr/sbin/{binary}").exists() else None)
    if found is None:
        pytest.fail(f"{binary} is missing: scripts/setup.sh installs Debian's {package}")
    return found


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, headers: dict[str, str] | None = None) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited {proc.returncode}:\n{log.read_text(errors='replace')[-2000:]}")
        try:
            httpx.get(url, timeout=1.0, headers=headers)
            return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer in 20 s")


@dataclass
class NodeExporter:
    url: str
    proc: subprocess.Popen[bytes]


@pytest.fixture(scope="session")
def node_exporter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeExporter]:
    """prometheus-node-exporter with only the meminfo and pressure collectors, on loopback."""
    binary = need("prometheus-node-exporter", "prometheus-node-exporter")
    port = free_port()
    log = tmp_path_factory.mktemp("node-exporter") / "log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [binary, f"--web.listen-address=127.0.0.1:{port}", "--collector.disable-defaults",
             "--collector.meminfo", "--collector.pressure"],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/metrics", proc, log)
        yield NodeExporter(url, proc)
    finally:
        stop(proc)


@dataclass
class Agent:
    url: str
    proc: subprocess.Popen[bytes]
    log: Path
    token: str | None

    @property
    def source(self) -> str:
        return f"agent+{self.url}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def start_agent(tmp: Path, token: str | None = None, args: tuple[str, ...] = ()) -> Agent:
    """`gptoss-top agent --port 0`: the port comes from the line it prints."""
    env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
    if token is not None:
        env[TOKEN_ENV] = token
    log = Path(tempfile.mkstemp(prefix="agent-", suffix=".log", dir=tmp)[1])
    with log.open("wb") as out:
        proc = subprocess.Popen([str(VENV_BIN / "gptoss-top"), "agent", "--port", "0", "--interval", "0.5", *args],
                                stdout=out, stderr=subprocess.STDOUT, env=env)  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        m = re.search(r"serving (http://127\.0\.0\.1:\d+)/metrics", log.read_text(errors="replace"))
        if m:
            return Agent(m.group(1), proc, log, token)
        if proc.poll() is not None:
            raise RuntimeError(f"agent exited {proc.returncode}:\n{log.read_text(errors='replace')}")
        time.sleep(0.05)
    stop(proc)
    raise RuntimeError("the agent did not start in 30 s")


@pytest.fixture
def agents(tmp_path: Path) -> Iterator[Callable[..., Agent]]:
    """A factory: each call starts one more agent; all are stopped at the end of the test."""
    started: list[Agent] = []

    def make(token: str | None = None, args: tuple[str, ...] = ()) -> Agent:
        a = start_agent(tmp_path, token, args)
        started.append(a)
        return a

    yield make
    for a in started:
        stop(a.proc)


@dataclass
class Sshd:
    port: int
    user: str
    options: str  # what GPTOSS_TOP_SSH_OPTIONS must hold to reach it
    root: Path
    proc: subprocess.Popen[bytes] | None = None
    env_path: list[str] = field(default_factory=list)

    def source(self, query: str = "") -> str:
        return f"ssh://{self.user}@127.0.0.1:{self.port}{query}"

    def ssh_argv(self) -> list[str]:
        return ["ssh", *self.options.split(), "-p", str(self.port), f"{self.user}@127.0.0.1"]


def start_sshd(root: Path, path_dirs: list[str], env: dict[str, str] | None = None) -> Sshd:
    """sshd -D on a loopback port, a throwaway host key and client key, PATH fixed for the session."""
    sshd = need("sshd", "openssh-server")
    keygen = need("ssh-keygen", "openssh-client")
    root.mkdir(parents=True, exist_ok=True)
    for name in ("host_key", "client_key"):
        subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-f", str(root / name)], check=True)
    (root / "authorized_keys").write_text((root / "client_key.pub").read_text())
    os.chmod(root / "authorized_keys", 0o600)
    with contextlib.suppress(OSError):  # sshd's privilege separation directory (as root; a user's sshd skips it)
        Path("/run/sshd").mkdir(exist_ok=True)
    port = free_port()
    path = ":".join([*path_dirs, "/usr/local/bin", "/usr/bin", "/bin"])
    more = "".join(f" {k}={v}" for k, v in (env or {}).items())
    config = root / "sshd_config"
    config.write_text(
        f"ListenAddress 127.0.0.1\nHostKey {root / 'host_key'}\nAuthorizedKeysFile {root / 'authorized_keys'}\n"
        f"PidFile {root / 'sshd.pid'}\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n"
        f"PermitRootLogin prohibit-password\nStrictModes no\nSetEnv PATH={path} "
        f"GPTOSS_TOP_DATA_DIR={root / 'data'} GPTOSS_TOP_CACHE_DIR={root / 'cache'}{more}\n"
        "PrintMotd no\nLogLevel ERROR\n"
    )
    log = root / "sshd.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sshd, "-D", "-e", "-f", str(config), "-p", str(port)], stdout=out,
                                stderr=subprocess.STDOUT)  # fmt: skip
    options = (f"-F /dev/null -i {root / 'client_key'} -o IdentitiesOnly=yes -o UserKnownHostsFile=/dev/null "
               "-o StrictHostKeyChecking=no -o LogLevel=ERROR")  # fmt: skip
    s = Sshd(port, os.environ.get("USER") or "root", options, root, proc, path_dirs)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"sshd exited {proc.returncode}:\n{log.read_text(errors='replace')}")
        done = subprocess.run([*s.ssh_argv(), "-o", "BatchMode=yes", "true"], capture_output=True, timeout=10)
        if done.returncode == 0:
            return s
        time.sleep(0.1)
    stop(proc)
    raise RuntimeError(f"sshd did not accept the key in 20 s:\n{log.read_text(errors='replace')}")


@pytest.fixture
def sshd_factory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Sshd]]:
    started: list[Sshd] = []

    def make(path_dirs: list[str], env: dict[str, str] | None = None) -> Sshd:
        s = start_sshd(tmp_path / f"sshd{len(started)}", path_dirs, env)
        started.append(s)
        monkeypatch.setenv("GPTOSS_TOP_SSH_OPTIONS", s.options)
        return s

    yield make
    for s in started:
        if s.proc is not None:
            stop(s.proc)


class Canned:
    """A loopback HTTP server answering every GET with one body, after `delay_s` (a slow host)."""

    def __init__(self, body: str, status: int = 200, delay_s: float = 0.0,
                 ctype: str = "text/plain; version=0.0.4") -> None:  # fmt: skip
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        canned = self
        self.body, self.status, self.delay_s, self.hits = body, status, delay_s, 0

        class H(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                canned.hits += 1
                time.sleep(canned.delay_s)
                data = canned.body.encode()
                self.send_response(canned.status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except OSError:
                    pass  # the client gave up waiting

        class S(ThreadingHTTPServer):
            daemon_threads = True

        self._server = S(("127.0.0.1", 0), H)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def canned() -> Iterator[Callable[..., Canned]]:
    made: list[Canned] = []

    def make(body: str, status: int = 200, delay_s: float = 0.0, ctype: str = "text/plain; version=0.0.4") -> Canned:
        c = Canned(body, status, delay_s, ctype)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()
