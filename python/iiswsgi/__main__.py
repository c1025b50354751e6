"""``python -m iiswsgi ...``: what IIS's FastCGI module runs."""

from iiswsgi import main

if __name__ == "__main__":
    main()
