"""Lets wfastcgi 3.0.0 run unchanged on Linux for the benchmark.

wfastcgi binds kernel32 functions through ``ctypes.windll`` at import time
(its file watcher and shutdown hook). This stub supplies ``ctypes.windll`` with
no-op functions; its FastCGI protocol loop does not touch them, and the
benchmark's web.config disables the file watcher (empty
WSGI_RESTART_FILE_REGEX), as the research notes describe.
"""

import ctypes


class _Function:
    restype = None
    argtypes = None

    def __call__(self, *args, **kwargs):
        return 0


class _Library:
    def __getattr__(self, name):
        function = _Function()
        setattr(self, name, function)
        return function


class _WinDLL:
    def __init__(self):
        self.kernel32 = _Library()


if not hasattr(ctypes, "windll"):
    ctypes.windll = _WinDLL()
