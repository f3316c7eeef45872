"""Tryton's web client, sao, served by the stack: installed from npm or taken from a directory.

npm's `tryton-sao` ships a built `dist/`, but the libraries its index.html loads (jQuery,
Bootstrap, d3, ...) are npm dependencies it expects in its own `node_modules/`. So the package
is fetched with `npm pack` and the libraries its pages name under `node_modules/` installed
beside it with `npm install` (at the versions its package.json asks for; its build tools,
grunt and less, are left out), once, into `<data>/web/sao`; nothing comes from a CDN when a
browser opens it. sao refuses a server of another series than its own ("Version mismatch"), so
the package wanted is the one of the installed trytond's series, and a sao of another series is
served only with a warning.

Rendering (trytond.conf's `[web] root`, nginx's static locations) only reads what is installed
(`web_root`); installing is `ensure_web_client`, run by `up`, `deploy render` and `deploy
install`. Without sao, a one-page placeholder tells a browser which client to use instead of
trytond's 405. `deploy install --root` looks and installs under a staged tree (`staged_under`)
while the paths rendered stay the host's.
"""

from __future__ import annotations

import contextlib
import contextvars
import html
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import time
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

from tryton_ops.config import LoadedConfig
from tryton_ops.errors import OpsError, UsageError

PACKAGE = "tryton-sao"
FETCHING = "fetching the web client from npm (tryton-sao of this trytond series) ..."
MARKER = ".tryton-ops-sao.json"
# what index.html loads first: present means sao and its dependencies are installed
REQUIRED = ("index.html", "dist/tryton-sao.js", "node_modules/jquery/dist/jquery.js")
PACK_TIMEOUT_S = 120
ABSENT_FILE = "no-sao.json"  # in the placeholder's folder: npm's "none for this series"
ABSENT_TTL_S = 24 * 3600
INSTALL_TIMEOUT_S = 600
# npm retries an unreachable registry for minutes by default: fail within seconds instead
NPM_DEFAULTS = {
    "npm_config_fetch_retries": "1",
    "npm_config_fetch_retry_mintimeout": "2000",
    "npm_config_fetch_retry_maxtimeout": "5000",
    "npm_config_fetch_timeout": "30000",
    "npm_config_update_notifier": "false",
    "npm_config_audit": "false",
    "npm_config_fund": "false",
}
NETWORK_CODES = {
    "ENOTFOUND", "ECONNREFUSED", "ETIMEDOUT", "EAI_AGAIN", "ECONNRESET", "EHOSTUNREACH",
}  # fmt: skip


# the staged tree of `deploy install --root` the host's paths are found under ("/" otherwise)
STAGED_ROOT: contextvars.ContextVar[Path] = contextvars.ContextVar("staged_root", default=Path("/"))


@contextlib.contextmanager
def staged_under(root: Path):
    """Find and install sao under `root` (a staged tree) while naming the host's paths."""
    token = STAGED_ROOT.set(root)
    try:
        yield
    finally:
        STAGED_ROOT.reset(token)


def on_disk(path: Path) -> Path:
    """Where the host's absolute `path` is on this machine (below a staged tree, if any)."""
    root = STAGED_ROOT.get()
    return path if root == Path("/") else root / path.relative_to("/")


class WebClientUnavailable(OpsError):
    """sao cannot be had (no npm, registry unreachable, none for this series)."""


class NoSaoForSeries(WebClientUnavailable):
    """npm answered that it has no sao of the series (remembered for a day)."""


class SaoDirInvalid(UsageError):
    """`web.sao_dir` does not hold a usable sao."""


@dataclass(frozen=True)
class WebClient:
    """What the stack serves at its URL: sao from `root`, or nothing, and why (`note`)."""

    root: Path | None
    version: str | None
    note: str = ""

    def describe(self) -> str:
        if self.root is None:
            return f"web client: none ({self.note})"
        line = f"web client: sao {self.version} ({self.root})"
        return f"{line}\n  warning: {self.note}" if self.note else line


def trytond_series() -> str:
    return ".".join(version("trytond").split(".")[:2])


def desktop_hint(series: str) -> str:
    return f"connect with the desktop client instead: pip install 'tryton~={series}.0'"


def installed_dir(config: LoadedConfig) -> Path:
    return config.data_dir / "web" / "sao"


def sao_version(root: Path) -> str | None:
    """The version in sao's package.json, None when it is not there."""
    try:
        return str(json.loads((root / "package.json").read_text())["version"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _complete(folder: Path) -> bool:
    """sao is all there in `folder`, a path on this machine."""
    return all((folder / name).is_file() for name in REQUIRED)


def sao_root(config: LoadedConfig) -> Path | None:
    """The sao directory trytond and nginx serve, or None: what is there, never installing."""
    web = config.settings.web
    if web.client == "none":
        return None
    if web.sao_dir is not None:
        root = web.sao_dir.expanduser().absolute()
        return root if _complete(on_disk(root)) else None
    root = installed_dir(config)
    try:
        installed = json.loads((on_disk(root) / MARKER).read_text())
    except (OSError, ValueError):
        return None
    if installed.get("series") != trytond_series() or not _complete(on_disk(root)):
        return None
    return root


def placeholder_dir(config: LoadedConfig) -> Path:
    return config.data_dir / "web" / "none"


def web_root(config: LoadedConfig) -> Path | None:
    """What trytond's `[web] root` and nginx serve: sao, else (with `client = "auto"`) the page
    `ensure_web_client` left to say there is none, else nothing (RPC only)."""
    if (root := sao_root(config)) is not None:
        return root
    page = placeholder_dir(config)
    if config.settings.web.client == "auto" and (on_disk(page) / "index.html").is_file():
        return page
    return None


PLACEHOLDER = """<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Tryton</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 3em auto; line-height: 1.5">
<h1>Tryton</h1>
<p>This Tryton server (trytond {series}) has no web client.</p>
<p>Connect with the Tryton desktop client instead:
<code>pip install "tryton~={series}.0"</code>, then this server's address and the database
<code>{database}</code>.</p>
</body>
</html>
"""


def _write_placeholder(config: LoadedConfig, series: str) -> None:
    """A page for browsers instead of trytond's 405: which client to use (not why: that is
    the operator's business, printed by `up`)."""
    page = on_disk(placeholder_dir(config))
    page.mkdir(parents=True, exist_ok=True)
    database = html.escape(config.settings.database.name)
    text = PLACEHOLDER.format(series=series, database=database)
    with contextlib.suppress(OSError):
        if (page / "index.html").read_text() == text:
            return  # unchanged: `deploy install` again rewrites nothing
    (page / "index.html").write_text(text)


def will_install(config: LoadedConfig) -> bool:
    """`ensure_web_client` will run npm (so the CLI can say so before the wait)."""
    web = config.settings.web
    missing = web.client != "none" and web.sao_dir is None and sao_root(config) is None
    if not missing or shutil.which("npm") is None:
        return False
    return known_absent(config, trytond_series()) is None


def known_absent(config: LoadedConfig, series: str) -> str | None:
    """Why there is no sao, when npm said less than a day ago that it has none of `series`."""
    memory = on_disk(placeholder_dir(config)) / ABSENT_FILE
    try:
        known = json.loads(memory.read_text())
        age = time.time() - float(known.get("at", 0))
    except (OSError, ValueError, TypeError, AttributeError):
        return None
    if known.get("series") != series or not 0 <= age < ABSENT_TTL_S:
        return None
    return f"{known.get('note')} (npm asked {age / 3600:.1f} h ago; delete {memory} to ask again)"


def mismatch(sao: str | None, series: str) -> str:
    """Why a sao of another series than trytond's will not work ('' when it matches)."""
    if sao is None or sao.startswith(f"{series}."):
        return ""
    return (
        f"sao {sao} refuses trytond {series} (its login shows 'Version mismatch: Incompatible "
        f"version of the server'); use sao {series} or {desktop_hint(series)}"
    )


def ensure_web_client(config: LoadedConfig) -> WebClient:
    """Install sao if needed; return what will be served and why.

    With `web.client = "auto"` a sao that cannot be had leaves the stack without a web client
    (the note says why); with "sao" that is an error. A bad `web.sao_dir` is always an error.
    """
    web = config.settings.web
    if web.client == "none":
        return WebClient(None, None, "web.client = 'none'")
    series = trytond_series()
    if web.sao_dir is not None:
        root = _check_sao_dir(web.sao_dir)
    else:
        try:
            root = sao_root(config) or _install_unless_known_absent(config, series)
        except WebClientUnavailable as exc:
            if web.client == "sao":
                raise WebClientUnavailable(f"web.client = 'sao' but {exc}") from None
            with contextlib.suppress(OSError):  # a nicety: RPC is served without it
                _write_placeholder(config, series)
            return WebClient(None, None, str(exc))
    found = sao_version(on_disk(root))
    return WebClient(root, found, mismatch(found, series))


def _install_unless_known_absent(config: LoadedConfig, series: str) -> Path:
    """Install sao, unless npm said less than a day ago that it has none of this series (so
    that `up` on 8.2 does not ask the registry every time)."""
    if (known := known_absent(config, series)) is not None:
        raise NoSaoForSeries(known)
    memory = on_disk(placeholder_dir(config)) / ABSENT_FILE
    try:
        install_sao(on_disk(installed_dir(config)), f"~{series}.0", series)
        return installed_dir(config)
    except NoSaoForSeries as exc:
        with contextlib.suppress(OSError):  # asked again next time
            memory.parent.mkdir(parents=True, exist_ok=True)
            memory.write_text(json.dumps({"series": series, "note": str(exc), "at": time.time()}))
        raise


def _check_sao_dir(path: Path) -> Path:
    root = path.expanduser().absolute()
    missing = [name for name in REQUIRED if not (on_disk(root) / name).is_file()]
    if missing:
        raise SaoDirInvalid(
            f"web.sao_dir {root} is not an installed sao: {', '.join(missing)} missing "
            f"(unpack npm's {PACKAGE} there and run `npm install --omit=dev "
            "--legacy-peer-deps` in it, or unset web.sao_dir to let tryton-ops install it)"
        )
    return root


def install_sao(dest: Path, spec: str, series: str) -> Path:
    """`npm pack tryton-sao@spec`, unpacked, its dependencies installed, then moved to `dest`.

    Built beside `dest` and renamed into place, so a failed or interrupted install never
    leaves a half sao that would be served.
    """
    npm = shutil.which("npm")
    if npm is None:
        raise WebClientUnavailable(
            "npm is not installed, so sao cannot be fetched: apt-get install npm, then `up` "
            "again, or set web.sao_dir"
        )
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=".sao-", dir=dest.parent))
    except OSError as exc:
        raise WebClientUnavailable(
            f"cannot install sao into {dest.parent}: {exc.strerror}; set paths.data to a "
            "directory this user can write, or web.sao_dir"
        ) from None
    try:
        packed = _npm(npm, ["pack", f"{PACKAGE}@{spec}", "--json"], work, PACK_TIMEOUT_S, series)
        tarball = work / json.loads(packed)[0]["filename"]
        with tarfile.open(tarball) as archive:
            archive.extractall(work, filter="data")
        package = work / "package"
        libraries = work / "libraries"
        libraries.mkdir()
        manifest = {"private": True, "dependencies": runtime_dependencies(package)}
        (libraries / "package.json").write_text(json.dumps(manifest))
        install = ["install", "--omit=dev", "--ignore-scripts", "--no-package-lock"]
        _npm(npm, install, libraries, INSTALL_TIMEOUT_S, series)
        (libraries / "node_modules").replace(package / "node_modules")
        if not _complete(package):
            raise WebClientUnavailable(f"npm installed {PACKAGE} without {', '.join(REQUIRED)}")
        _touch_tree(package)
        marker = {"version": sao_version(package), "series": series, "spec": spec}
        (package / MARKER).write_text(json.dumps(marker))
        if dest.exists():
            dest.replace(work / "previous")
        package.replace(dest)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return dest


def _touch_tree(root: Path) -> None:
    """npm gives every file the same fixed date (1985): with the install's date instead, an
    upgraded sao gets new ETag and Last-Modified values, so browsers fetch it again."""
    for folder, _, names in os.walk(root):
        for name in names:
            os.utime(os.path.join(folder, name))


# a package directory named in a page: node_modules/jquery/..., node_modules/@scope/name/...
LIBRARY_RE = re.compile(r"node_modules/((?:@[\w.-]+/)?[\w.-]+)/")
PAGES = ("index.html", "dist/tryton-sao.js", "dist/tryton-sao.css")


def runtime_dependencies(package: Path) -> dict[str, str]:
    """The libraries sao's pages load, with the version ranges of its package.json."""
    wanted = json.loads((package / "package.json").read_text()).get("dependencies", {})
    named: set[str] = set()
    for page in PAGES:
        with contextlib.suppress(OSError):
            named |= set(LIBRARY_RE.findall((package / page).read_text(errors="replace")))
    return {name: wanted[name] for name in sorted(named) if name in wanted}


def _npm(npm: str, args: list[str], cwd: Path, timeout: int, series: str) -> str:
    env = {**NPM_DEFAULTS, **os.environ}
    try:
        proc = subprocess.run(
            [npm, *args],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise WebClientUnavailable(
            f"`npm {args[0]}` did not finish within {timeout} s (is the registry reachable?)"
        ) from None
    if proc.returncode:
        raise _npm_failure(npm, args, proc.stderr, series)
    return proc.stdout


def _npm_failure(npm: str, args: list[str], stderr: str, series: str) -> WebClientUnavailable:
    code = re.search(r"npm (?:error|ERR!) code (\S+)", stderr)
    code = code.group(1) if code else ""
    if code in ("ETARGET", "E404"):
        return NoSaoForSeries(
            f"npm has no {PACKAGE} for trytond {series} (asked for {args[1]}), and sao "
            f"refuses a server of another series; {desktop_hint(series)}"
        )
    if code in NETWORK_CODES or "network" in stderr.lower():
        return WebClientUnavailable(
            f"the npm registry {_registry(npm)} is unreachable: {code or 'network error'}; "
            "set npm's registry (npm config set registry URL) or web.sao_dir, then `up` again"
        )
    last = [line for line in stderr.strip().splitlines() if line.strip()][-3:]
    return WebClientUnavailable(f"`npm {args[0]}` failed: " + " / ".join(last))


def _registry(npm: str) -> str:
    try:
        proc = subprocess.run(
            [npm, "config", "get", "registry"],
            env={**NPM_DEFAULTS, **os.environ},
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return "(unknown)"
    return proc.stdout.strip() or "(unknown)"
