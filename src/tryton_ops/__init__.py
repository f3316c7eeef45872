"""tryton-ops: the operations layer for the Tryton ERP server."""

__version__ = "0.1.0"
