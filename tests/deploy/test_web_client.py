"""The web client (sao) served by the stack, driven in a real browser (Debian's chromium).

sao 8.0 works against trytond 8.0; against 8.2 it stops at "Version mismatch" (npm has no sao
8.2), which the 8.2 run checks in the browser. Screenshots go to docs/img/ when
UPDATE_SCREENSHOTS=1, else to the test's temporary directory.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect, sync_playwright

from tests.capacity.sao_tasks import CHROMIUM
from tests.deploy.test_up_down import cli, write_config
from tryton_ops.config import load_config, render_trytond_conf
from tryton_ops.deploy.nginx_conf import render_nginx_conf
from tryton_ops.deploy.web_client import (
    MARKER,
    WebClientUnavailable,
    ensure_web_client,
    install_sao,
    sao_root,
    trytond_series,
)
from tryton_ops.testing.databases import derive, make_config
from tryton_ops.testing.processes import free_port

SERIES = trytond_series()
SAO_WORKS = SERIES == "8.0"  # the only series npm has a sao of (besides 7.0)
DOCS_IMG = Path(__file__).parents[2] / "docs" / "img"
RPC = {"Content-Type": "application/json"}


@pytest.fixture(scope="session")
def sao() -> Iterator[Path]:
    """sao 8.0 installed once from the npm registry: through `ensure_web_client` on 8.0 (the
    default path of `up`), explicitly on 8.2 (its own series has none)."""
    # outside pytest's private temporary directory: nginx's workers run as nobody under root
    # and must read the files (as the tryton user's nginx reads <data>/web/sao in production)
    base = Path(tempfile.mkdtemp(prefix="tryton-ops-sao-"))
    base.chmod(0o755)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NPM_CONFIG_PREFER_OFFLINE", "true")  # npm's cache when it has the files
        if SAO_WORKS:
            web = ensure_web_client(make_config(base, {"web": {"client": "auto"}}))
            assert web.root is not None, web.note
            yield web.root
        else:
            yield install_sao(base / "sao", "~8.0.0", "8.0")
    shutil.rmtree(base)


@pytest.fixture(scope="module")
def browser():

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 760})
    context.set_default_timeout(45_000)  # sao on a busy two-core machine
    expect.set_options(timeout=45_000)
    yield context.new_page()
    context.close()


@pytest.fixture
def up(tmp_path):
    """`tryton-ops up --detach` with [web] from the environment; `down` after the test."""
    configs = []

    def start(db=None, web: dict | None = None, **server):
        folder = tmp_path / f"s{len(configs)}"
        folder.mkdir()
        config = write_config(folder, db, **server)
        configs.append(config)
        env = {f"TRYTON_OPS_WEB__{key.upper()}": str(value) for key, value in web.items()}
        return config, cli(config, "up", "--detach", env=env)

    yield start
    for config in configs:
        cli(config, "down")


def shot(page, name: str, tmp_path: Path) -> None:
    """A screenshot for the docs, rewritten only when asked (so CI leaves the tree clean)."""
    folder = DOCS_IMG if os.environ.get("UPDATE_SCREENSHOTS") == "1" else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / name))


def login(page, password: str) -> None:
    """sao's login: the user name, then the password dialog. After a reload sao may still hold
    its session: then the menu comes back by itself."""
    menu = page.locator("#menu").get_by_text("Administration", exact=True)
    user = page.locator("#login")
    menu.or_(user).first.wait_for()
    if user.is_visible():
        user.fill("admin")
        page.keyboard.press("Enter")
        page.wait_for_selector("input[type=password]")
        page.fill("input[type=password]", password)
        page.keyboard.press("Enter")
    menu.wait_for()


def open_parties(page, name: str):
    """Parties > Parties in the menu; the list's row holding `name`, once it is shown."""
    menu = page.locator("#menu")
    menu.get_by_text("Parties", exact=True).first.click()  # the folder opens
    menu.get_by_text("Parties", exact=True).nth(1).click()  # the list
    return page.locator("#tabcontent .treeview tbody tr", has_text=name).first


def skip_module_configuration(conn) -> None:
    """A fresh database opens its module configuration wizard at the first login: mark it
    done, as an administrator who went through it would have."""
    items = conn.call("model.ir.module.config_wizard.item.search", [], 0, None, None, {})
    conn.call("model.ir.module.config_wizard.item.write", items, {"state": "done"}, {})


def version_mismatch(page, url: str) -> None:
    page.goto(url)
    page.get_by_text("Incompatible version of the server.").wait_for()


def test_sao_is_installed_for_its_series_once(sao, tmp_path, monkeypatch):
    """On 8.0 `up` installs sao 8.0 and a second start uses it without npm; on 8.2 npm has
    none and the reason points to the desktop client."""
    monkeypatch.delenv("TRYTON_OPS_WEB__CLIENT")
    if SAO_WORKS:
        installed = json.loads((sao / MARKER).read_text())
        assert installed["series"] == "8.0" and installed["version"].startswith("8.0.")
        config = make_config(sao.parents[2], {})
        assert sao_root(config) == sao
        monkeypatch.setenv("PATH", str(tmp_path))  # no npm: the installed sao is enough
        assert ensure_web_client(config).root == sao
        assert f"root = {sao}" in render_trytond_conf(config)
        front = derive(config, {"server": {"workers": 2}, "front": {"enabled": "on"}})
        nginx = render_nginx_conf(front)  # what `deploy render` writes too
        assert f"root {sao};" in nginx and "location @tryton {" in nginx
    else:
        config = make_config(tmp_path, {})
        web = ensure_web_client(config)
        assert web.root is None
        assert f"npm has no tryton-sao for trytond {SERIES}" in web.note
        assert f"pip install 'tryton~={SERIES}.0'" in web.note
        page = tmp_path / "data" / "web" / "none"
        assert f"root = {page}" in render_trytond_conf(config)  # the page, not a 405
        monkeypatch.setenv("PATH", str(tmp_path))  # npm's answer is remembered for a day
        again = ensure_web_client(config)
        assert again.root is None and again.note.startswith(web.note)
        assert f"delete {page / 'no-sao.json'} to ask again" in again.note


@pytest.mark.one_series
def test_unreachable_registry_is_said_and_refused_when_required(tmp_path, monkeypatch):
    monkeypatch.delenv("TRYTON_OPS_WEB__CLIENT")
    registry = f"http://127.0.0.1:{free_port()}/"
    monkeypatch.setenv("NPM_CONFIG_REGISTRY", registry)
    monkeypatch.setenv("NPM_CONFIG_FETCH_RETRIES", "0")
    web = ensure_web_client(make_config(tmp_path, {}))
    assert web.root is None
    assert f"the npm registry {registry} is unreachable: ECONNREFUSED" in web.note
    with pytest.raises(WebClientUnavailable, match=r"web\.client = 'sao' but the npm registry"):
        ensure_web_client(make_config(tmp_path, {"web": {"client": "sao"}}))
    # no half install left: only the page telling browsers there is no web client
    assert [path.name for path in (tmp_path / "data" / "web").iterdir()] == ["none"]
    blocked = tmp_path / "a-file"
    blocked.write_text("")  # a data directory that cannot be made, even by root
    web = ensure_web_client(make_config(blocked, {}))
    assert web.root is None
    assert f"cannot install sao into {blocked}/data/web: Not a directory" in web.note


@pytest.mark.one_series
def test_without_npm_up_starts_without_the_web_client(up, make_trytond_db, tmp_path, monkeypatch):
    db = make_trytond_db("sqlite")
    monkeypatch.setenv("PATH", str(tmp_path))  # no npm (the venv's Python is called by path)
    _, result = up(db, web={"client": "auto"}, workers=1)
    assert result.returncode == 0, result.stderr
    assert "web client: none (npm is not installed, so sao cannot be fetched" in result.stdout
    url = result.stdout.split("ready: ")[1].split()[0]
    page = httpx.get(url)  # no longer trytond's 405: a page naming the client to use
    assert page.status_code == 200 and "has no web client" in page.text
    assert f'pip install "tryton~={SERIES}.0"' in page.text and db.name in page.text
    assert "npm" not in page.text  # why is for the operator, not for every visitor


@pytest.mark.one_series
def test_required_web_client_or_bad_sao_dir_refuse_to_start(up, tmp_path, monkeypatch):
    config, result = up(web={"client": "auto", "sao_dir": tmp_path}, workers=1)
    assert result.returncode == 2
    assert f"error: web.sao_dir {tmp_path} is not an installed sao: index.html" in result.stderr
    monkeypatch.setenv("PATH", str(tmp_path))
    config, result = up(web={"client": "sao"}, workers=1)
    assert result.returncode == 1
    assert "error: web.client = 'sao' but npm is not installed" in result.stderr
    assert "Traceback" not in result.stderr
    settings = load_config(config)
    assert not settings.run_dir.joinpath("stack.json").exists()
    assert not settings.data_dir.joinpath("db").exists()  # refused before making the database


def test_one_process_serves_the_login_page(sao, up, make_trytond_db, page, tmp_path):
    db = make_trytond_db("sqlite")
    _, result = up(db, web={"client": "auto", "sao_dir": sao}, workers=1)
    assert result.returncode == 0, result.stderr
    url = result.stdout.split("ready: ")[1].split()[0]
    response = httpx.get(url)
    assert response.status_code == 200 and "<title>Tryton</title>" in response.text
    if SAO_WORKS:
        assert "web client: sao 8.0." in result.stdout and "warning" not in result.stdout
        page.goto(url)
        page.wait_for_selector("#login")
        shot(page, "sao-login.png", tmp_path)
    else:
        assert f"warning: sao 8.0.11 refuses trytond {SERIES}" in result.stdout
        assert f"pip install 'tryton~={SERIES}.0'" in result.stdout
        version_mismatch(page, url)
        shot(page, f"sao-{SERIES}-version-mismatch.png", tmp_path)


@pytest.mark.nginx
def test_through_nginx_edit_a_party_and_see_it_after_reload(
    sao, tryton_stack, make_trytond_db, page, tmp_path
):
    db = make_trytond_db("sqlite")
    stack = tryton_stack(db, workers=2, front={"enabled": "on"}, web={"sao_dir": str(sao)})
    url = stack.url
    _static_files_are_cached_and_rpc_reaches_trytond(url)
    if not SAO_WORKS:
        version_mismatch(page, url)
        return
    with stack.connect() as conn:
        (party,) = conn.call("model.party.party.create", [{"name": "Web Client Party"}], {})
        skip_module_configuration(conn)
    started = time.monotonic()
    page.goto(url)
    login(page, db.password)
    row = open_parties(page, "Web Client Party")
    row.wait_for()
    shot(page, "sao-parties.png", tmp_path)
    row.dblclick()
    form = page.locator("#tabcontent")
    expect(form.locator("input[name=code]:visible").first).to_have_value("1")  # loaded
    name = form.locator("input[name=name]:visible").first
    name.fill("Web Client Party, edited")
    name.press("Tab")
    save = form.locator("[title=Save]:visible").first
    expect(save).to_be_enabled()
    save.click()
    expect(save).to_be_disabled()  # saved: nothing left to save
    page.get_by_text("Record saved.").wait_for()
    shot(page, "sao-party-form.png", tmp_path)
    page.reload()
    login(page, db.password)
    open_parties(page, "Web Client Party, edited").wait_for()
    with stack.connect() as conn:
        read = conn.call("model.party.party.read", [party], ["name"], {})
    assert read[0]["name"] == "Web Client Party, edited"
    assert time.monotonic() - started < 60


def _static_files_are_cached_and_rpc_reaches_trytond(url: str) -> None:
    """nginx serves sao's files (12 h, index.html revalidated) with the security headers and
    sends POST (JSON-RPC) to the workers."""
    script = httpx.get(url + "dist/tryton-sao.js")
    assert script.status_code == 200
    # nginx's header: trytond would add ", public"
    assert script.headers["cache-control"] == "max-age=43200"
    assert script.headers["x-content-type-options"] == "nosniff"
    index = httpx.get(url)
    assert index.status_code == 200 and index.headers["cache-control"] == "no-cache"
    assert "<title>Tryton</title>" in index.text
    again = httpx.get(url, headers={"If-None-Match": index.headers["etag"]})
    assert again.status_code == 304
    call = {"id": 0, "method": "common.server.version", "params": []}
    assert httpx.post(url + "rpc/", json=call).json()["result"] == SERIES  # what sao checks
    assert httpx.get(url + "no-such-file.js").status_code != 200
