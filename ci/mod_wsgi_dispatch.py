"""What mod_wsgi's ``WSGIScriptAlias`` lines do in its test harness, for nginx.

``ci/mod_wsgi_suite.sh`` serves this through ``iiswsgi serve --bind``: every
``NAME.py`` of mod_wsgi's ``tests/wsgi`` folder (read at run time from
``$MOD_WSGI_TESTS``; the suite is not copied into this repository) is mounted at
``/test/wsgi/NAME`` with ``_`` turned into ``-``, as ``scripts/run-tests.sh``
derives its mounts. ``SCRIPT_NAME`` becomes the mount and ``PATH_INFO`` the
rest, as under ``WSGIScriptAlias``. Modules are imported on their first request,
so a test that needs the ``mod_wsgi`` module fails alone.
"""

import importlib.util
import os

TESTS = os.environ.get("MOD_WSGI_TESTS", "")
MOUNTS = {
    "/test/wsgi/" + name[:-3].replace("_", "-"): os.path.join(TESTS, name)
    for name in (os.listdir(TESTS) if TESTS else [])
    if name.endswith(".py")
}
_loaded = {}


def _app(path):
    if path not in _loaded:
        name = "mod_wsgi_test_" + os.path.basename(path)[:-3]
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _loaded[path] = module.application
    return _loaded[path]


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    for mount in sorted(MOUNTS, key=len, reverse=True):
        if path == mount or path.startswith(mount + "/"):
            environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + mount
            environ["PATH_INFO"] = path[len(mount):]
            return _app(MOUNTS[mount])(environ, start_response)
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"no mod_wsgi test is mounted here"]
