"""What the deployment shape changes in trytond.conf."""

from __future__ import annotations

import configparser

from tryton_ops.config import LoadedConfig
from tryton_ops.config.trytond_conf import Part


def contribute(config: LoadedConfig, parser: configparser.ConfigParser) -> None:
    from tryton_ops.deploy.programs import behind_front
    from tryton_ops.deploy.web_client import web_root

    if (root := web_root(config)) is not None:
        # trytond serves GET and HEAD of these files itself (sao, or the page saying there is
        # none); nginx does in front
        parser["web"]["root"] = str(root)
    if behind_front(config):
        # sessions are bound to the client address: trust exactly one proxy, nginx
        parser["web"]["num_proxies"] = "1"
    if config.settings.bus.enabled:
        # url_host stays unset: clients use the host they logged in through (nginx)
        parser["bus"] = {"allow_subscribe": "True"}
    if config.settings.queue.workers:
        # with worker = True every process only enqueues; the queue workers run the tasks
        parser["queue"] = {"worker": "True"}


PART = Part("deploy", contribute, order=10)
