"""Prints a test suite's result in a few lines, from the JUnit XML that ctest
(--output-junit) or pytest (--junitxml) wrote: the counts, why tests were skipped (grouped
by reason) and where the full log is. On a failure it prints each failing test's output
instead (or the whole log when the XML names no failure), and exits non-zero.

    junit_summary.py --suite NAME --junit FILE --log FILE --rc EXIT_STATUS

Standard library only: `make test-cpp` runs it before any venv exists.
"""

import argparse
import collections
import os
import re
import sys
import xml.etree.ElementTree as ET

# GoogleTest prints "<file>:<line>: Skipped" and then GTEST_SKIP()'s message.
GTEST_SKIP = re.compile(r":\d+: Skipped\n(.+?)\n\[  SKIPPED \]", re.S)
# The whole suite run once per forced ISA (cmake/tests.cmake) skips on this message.
FORCED_ISA = re.compile(r"GROUPQUANT_CPU_ISA=\S+ is not supported by this CPU(?: or build)?")


def skip_reason(case: ET.Element, skipped: ET.Element) -> str:
    out = case.findtext("system-out") or ""
    match = GTEST_SKIP.search(out) or FORCED_ISA.search(out)
    if match:
        return (match.group(1) if match.groups() else match.group(0)).strip()
    return skipped.get("message") or "no reason given"


def print_log(path: str) -> None:
    print(f"---- {path}")
    try:
        with open(path, errors="replace") as f:
            sys.stdout.write(f.read())
    except OSError as e:
        print(f"(cannot read the log: {e})")
    print(f"---- end of {path}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--suite", required=True)
    ap.add_argument("--junit", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--rc", type=int, required=True, help="the test runner's exit status")
    args = ap.parse_args()

    try:
        cases = list(ET.parse(args.junit).getroot().iter("testcase"))
    except (OSError, ET.ParseError) as e:
        print(f"{args.suite}: FAILED: no readable results in {args.junit} ({e}); the log:")
        print_log(args.log)
        return args.rc or 1

    passed, failed, reasons = 0, [], collections.Counter()
    for case in cases:
        problem = case.find("failure")
        if problem is None:
            problem = case.find("error")
        skipped = case.find("skipped")
        if problem is not None:
            failed.append((case, problem))
        elif skipped is not None:
            reasons[skip_reason(case, skipped)] += 1
        else:
            passed += 1

    skipped_total = sum(reasons.values())
    counts = f"{len(cases)} tests: {passed} passed, {skipped_total} skipped, {len(failed)} failed"
    for case, problem in failed:
        name = ".".join(filter(None, [case.get("classname"), case.get("name")]))
        if case.get("classname") == case.get("name"):  # ctest repeats the name
            name = case.get("name")
        print(f"==== FAILED: {name}")
        for text in (problem.get("message"), problem.text, case.findtext("system-out")):
            if text and text.strip():
                print(text.rstrip())
    if args.rc != 0 and not failed:
        print(f"{args.suite}: the runner failed (exit status {args.rc}) outside any test; the log:")
        print_log(args.log)
    status = "FAILED" if failed or args.rc != 0 else "ok"
    print(f"{args.suite}: {status}: {counts}")
    for reason, n in reasons.most_common():
        print(f"  skipped {n}: {reason}")
    print(f"  full log: {os.path.relpath(args.log)}")
    return 0 if status == "ok" else (args.rc or 1)


if __name__ == "__main__":
    sys.exit(main())
