"""PasteDeploy server entry points: ``[server:main] use = egg:iiswsgi#iis``.

``pserve config.ini`` (or ``paster serve``) then runs the gateway as iiswsgi 0.3
did. Options from the ``[server:main]`` section: ``bind`` (``unix:PATH`` or
``tcp:HOST:PORT``; without it the gateway uses STDIN as IIS provides it),
``log``, ``log_level``, ``script_name``, ``restart_regex``, ``max_conns``.
"""

import sys

from iiswsgi import _native

_OPTIONS = ("bind", "log", "log_level", "script_name", "restart_regex", "max_conns")


def server_runner(wsgi_app, global_conf=None, **kw):
    """``paste.server_runner``: serve ``wsgi_app`` until told to stop."""
    unknown = sorted(set(kw) - set(_OPTIONS) - {"host", "port"})
    if unknown:
        raise ValueError(
            "unknown [server] option(s) for egg:iiswsgi#iis: %s (known: %s)"
            % (", ".join(unknown), ", ".join(_OPTIONS))
        )
    options = {k: kw[k] for k in _OPTIONS if kw.get(k) not in (None, "")}
    if "bind" not in options and kw.get("port"):
        options["bind"] = "tcp:%s:%s" % (kw.get("host") or "127.0.0.1", kw["port"])
    if "max_conns" in options:
        options["max_conns"] = int(options["max_conns"])
    code = _native.serve_app(wsgi_app, **options)
    if code:
        sys.exit(code)


def server_factory(global_conf=None, **kw):
    """``paste.server_factory``: returns a callable that serves an app."""

    def serve(wsgi_app):
        server_runner(wsgi_app, global_conf, **kw)

    return serve
