"""Python client for Tryton's JSON-RPC; imports nothing from trytond."""

from tryton_ops.client.errors import RPCError, ServerError, TransportError
from tryton_ops.client.jsonrpc import Connection

__all__ = ["Connection", "RPCError", "ServerError", "TransportError"]
