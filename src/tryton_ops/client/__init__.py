"""Python client for Tryton's JSON-RPC and REST (sync and asyncio); imports nothing from trytond."""

from tryton_ops.client.errors import (
    AccessError,
    ConcurrencyError,
    Forbidden,
    LoginFailed,
    LoginRequired,
    NotFound,
    RPCError,
    ServerError,
    ServerWarning,
    SessionExpired,
    Timeout,
    TransportError,
    UserError,
)
from tryton_ops.client.jsonrpc import Connection
from tryton_ops.client.model import Model
from tryton_ops.client.record import NotLoaded, Record
from tryton_ops.client.rest import AsyncRestClient, Page, Report, RestClient, RestModel
from tryton_ops.client.session import AsyncClient, Client

__all__ = [
    "AccessError",
    "AsyncClient",
    "AsyncRestClient",
    "Client",
    "ConcurrencyError",
    "Connection",
    "Forbidden",
    "LoginFailed",
    "LoginRequired",
    "Model",
    "NotFound",
    "NotLoaded",
    "Page",
    "RPCError",
    "Record",
    "Report",
    "RestClient",
    "RestModel",
    "ServerError",
    "ServerWarning",
    "SessionExpired",
    "Timeout",
    "TransportError",
    "UserError",
]
