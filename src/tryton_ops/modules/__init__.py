"""trytond modules shipped with tryton-ops, registered under the `trytond.modules` entry point."""
