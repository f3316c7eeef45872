"""Rendering nginx.conf: load balancing, TLS, gzip, security rules and RPC-method access logs.

Every rule is explained in docs/deploy.md. Paths are relative to the nginx prefix (`-p`), the
`nginx` folder of the run directory, so the same text serves the local stack and `deploy render`.
"""

from __future__ import annotations

from pathlib import Path

from tryton_ops.config import LoadedConfig
from tryton_ops.deploy import maintenance
from tryton_ops.deploy.hosts import app_upstreams
from tryton_ops.deploy.log_rotation import logs_dir
from tryton_ops.deploy.web_client import web_root

# tryton-ops' own HTTP paths (metrics, health, admin RPC helpers) live under /-/
ADMIN_PREFIX = "/-/"
# the ops console (tryton_ops.console), served by the app workers: allowed networks only
CONSOLE_PREFIX = "/ops/"
# the bus holds a request open up to [bus] long_polling_timeout (300 s)
BUS_TIMEOUT_S = 330
# nginx drops an idle upstream connection after this; the app server keeps it open longer
# (gunicorn `keepalive`), so nginx never sends a request on one the server is closing (a 502)
UPSTREAM_IDLE_S = 30
# sao's file names carry no version: cached as long as trytond's own [web] cache_timeout,
# index.html always revalidated (a 304 when unchanged) so an upgraded sao is seen at once
STATIC_MAX_AGE = "12h"

MIME_TYPES = "\n".join(
    f"        {mime} {' '.join(extensions)};"
    for mime, extensions in {
        "text/html": ["html"],
        "text/css": ["css"],
        "application/javascript": ["js", "mjs"],
        "application/json": ["json", "map"],
        "image/svg+xml": ["svg"],
        "image/png": ["png"],
        "image/x-icon": ["ico"],
        "font/woff": ["woff"],
        "font/woff2": ["woff2"],
        "font/ttf": ["ttf"],
        "application/vnd.ms-fontobject": ["eot"],
        "audio/wav": ["wav"],
        "text/plain": ["txt", "md"],
    }.items()
)

SECURITY_HEADERS = """\
        add_header X-Content-Type-Options "nosniff" always;
        add_header X-Frame-Options "SAMEORIGIN" always;
        add_header Referrer-Policy "same-origin" always;
        add_header Content-Security-Policy "frame-ancestors 'self'" always;"""


# trytond wraps its app in werkzeug's ProxyFix for [web] num_proxies = 1, which trusts the last
# value of each of these five headers. nginx sets every one, replacing what a client sent (it
# appends the peer address to X-Forwarded-For, the value ProxyFix reads), or clears it (an empty
# value is not sent): a client cannot move the URLs trytond builds, such as redirects.
FORWARDED_HEADERS = """\
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Host $http_host;
            proxy_set_header X-Forwarded-Port $server_port;
            proxy_set_header X-Forwarded-Prefix "";"""


def nginx_dir(config: LoadedConfig) -> Path:
    return config.run_dir / "nginx"


def certificate_paths(config: LoadedConfig) -> tuple[Path, Path]:
    front = config.settings.front
    if front.certificate and front.certificate_key:
        return front.certificate, front.certificate_key
    return nginx_dir(config) / "self-signed.crt", nginx_dir(config) / "self-signed.key"


def render_nginx_conf(config: LoadedConfig) -> str:
    settings = config.settings
    front = settings.front
    timeout = settings.server.timeout + 5
    logs = config.run_dir / "logs"
    allowed = "\n".join(f"        {network} 1;" for network in front.allowed_networks)
    upstreams = "\n".join(
        f"        server {netloc} max_fails=1 fail_timeout=5s;" for netloc in app_upstreams(config)
    )
    locations = _locations(
        timeout,
        "tryton_bus" if settings.bus.enabled else "tryton",
        config.run_dir,
        web_root(config),
    )
    maintenance_map, maintenance_location = maintenance.nginx_server_parts()
    bus_upstream = (
        f"""
    upstream tryton_bus {{
        server {settings.bus.listen};
        keepalive 8;
        keepalive_timeout {UPSTREAM_IDLE_S}s;
    }}
"""
        if settings.bus.enabled
        else ""
    )
    if front.tls:
        cert, key = certificate_paths(config)
        servers = f"""
    server {{
        listen {front.listen};
        server_name {front.server_name};
        location / {{
            return 301 https://$host:{front.tls_listen.rpartition(":")[2]}$request_uri;
        }}
    }}

    server {{
        listen {front.tls_listen} ssl;
        server_name {front.server_name};
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_prefer_server_ciphers off;
        ssl_session_cache shared:tls:10m;
        ssl_session_timeout 1d;
        add_header Strict-Transport-Security "max-age=31536000" always;
{SECURITY_HEADERS}
{locations}

{maintenance_location}
    }}"""
    else:
        servers = f"""
    server {{
        listen {front.listen};
        server_name {front.server_name};
{SECURITY_HEADERS}
{locations}

{maintenance_location}
    }}"""
    return f"""# Rendered by tryton-ops from {config.source}; edit that file, not this one.
worker_processes auto;
pid nginx.pid;
# keeps the stack marker in the workers' environment, so `tryton-ops down` finds them
env TRYTON_OPS_STACK;
error_log {logs / "nginx-error.log"} warn;

events {{
    worker_connections 1024;
}}

http {{
    server_tokens off;
    default_type application/octet-stream;
    # what nginx serves from disk (the web client): with nosniff a browser runs a script only
    # when its type says so
    types {{
{MIME_TYPES}
    }}
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 65s;

    client_body_temp_path tmp/body;
    proxy_temp_path tmp/proxy;
    fastcgi_temp_path tmp/fastcgi;
    uwsgi_temp_path tmp/uwsgi;
    scgi_temp_path tmp/scgi;

    # the method comes from the RPC-Method response header the analyzer adds
    log_format tryton '$remote_addr [$time_local] "$request" $status $body_bytes_sent '
                      'rpc=$upstream_http_rpc_method rt=$request_time '
                      'upstream=$upstream_addr urt=$upstream_response_time';
    access_log {logs / "nginx-access.log"} tryton;

    client_max_body_size {front.max_body_mb}m;
    gzip on;
    gzip_proxied any;
    gzip_min_length 1024;
    gzip_comp_level 3;
    gzip_types application/json application/xml text/xml text/plain text/css
               application/javascript image/svg+xml;

    limit_req_zone $binary_remote_addr zone=login:10m rate={front.login_rate_per_minute}r/m;
    limit_req_zone $binary_remote_addr zone=rpc:10m rate={front.rpc_rate_per_second}r/s;
    limit_req_status 429;

    geo $admin_allowed {{
        default 0;
{allowed}
    }}

{maintenance_map}
    upstream tryton {{
        least_conn;
{upstreams}
        keepalive 32;
        keepalive_timeout {UPSTREAM_IDLE_S}s;
    }}
{bus_upstream}{servers}
}}
"""


def _locations(timeout: int, bus_upstream: str, run_dir: Path, web: Path | None) -> str:
    proxy = f"""{maintenance.nginx_rule(run_dir)}
            proxy_pass http://tryton;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
{FORWARDED_HEADERS}
            proxy_next_upstream error timeout http_502 http_503;
            proxy_next_upstream_tries 2;"""
    timeouts = f"""            proxy_read_timeout {timeout}s;
            proxy_send_timeout {timeout}s;"""
    return f"""        location ^~ {ADMIN_PREFIX} {{
            if ($admin_allowed = 0) {{ return 403; }}
{proxy}
{timeouts}
        }}

        location ^~ {CONSOLE_PREFIX} {{
            if ($admin_allowed = 0) {{ return 403; }}
            limit_req zone=rpc burst=100 nodelay;
{proxy}
{timeouts}
        }}

        location ~ ^/[^/]+/(session/login|user/application/?)$ {{
            limit_req zone=login burst=5 nodelay;
{proxy}
{timeouts}
        }}

        location ~ ^/[^/]+/bus$ {{
{proxy.replace("http://tryton;", f"http://{bus_upstream};")}
            proxy_read_timeout {BUS_TIMEOUT_S}s;
            proxy_send_timeout {timeout}s;
            proxy_buffering off;
        }}

{_root_locations(proxy, timeouts, web)}"""


def _root_locations(proxy: str, timeouts: str, web: Path | None) -> str:
    """Everything else: RPC to the workers; with a web root (sao), its files for GET and HEAD
    first.

    Like trytond's own `[web] root`: only GET and HEAD are looked up as files, and what is not
    a file (a REST or report URL) goes to trytond. Prefix locations such as `/-/` and `/ops/`
    take precedence over these.
    """
    rpc = f"""            limit_req zone=rpc burst=400 nodelay;
{proxy}
{timeouts}"""
    if web is None:
        return f"""        location / {{
{rpc}
        }}"""
    return f"""        location / {{
            error_page 418 = @tryton;
            if ($request_method !~ ^(GET|HEAD)$) {{ return 418; }}
            root {web};
            index index.html;
            expires {STATIC_MAX_AGE};
            try_files $uri $uri/ @tryton;
        }}

        location = /index.html {{
            root {web};
            expires -1;
        }}

        location @tryton {{
{rpc}
        }}"""


def ensure_certificate(config: LoadedConfig) -> None:
    """Generate a self-signed certificate when TLS is on and none is configured."""
    front = config.settings.front
    if not front.tls or (front.certificate and front.certificate_key):
        return
    cert, key = certificate_paths(config)
    if cert.exists() and key.exists():
        return
    from tryton_ops.deploy.certificates import write_self_signed

    write_self_signed(cert, key, front.server_name)


def write_nginx_conf(config: LoadedConfig) -> Path:
    folder = nginx_dir(config)
    (folder / "tmp").mkdir(parents=True, exist_ok=True)  # nginx makes its own subfolders
    logs_dir(config)
    ensure_certificate(config)
    path = folder / "nginx.conf"
    path.write_text(render_nginx_conf(config))
    return path
