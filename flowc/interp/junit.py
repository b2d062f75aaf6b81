"""`flowc test --junit FILE`: scenario results as JUnit XML (GitLab, Jenkins, GitHub test reporters)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from ..render import printable, render_concise


def junit_xml(reports) -> str:
    """One <testsuite> per scenario file, one <testcase> per scenario; a file that cannot
    run is one <testcase> with an <error>. No timestamps or durations: the same results
    give the same bytes."""
    root = ET.Element("testsuites", name="flowc test")
    totals = {"tests": 0, "failures": 0, "errors": 0}
    for r in reports:
        suite = ET.SubElement(root, "testsuite", name=r.scenario_path)
        tests = failures = errors = 0
        if r.errors:
            tests = errors = 1
            case = ET.SubElement(suite, "testcase", classname=r.scenario_path, name="(load)", file=r.scenario_path)
            text = "\n".join(render_concise(d) for d in r.errors)
            ET.SubElement(case, "error", message=f"{len(r.errors)} error(s)").text = text
        for res in r.results:
            tests += 1
            case = ET.SubElement(suite, "testcase", classname=r.scenario_path, name=printable(res.scenario.name),
                                 file=r.scenario_path, line=str(res.scenario.span.line))
            if not res.passed:
                failures += 1
                report = "\n".join(printable(line) for line in res.report().splitlines())
                ET.SubElement(case, "failure", message=report.splitlines()[0] if report else "failed").text = report
        suite.set("tests", str(tests))
        suite.set("failures", str(failures))
        suite.set("errors", str(errors))
        totals["tests"] += tests
        totals["failures"] += failures
        totals["errors"] += errors
    for k, v in totals.items():
        root.set(k, str(v))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
