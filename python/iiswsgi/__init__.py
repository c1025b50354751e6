"""iiswsgi: serve and deploy Python WSGI applications on Microsoft IIS.

IIS starts ``python.exe -m iiswsgi serve APP`` as its FastCGI process; the
gateway itself is the Rust extension module ``iiswsgi._native``.
"""

import sys

from iiswsgi._native import ClientDisconnected, FileWrapper, __version__

__all__ = ["ClientDisconnected", "FileWrapper", "__version__", "main"]


def main(argv=None):
    """Console entry point: ``iiswsgi ...``."""
    from iiswsgi import _native

    args = list(sys.argv[1:] if argv is None else argv)
    sys.exit(_native.main(["iiswsgi", *args]))
