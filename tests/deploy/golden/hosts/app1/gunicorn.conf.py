# Rendered by tryton-ops from {BASE}/tryton-ops.toml; edit that file, not this one.
bind = ['10.0.0.11:8000']
workers = 4
threads = 1
worker_class = 'sync'
timeout = 90
graceful_timeout = 10
keepalive = 35
pidfile = '{BASE}/run/gunicorn.pid'
errorlog = '{BASE}/run/logs/server.log'
accesslog = '{BASE}/run/logs/access.log'
capture_output = True
loglevel = 'info'
proc_name = 'tryton-ops:erp'
