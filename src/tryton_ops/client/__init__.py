"""Python client for Tryton's JSON-RPC (sync and asyncio); imports nothing from trytond."""

from tryton_ops.client.errors import (
    AccessError,
    ConcurrencyError,
    Forbidden,
    LoginFailed,
    LoginRequired,
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
from tryton_ops.client.session import AsyncClient, Client

__all__ = [
    "AccessError",
    "AsyncClient",
    "Client",
    "ConcurrencyError",
    "Connection",
    "Forbidden",
    "LoginFailed",
    "LoginRequired",
    "Model",
    "NotLoaded",
    "RPCError",
    "Record",
    "ServerError",
    "ServerWarning",
    "SessionExpired",
    "Timeout",
    "TransportError",
    "UserError",
]
