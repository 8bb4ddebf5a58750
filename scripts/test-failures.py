#!/usr/bin/env python3
"""Print, last, why each failed meson test failed.

CI keeps only the tail of `make check`'s output, where meson's summary
names a failed suite but not the case or the assertion.  This prints,
per failed test, the TAP lines that say which case failed and the
assertion or error that ended it, read from meson's testlog.json.
"""
import json
import re
import sys

PASSED = {"OK", "SKIP", "EXPECTEDFAIL"}
# What names the failing case and its cause in GLib and TAP output.
CAUSE = re.compile(r"^(not ok|Bail out!)|ERROR|assertion|FAIL|"
                   r"timed out|[Ee]rror:")
MAX_LINES = 12


def causes(text):
    seen = []
    for line in (text or "").splitlines():
        line = line.strip()
        if CAUSE.search(line) and line not in seen:
            seen.append(line[:300])
    return seen[:MAX_LINES]


def main(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            results = [json.loads(line) for line in f if line.strip()]
    except (OSError, ValueError) as e:
        print(f"test-failures: cannot read {path}: {e}")
        return 1
    failed = [r for r in results if r.get("result") not in PASSED]
    if not failed:
        return 0
    print(f"\nWhy the {len(failed)} failed test(s) failed:")
    for r in failed:
        print(f"- {r['name']}: {r['result']} after {r['duration']:.0f} s "
              f"(exit {r.get('returncode')})")
        lines = causes(r.get("stdout")) + causes(r.get("stderr"))
        for line in lines[:MAX_LINES]:
            print(f"    {line}")
        # The last lines before the end, which a timeout or crash leaves.
        tail = (r.get("stderr") or r.get("stdout") or "").splitlines()[-4:]
        for line in tail:
            print(f"  | {line[:300]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else
                  "build/meson/meson-logs/testlog.json"))
