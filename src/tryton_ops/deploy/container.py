"""Rendering a Containerfile and a compose file that run the deployment in a container."""

from __future__ import annotations

from importlib.metadata import version

from tryton_ops.config import LoadedConfig


def render_containerfile(config: LoadedConfig, base_image: str, wheels: str | None = None) -> str:
    """`wheels`: a directory of the build context holding every wheel to install (no index
    is used), for hosts and builds without access to a package index; default: from PyPI."""
    series = ".".join(version("trytond").split(".")[:2])
    modules = " ".join(f'"trytond_{m}~={series}.0"' for m in config.settings.database.modules)
    extra = "[uwsgi]" if config.settings.server.app_server == "uwsgi" else ""
    ops = f"tryton-ops{extra}=={version('tryton-ops')}"
    packages = f'"{ops}" \\\n    "trytond~={series}.0" {modules}'
    if wheels is None:
        install = f"""RUN python3 -m venv /opt/tryton \\
 && /opt/tryton/bin/pip install --no-cache-dir {packages}"""
    else:
        install = f"""COPY {wheels} /tmp/wheels
RUN python3 -m venv /opt/tryton \\
 && /opt/tryton/bin/pip install --no-cache-dir --no-index --find-links /tmp/wheels \\
    {packages} \\
 && rm -rf /tmp/wheels"""
    return f"""# Rendered by tryton-ops from {config.source}; edit that file, not this one.
# The base image needs python3 and python3-venv (a Debian rootfs works).
FROM {base_image}
{install}
COPY tryton-ops.toml /etc/tryton/tryton-ops.toml
ENV TRYTON_OPS_CONFIG=/etc/tryton/tryton-ops.toml \\
    TRYTON_OPS_PATHS__DATA=/var/lib/tryton \\
    TRYTON_OPS_PATHS__RUN=/run/tryton \\
    TRYTON_OPS_SERVER__LISTEN=0.0.0.0:8000 \\
    TRYTON_OPS_FRONT__ENABLED=off
VOLUME /var/lib/tryton
EXPOSE 8000
STOPSIGNAL SIGTERM
CMD ["/opt/tryton/bin/tryton-ops", "up"]
"""


def render_compose(config: LoadedConfig) -> str:
    name = config.settings.name
    return f"""# Rendered by tryton-ops from {config.source}; edit that file, not this one.
services:
  tryton:
    build:
      context: .
      dockerfile: Containerfile
    image: localhost/tryton-{name}:latest
    ports:
      - "127.0.0.1:8000:8000"
    volumes:
      - tryton-data:/var/lib/tryton
    restart: unless-stopped
volumes:
  tryton-data: {{}}
"""
