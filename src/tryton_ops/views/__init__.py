"""Operator views: what `status`, `top` and `doctor` show, aggregated from every part.

The only place that reads several parts at once; the parts never import it.
"""
