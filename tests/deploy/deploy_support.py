"""What the deploy tests run for real: the hub as its systemd unit starts it, and nginx with the shipped site.

The unit's command line is taken from `deploy/lianfu-hub.service` itself (only the install path of the venv and
the state directory are mapped to the test's), and the nginx site is `deploy/nginx/lianfu-hub.conf` with its
documented placeholders filled in (certificate, name, ports, hub hosts), so what is tested is what is shipped.
"""
from __future__ import annotations

import contextlib
import datetime
import ipaddress
import os
import pwd
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from live_hub import HubStartError, free_port

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SITE = DEPLOY / "nginx" / "lianfu-hub.conf"
SPOKE_SITE = DEPLOY / "nginx" / "lianfu-spoke.conf"
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
CURL = shutil.which("curl")

# The install path the units name, and the command that stands for it here: this interpreter running our CLI.
UNIT_LIANFU = "/opt/lianfu/venv/bin/lianfu"
LIANFU = [sys.executable, "-m", "common.cli_entry"]

# Confines a command as the units do (tests/deploy/hardened_exec.py).
HARDENED_EXEC = Path(__file__).resolve().parent / "hardened_exec.py"
MDWE_PROBE = """
import mmap
try:
    mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
except OSError:
    print("refused")
else:
    print("allowed")
"""


def mdwe_supported() -> bool:
    """Whether this kernel refuses writable and executable memory to a process that asks it to."""
    probe = subprocess.run([sys.executable, str(HARDENED_EXEC), "--mdwe", sys.executable, "-c", MDWE_PROBE],
                           capture_output=True, text=True, timeout=60)
    return probe.returncode == 0 and probe.stdout.strip() == "refused"


def _syscall_sets() -> dict[str, list[str]]:
    """systemd's named system call sets (`systemd-analyze syscall-filter`), each with its members."""
    assert SYSTEMD_ANALYZE is not None
    listing = subprocess.run([SYSTEMD_ANALYZE, "syscall-filter"], capture_output=True, text=True, timeout=60, check=True)
    sets: dict[str, list[str]] = {}
    current = None
    for line in listing.stdout.splitlines():
        entry = line.strip()
        if line.startswith("@"):
            current = entry
            sets[current] = []
        elif current and entry and not entry.startswith("#"):
            sets[current].append(entry)
    return sets


def _expand(name: str, sets: dict[str, list[str]]) -> set[str]:
    if not name.startswith("@"):
        return {name}
    calls: set[str] = set()
    for member in sets[name]:
        calls |= _expand(member, sets)
    return calls


def unit_syscalls(unit: Path) -> set[str] | None:
    """The system calls a unit's SystemCallFilter= lines allow, as systemd reads them: the first line an allow-list
    (with @default, which systemd always adds), each `~` line taken out of it. None without systemd-analyze."""
    if SYSTEMD_ANALYZE is None:
        return None
    sets = _syscall_sets()
    allowed: set[str] = set(_expand("@default", sets))
    for line in unit_settings(unit)["SystemCallFilter"]:
        names = line.lstrip("~").split()
        calls = set().union(*(_expand(name, sets) for name in names))
        if line.startswith("~"):
            allowed -= calls
        else:
            allowed |= calls
    return allowed


def seccomp_supported() -> bool:
    """Whether a seccomp filter can be loaded here (libseccomp and its Python binding, a kernel with seccomp)."""
    probe = subprocess.run([sys.executable, "-c", "import pyseccomp, errno; "
                            "f = pyseccomp.SyscallFilter(defaction=pyseccomp.ALLOW); f.load(); print('loaded')"],
                           capture_output=True, text=True, timeout=60)
    return probe.returncode == 0 and probe.stdout.strip() == "loaded"


def unit_settings(path: Path) -> dict[str, list[str]]:
    """The `[Service]` section of a unit: each key with its values in order (a key may repeat)."""
    values: dict[str, list[str]] = {}
    section = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        if section == "Service":
            key, _, value = line.partition("=")
            values.setdefault(key.strip(), []).append(value.strip())
    return values


def exec_start(path: Path, instance: str = "") -> list[str]:
    """The unit's ExecStart as an argument list, `%i` filled in."""
    (line,) = unit_settings(path)["ExecStart"]
    return shlex.split(line.replace("%i", instance))


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines as systemd's EnvironmentFile= reads them (comments and blank lines skipped)."""
    values = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise ValueError(f"{path.name}: not KEY=VALUE: {raw!r}")
        values[key.strip()] = value.strip()
    return values


# --- a certificate for the test's nginx ------------------------------------------------------------------------------

def self_signed(directory: Path) -> tuple[Path, Path]:
    """A throwaway certificate for localhost and 127.0.0.1 and its key, written as PEM files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                    x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "fullchain.pem", directory / "privkey.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return cert_path, key_path


# --- the site, filled in --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Site:
    prefix: Path
    conf: Path
    cert: Path
    http_port: int
    https_port: int


def filled_in(site: Path, directory: Path, cert: Path, key: Path, http_port: int, https_port: int,
              upstreams: dict[str, int]) -> str:
    """A shipped site's text with its documented placeholders replaced (each must still be there)."""
    text = site.read_text(encoding="utf-8")
    name = "lianfu.example.cn" if site == SITE else "sc-nantong.example.cn"
    replacements = {
        "/etc/lianfu/tls/fullchain.pem": str(cert), "/etc/lianfu/tls/privkey.pem": str(key),
        f"server_name {name};": "server_name localhost;",
        "listen 80;": f"listen 127.0.0.1:{http_port};", "listen [::]:80;": "",
        "listen 443 ssl http2;": f"listen 127.0.0.1:{https_port} ssl http2;", "listen [::]:443 ssl http2;": "",
        **{f"server {address}": f"server 127.0.0.1:{port}" for address, port in upstreams.items()},
    }
    for placeholder, value in replacements.items():
        if placeholder not in text:
            raise AssertionError(f"{site.name} no longer holds the placeholder {placeholder!r}")
        text = text.replace(placeholder, value)
    return text


def site_for(directory: Path, hub_ports: tuple[int, int], http_port: int = 0, https_port: int = 0,
             spoke_port: int = 0) -> Site:
    """The shipped hub site with its placeholders replaced, inside a minimal nginx.conf of a temporary prefix;
    with `spoke_port`, the spoke site beside it on two more ports (both enabled on one nginx)."""
    cert, key = self_signed(directory)
    http_port, https_port = http_port or free_port(), https_port or free_port()
    text = filled_in(SITE, directory, cert, key, http_port, https_port,
                     {"10.0.0.11:8600": hub_ports[0], "10.0.0.12:8600": hub_ports[1]})
    if spoke_port:
        text += filled_in(SPOKE_SITE, directory, cert, key, free_port(), free_port(), {"127.0.0.1:8601": spoke_port})
    (directory / "site.conf").write_text(text, encoding="utf-8")
    # As root nginx would hand its workers to `nobody`, who cannot read this private directory: keep them ours.
    user = f"user {pwd.getpwuid(os.geteuid()).pw_name};\n" if os.geteuid() == 0 else ""
    temp = " ".join(f"{kind}_temp_path {directory / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    conf = directory / "nginx.conf"
    conf.write_text(f"{user}pid {directory / 'nginx.pid'};\nerror_log {directory / 'error.log'} warn;\n"
                    f"worker_processes 1;\nevents {{ worker_connections 256; }}\n"
                    f"http {{\n  access_log {directory / 'access.log'};\n  {temp}\n  include {directory / 'site.conf'};\n}}\n",
                    encoding="utf-8")
    return Site(directory, conf, cert, http_port, https_port)


def nginx_test(site: Site) -> subprocess.CompletedProcess[str]:
    """`nginx -t` on the site inside its minimal nginx.conf."""
    assert NGINX is not None
    return subprocess.run([NGINX, "-t", *_startup_args(site.prefix), "-c", str(site.conf)], capture_output=True,
                          text=True, timeout=60)


def _startup_args(prefix: Path) -> list[str]:
    """The prefix, and the error log nginx writes before it has read its configuration (by default one under
    /var/log that only root may open)."""
    return ["-p", str(prefix), "-e", str(prefix / "startup.log")]


def _listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        return True
    return False


@contextlib.contextmanager
def running_nginx(site: Site, timeout: float = 30) -> Iterator[Site]:
    """nginx in the foreground on the site's ports, stopped (SIGQUIT, then SIGKILL) on exit."""
    assert NGINX is not None
    log = open(site.prefix / "nginx.out", "wb")
    process = subprocess.Popen([NGINX, *_startup_args(site.prefix), "-c", str(site.conf), "-g", "daemon off;"],
                               stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + timeout
        while not (_listening(site.https_port) and _listening(site.http_port)):
            if process.poll() is not None or time.monotonic() > deadline:
                error_log = site.prefix / "error.log"
                raise HubStartError(f"nginx did not start ({process.poll()}):\n"
                                    f"{(site.prefix / 'nginx.out').read_text(errors='replace')}"
                                    f"{error_log.read_text(errors='replace') if error_log.exists() else ''}")
            time.sleep(0.1)
        yield site
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGQUIT)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=15)
        log.close()


# --- the hub as its unit runs it ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class UnitHub:
    port: int
    data_dir: Path
    under_mdwe: bool
    syscalls_filtered: bool
    log: Path
    db_url: str


def _healthy(port: int) -> bool:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
            return answer.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False


@contextlib.contextmanager
def hub_as_unit(state_root: Path, environment: dict[str, str], mdwe: bool, syscalls: set[str] | None,
                timeout: float = 90) -> Iterator[UnitHub]:
    """Seed a demo hub, then run the hub unit's own ExecStart (venv and state directory mapped to this test's),
    with `environment` as its EnvironmentFile would give it; under PR_SET_MDWE when `mdwe`, and allowed only the
    system calls `syscalls` when given."""
    argv = exec_start(DEPLOY / "lianfu-hub.service")
    assert argv[0] == UNIT_LIANFU, argv
    data_dir = state_root / "hub"
    data_dir.mkdir(parents=True)
    args = [arg.replace("/var/lib/lianfu", str(state_root)) for arg in argv[1:]]
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("LIANFU_")}
    env.update(environment)
    env.update({"LIANFU_DATA_DIR": str(data_dir), "LIANFU_HOST": "127.0.0.1", "LIANFU_PORT": str(port),
                "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1"})
    seeded = subprocess.run([*LIANFU, "hub", "seed-demo", "--enterprises", "3"], cwd=ROOT, env=env,
                            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)
    if seeded.returncode != 0:
        raise HubStartError(f"seed-demo exited with {seeded.returncode}:\n{seeded.stdout}\n{seeded.stderr}")
    confinement = ["--mdwe"] if mdwe else []
    if syscalls is not None:
        allowed = state_root / "syscalls.txt"
        allowed.write_text("\n".join(sorted(syscalls)) + "\n", encoding="utf-8")
        confinement += ["--syscalls", str(allowed)]
    command = [sys.executable, str(HARDENED_EXEC), *confinement, *LIANFU, *args]
    log_path = state_root / "hub.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                   stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + timeout
        while not _healthy(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise HubStartError(f"the hub unit's command {args} did not come up ({process.poll()}):\n"
                                    f"{log_path.read_text(errors='replace')[-4000:]}")
            time.sleep(0.2)
        yield UnitHub(port, data_dir, mdwe, syscalls is not None, log_path,
                      env.get("LIANFU_DB") or f"sqlite:///{data_dir / 'lianfu.db'}")
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=20)
