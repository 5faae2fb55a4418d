"""`jibril test --junit FILE`: recipe test results as JUnit XML for CI dashboards.

One <testsuite> per test file, one <testcase> per test in it (a failure lists every reason);
problems that stopped tests from running (a bad test file, recipes that do not compile) become
<error> testcases of a "jibril test" suite so a dashboard shows them instead of a green run.
"""

from __future__ import annotations

import datetime
import socket
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from ..core.errors import Diagnostic, Severity, Span


class TestResult(Protocol):  # testrunner.Result
    name: str
    span: Span
    failures: list[str]
    seconds: float


def _t(s: float) -> str:
    return f"{max(s, 0.0):.3f}"


def _classname(path: str) -> str:
    """a/b/recipe.test.yaml -> a.b.recipe (JUnit viewers group by classname)."""
    p = Path(path)
    stem = p.name.split(".test.")[0] if ".test." in p.name else p.stem
    parts = [x for x in (*p.parent.parts[-2:], stem) if x not in ("/", ".", "")]
    return ".".join(parts)


def to_junit(results: Sequence[TestResult], diags: Sequence[Diagnostic]) -> str:
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0, tzinfo=None).isoformat()
    host = socket.gethostname()
    root = ET.Element("testsuites", name="jibril test")
    by_file: dict[str, list[TestResult]] = {}
    for r in results:
        by_file.setdefault(r.span.file, []).append(r)
    n_tests = n_fail = n_err = 0
    total = 0.0
    for file, rs in by_file.items():
        fails = sum(bool(r.failures) for r in rs)
        secs = sum(r.seconds for r in rs)
        suite = ET.SubElement(root, "testsuite", name=file, tests=str(len(rs)), failures=str(fails),
                              errors="0", skipped="0", time=_t(secs), timestamp=now, hostname=host,
                              file=file)
        for r in rs:
            case = ET.SubElement(suite, "testcase", name=r.name, classname=_classname(file),
                                 time=_t(r.seconds), file=file, line=str(max(r.span.line, 0)))
            if r.failures:
                f = ET.SubElement(case, "failure", message=r.failures[0], type="RecipeTestFailure")
                f.text = "\n".join(r.failures)
        n_tests += len(rs)
        n_fail += fails
        total += secs
    errs = [d for d in diags if d.severity is Severity.ERROR]
    if errs:
        suite = ET.SubElement(root, "testsuite", name="jibril test", tests=str(len(errs)),
                              failures="0", errors=str(len(errs)), skipped="0", time="0.000",
                              timestamp=now, hostname=host)
        for d in errs:
            case = ET.SubElement(suite, "testcase", name=f"{d.code} at {d.span}",
                                 classname=_classname(d.span.file) or "jibril", time="0.000",
                                 file=d.span.file, line=str(max(d.span.line, 0)))
            e = ET.SubElement(case, "error", message=d.message, type=d.code)
            e.text = f"{d.span}: {d.severity.value} {d.code}: {d.message}" + (
                f"\nhint: {d.hint}" if d.hint else "")
        n_tests += len(errs)
        n_err += len(errs)
    root.set("tests", str(n_tests))
    root.set("failures", str(n_fail))
    root.set("errors", str(n_err))
    root.set("skipped", "0")
    root.set("time", _t(total))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
