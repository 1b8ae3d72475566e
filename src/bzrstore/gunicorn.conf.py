"""gunicorn settings for bzrstore: ``gunicorn -c gunicorn.conf.py [--bind HOST:PORT]``.

Every value can be changed by environment (GUNICORN_* below) or the command line. The
variables, their defaults and meanings are one table in bzrstore.config (GUNICORN_OPTIONS),
which ``bzrstore --help`` shows; this file says why each default is what it is.
"""

import os

from bzrstore.config import gunicorn_settings

# Light: config.py imports no Flask or Breezy, so the arbiter stays small.
_env = gunicorn_settings()

# The app: a factory call, so each worker builds its own registry connections.
wsgi_app = "bzrstore:create_app()"

# Where to listen; nginx normally sits in front (deploy/nginx/). BZRSTORE_INTERNAL_BIND,
# when set, is added as a second listener by on_starting below, so it is there whatever
# --bind says; requests it accepts may write without credentials (node/listeners.py).
bind = _env["bind"]

# Worker processes: a smart request is CPU and disk work inside Breezy, so two per
# core keeps a core busy while another process waits on disk.
workers = _env["workers"]
# Threads per process (gthread). A connection that has sent nothing yet waits in the
# process's poller and holds no thread, and a few stalled clients hold only a few of
# the threads, so a node exposed without nginx still answers /health while they wait
# out BZRSTORE_CLIENT_IDLE_SECONDS (with one thread, sync workers: each stalled
# socket holds a whole process). Each request keeps its own budget (128 MiB), so a
# process may grow by up to threads x that; GUNICORN_THREADS=1 gives sync workers.
threads = _env["threads"]
# gunicorn's own classes with a timeout on each client socket: a client that sends
# or takes no byte for BZRSTORE_CLIENT_IDLE_SECONDS is dropped (workers.py). Both
# send PEP 3333's write() straight to the socket, so responses stream either way.
# IdleLimitedThreads, or IdleLimitedSync when there is one thread.
worker_class = _env["worker_class"]

# A clone or push of a large repository is one long request. A sync worker tells
# the arbiter it is alive only between requests, so bzrstore's smart app does it
# while request or response bytes move (post_worker_init below, liveness.py); a
# threaded worker tells it every second unless one of its requests has moved no
# byte for 2 s (liveness.ThreadProgress). Either way the timeout is how long a
# request may move no byte at all before its worker is killed as stuck. It must
# still cover the longest pause inside one request: Breezy committing a pushed
# stream (and repacking) at its end. A stalled *client* is
# dropped sooner, after BZRSTORE_CLIENT_IDLE_SECONDS (the worker class above).
timeout = _env["timeout"]
# On reload or stop, let a running push finish before its worker is killed.
graceful_timeout = _env["graceful_timeout"]
# No keep-alive: each request on its own connection, as with sync workers. brz reuses
# a kept-alive connection without retrying, so a reload (which closes the old
# workers' idle connections) would break a push that is between two requests.
keepalive = 0

# Recycle workers now and then so slow leaks in long-lived processes cannot grow;
# the jitter keeps them from all restarting at once.
max_requests = _env["max_requests"]
max_requests_jitter = _env["max_requests_jitter"]

# Build the app in each worker (not in the arbiter), so database pools and
# Breezy's process-global chroot registrations are never shared across a fork.
preload_app = False

# Access log with the request duration (%(M)s ms) and response bytes (%(B)s).
accesslog = _env["accesslog"]
access_log_format = '%(h)s "%(r)s" %(s)s %(B)s %(M)sms "%(a)s"'
errorlog = "-"
loglevel = _env["loglevel"]

# X-Forwarded-* are bzrstore's to judge (BZRSTORE_TRUSTED_PROXIES, proxies.py).
# gunicorn's own default believes X-Forwarded-Proto from 127.0.0.1 and any Unix
# socket peer, even when no proxy is configured, so here it believes none.
forwarded_allow_ips = ""
secure_scheme_headers = {}
forwarder_headers = ""

# Request line and header limits stay at gunicorn's defaults; the body limit is
# the app's (BZRSTORE_MAX_BODY_BYTES), matched by nginx's client_max_body_size.

# Metrics from every worker: prometheus-client writes each worker's values to
# files in this directory and /metrics adds them up. It must be set before any
# worker imports prometheus_client, hence here, in the arbiter.
_own_metrics_dir = "PROMETHEUS_MULTIPROC_DIR" not in os.environ
if _own_metrics_dir:
    import tempfile

    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="bzrstore-metrics-")

# Imported here, after the variable, and not inside child_exit: that hook runs in a
# signal handler, which must not be the one to import a module.
from prometheus_client import multiprocess  # noqa: E402


def on_starting(server):
    """Open the trusted internal listener too, now and after every reload."""
    from bzrstore.config import load_settings
    from bzrstore.node.listeners import keep_internal_bind

    keep_internal_bind(server, load_settings().internal_bind)


def post_worker_init(worker):
    """Give each request the worker's heartbeat (see the timeout above)."""
    from bzrstore.node.liveness import HeartbeatMiddleware

    progress = getattr(worker, "progress", None)  # threaded workers: per-request progress
    if progress is not None:
        worker.wsgi = HeartbeatMiddleware(worker.wsgi, progress.touch, rate_limit=False)
    else:
        worker.wsgi = HeartbeatMiddleware(worker.wsgi, worker.notify)


def child_exit(server, worker):
    """Drop a dead worker's live gauges (its counters stay in the sums)."""
    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    """Remove the metrics directory made above (an operator's own is left alone)."""
    if _own_metrics_dir:
        import shutil

        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
