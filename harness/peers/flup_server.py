"""flup's threaded FastCGI server on a unix socket: ``flup_server.py SOCK MODULE:APP``."""

import importlib
import sys

from flup.server.fcgi import WSGIServer


def main():
    sock, spec = sys.argv[1], sys.argv[2]
    module, _, name = spec.partition(":")
    app = getattr(importlib.import_module(module), name)
    WSGIServer(app, bindAddress=sock, multiplexed=False).run()


if __name__ == "__main__":
    main()
