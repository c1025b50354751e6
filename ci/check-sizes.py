#!/usr/bin/env python3
"""Checks the size rules: no Rust source file over 600 lines, and no function
over 100 lines outside tests (tests/ folders, `#[cfg(test)] mod` blocks).

Prints each offender as PATH:LINE and exits 1 if there is any. A function is
measured from its `fn` line to its closing brace, counted with string and
character literals and `//` comments blanked out.
"""

import os
import re
import sys

MAX_FILE = 600
MAX_FN = 100
SKIP_DIRS = {"target", ".git", ".venv", "node_modules"}
FN_RE = re.compile(
    r'\s*(pub(\([^)]*\))?\s+)?(const\s+)?(async\s+)?(unsafe\s+)?(extern\s+"C"\s+)?fn\s+(\w+)'
)


def code_only(line):
    line = re.sub(r'"(\\.|[^"\\])*"', '""', line)
    line = re.sub(r"'(\\.|[^'\\])'", "''", line)
    return line.split("//")[0]


def test_module_start(lines):
    """Index of the first `#[cfg(test)] mod …` (the rest of the file is tests)."""
    for i, line in enumerate(lines[:-1]):
        if line.strip() == "#[cfg(test)]" and lines[i + 1].lstrip().startswith(("mod ", "pub mod ")):
            return i
    return len(lines)


def long_functions(lines, end):
    i = 0
    while i < end:
        m = FN_RE.match(lines[i])
        if not m:
            i += 1
            continue
        depth, started, j = 0, False, i
        while j < end:
            s = code_only(lines[j])
            for ch in s:
                if ch == "{":
                    depth += 1
                    started = True
                elif ch == "}":
                    depth -= 1
            if (started and depth <= 0) or (not started and s.rstrip().endswith(";")):
                break
            j += 1
        if started and j - i + 1 > MAX_FN:
            yield i + 1, m.group(7), j - i + 1
        i += 1


def main(root):
    bad = []
    for d, dirs, files in os.walk(root):
        dirs[:] = sorted(x for x in dirs if x not in SKIP_DIRS)
        for f in sorted(files):
            if not f.endswith(".rs"):
                continue
            path = os.path.join(d, f)
            rel = os.path.relpath(path, root)
            with open(path, encoding="utf-8") as fh:
                lines = fh.read().split("\n")
            n = len(lines) - (lines[-1] == "")
            if n > MAX_FILE:
                bad.append(f"{rel}:1: {n} lines (at most {MAX_FILE}): split the module")
            if "/tests/" in "/" + rel or rel.startswith("fuzz/"):
                continue
            for line, name, length in long_functions(lines, test_module_start(lines)):
                bad.append(f"{rel}:{line}: fn {name} is {length} lines (at most {MAX_FN}): split it")
    for b in bad:
        print(b)
    if bad:
        return 1
    print(f"sizes: no file over {MAX_FILE} lines, no function over {MAX_FN} lines outside tests")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")))
