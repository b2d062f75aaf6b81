"""The `flowc` command line (typer). Commands stay thin: they call `pipeline` and print.

Exit codes (docs/cli.md): 0 no errors (warnings allowed), 1 a flow has errors,
2 usage, I/O or internal failure.
"""

from __future__ import annotations

import os
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from . import __version__

EXIT_OK, EXIT_ERRORS, EXIT_USAGE = 0, 1, 2

app = typer.Typer(
    name="flowc",
    help="Compile, check, run and test call flows of 400 hotlines (.flow files).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


class Format(str, Enum):
    full = "full"
    concise = "concise"
    json = "json"


def _flow_files(paths: list[Path]) -> tuple[list[Path], list[str]]:
    """Expand directories to every `.flow` below them (sorted); report missing paths."""
    files: list[Path] = []
    problems: list[str] = []
    for p in paths:
        if p.is_dir():
            found = sorted(q for q in p.rglob("*.flow") if q.is_file())
            if not found:
                problems.append(f"{p}: no .flow files in this directory")
            files.extend(found)
        elif p.exists():
            files.append(p)
        else:
            problems.append(f"{p}: no such file or directory")
    return files, problems


def _use_color(stream) -> bool:
    return stream.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


def report(results, fmt: Format, *, quiet: bool = False) -> int:
    """Print every diagnostic of `results`; return the exit code."""
    from .diagnostics import Severity
    from .render import render_concise, render_full, render_json, summary_line

    diagnostics = [d for r in results for d in sorted(r.diagnostics, key=lambda d: d.sort_key())]
    errors = sum(1 for d in diagnostics if d.severity is Severity.ERROR)
    warnings = len(diagnostics) - errors
    if fmt is Format.json:
        sys.stdout.write(render_json(diagnostics) + "\n")
    else:
        sources = {}
        for r in results:
            sources.update(r.sources)

        def line_of(file: str, line: int) -> str | None:
            src = sources.get(file)
            return src.line_text(line) if src else None

        color = _use_color(sys.stderr)
        for d in diagnostics:
            if fmt is Format.concise:
                sys.stderr.write(render_concise(d) + "\n")
            else:
                sys.stderr.write(render_full(d, line_of, color) + "\n\n")
        if not quiet:
            sys.stderr.write(summary_line(errors, warnings, len(results)) + "\n")
    return EXIT_ERRORS if errors else EXIT_OK


FilesArg = Annotated[list[Path], typer.Argument(help="Flow files, or directories to search for *.flow.", show_default=False)]
FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="full: rustc-style snippets; concise: one line each; json: an array on stdout.")]
YearOpt = Annotated[Optional[list[int]], typer.Option("--year", help="Year(s) the flow will run in; holiday data must cover them. Default: this year and next.")]


@app.command()
def check(
    files: FilesArg,
    format: FormatOpt = Format.full,
    year: YearOpt = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No summary line.")] = False,
) -> None:
    """Check flows for errors without compiling them.

    Examples:

      flowc check examples/shop.flow

      flowc check examples/ --format concise

      flowc check flows/ --format json > diagnostics.json
    """
    from .checks import CheckOptions
    from .pipeline import Workspace

    paths, problems = _flow_files(files)
    if problems:
        for p in problems:
            sys.stderr.write(f"flowc: error: {p}\n")
        raise typer.Exit(EXIT_USAGE)
    ws = Workspace()
    results = []
    for p in paths:
        opts = CheckOptions(years=year) if year else CheckOptions()
        results.append(ws.assemble(p, options=opts))
    raise typer.Exit(report(results, format, quiet=quiet))


class TargetChoice(str, Enum):
    asterisk = "asterisk"
    freeswitch = "freeswitch"
    all = "all"


@app.command()
def compile(
    files: FilesArg,
    target: Annotated[TargetChoice, typer.Option("--target", "-t", help="Engine to generate for; `all` writes DIR/asterisk and DIR/freeswitch.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output directory.")] = Path("out"),
    check_only: Annotated[bool, typer.Option("--check", help="Write nothing; exit 1 if the files on disk differ from what would be generated.")] = False,
    config: Annotated[Optional[Path], typer.Option("--config", help="A flowc.toml or pyproject.toml ([tool.flowc]); default: the nearest one.")] = None,
    dial_template: Annotated[Optional[str], typer.Option("--dial-template", help="Dial string of an external phone, with {number} (single target only).")] = None,
    context_prefix: Annotated[Optional[str], typer.Option("--context-prefix", help="Prefix of generated context names (default flow-).")] = None,
    prompt_dir: Annotated[Optional[str], typer.Option("--prompt-dir", help="Directory of the prompt files.")] = None,
    recording_dir: Annotated[Optional[str], typer.Option("--recording-dir", help="Directory for call recordings.")] = None,
    test_hooks: Annotated[bool, typer.Option("--test-hooks", help="Honour FLOWC_DRAWS (fixed random draws) for parity tests; never in production.")] = False,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="Any setting, e.g. --set asterisk.moh_class=sales.")] = None,
    year: YearOpt = None,
    format: FormatOpt = Format.full,
) -> None:
    """Compile flows to Asterisk dialplan and/or FreeSWITCH XML dialplan.

    Nothing is written unless every flow compiles; each file is written atomically.

    Examples:

      flowc compile examples/small_shop.flow --target asterisk --out /etc/asterisk/flowc

      flowc compile flows/ --target all --out build/

      flowc compile flows/ --target all --out build/ --check
    """
    from .checks import CheckOptions
    from .diagnostics import has_errors
    from .emit import get_target
    from .emit.output import differs, write_atomically
    from .pipeline import Workspace
    from .settings import SettingsError, load_settings

    paths, problems = _flow_files(files)
    targets = ["asterisk", "freeswitch"] if target is TargetChoice.all else [target.value]
    overrides: dict[str, object] = {}
    for item in set_ or []:
        key, sep, value = item.partition("=")
        if not sep:
            problems.append(f"--set {item}: expected KEY=VALUE")
            continue
        overrides[key.strip()] = value
    per_target = {"dial_template": dial_template, "context_prefix": context_prefix, "prompt_dir": prompt_dir,
                  "recording_dir": recording_dir, "test_hooks": test_hooks or None}
    for key, value in per_target.items():
        if value is None:
            continue
        if key == "dial_template" and len(targets) > 1:
            problems.append("--dial-template needs a single --target (use --set asterisk.dial_template=...)")
            continue
        for t in targets:
            overrides[f"{t}.{key}"] = value
    if year:
        overrides["years"] = year
    try:
        settings = load_settings(config, overrides)
    except SettingsError as exc:
        problems.append(str(exc))
    if problems:
        for p in problems:
            sys.stderr.write(f"flowc: error: {p}\n")
        raise typer.Exit(EXIT_USAGE)

    ws = Workspace()
    results = []
    outputs: dict[Path, tuple[str, str]] = {}  # path -> (text, source flow)
    for p in paths:
        result = ws.assemble(p, options=CheckOptions(years=list(settings.years)))
        results.append(result)
        if result.flow is None:
            continue
        for name in targets:
            emitter = get_target(name, settings)
            extra = emitter.unsupported(result.flow)
            result.diagnostics.extend(extra)
            if has_errors(extra):
                continue
            base = out / name if len(targets) > 1 else out
            for rel, text in emitter.render(result.flow).items():
                dest = base / rel
                if dest in outputs and outputs[dest][1] != str(p):
                    sys.stderr.write(f"flowc: error: {p} and {outputs[dest][1]} both generate {dest}\n")
                    raise typer.Exit(EXIT_USAGE)
                outputs[dest] = (text, str(p))
    code = report(results, format, quiet=True) if any(r.diagnostics for r in results) else EXIT_OK
    if code != EXIT_OK or any(r.flow is None and not r.library for r in results):
        sys.stderr.write("flowc: nothing written: fix the errors above first\n")
        raise typer.Exit(EXIT_ERRORS)
    if check_only:
        stale = [d for d, (text, _) in sorted(outputs.items()) if differs(d, text)]
        for d in stale:
            sys.stderr.write(f"would change: {d}\n")
        sys.stderr.write(f"{len(outputs) - len(stale)} up to date, {len(stale)} would change\n")
        raise typer.Exit(EXIT_ERRORS if stale else EXIT_OK)
    try:
        written = sum(write_atomically(d, text) for d, (text, _) in sorted(outputs.items()))
    except OSError as exc:
        sys.stderr.write(f"flowc: error: cannot write {exc.filename}: {exc.strerror}\n")
        raise typer.Exit(EXIT_USAGE) from None
    sys.stderr.write(f"{len(paths)} flow(s) compiled: {written} file(s) written, {len(outputs) - written} unchanged\n")


@app.command()
def schema() -> None:
    """Print the JSON Schema of the IR (what `flowc dump` emits)."""
    import json

    from .ir import Flow

    sys.stdout.write(json.dumps(Flow.model_json_schema(), indent=2, ensure_ascii=False) + "\n")


@app.command()
def dump(
    file: Annotated[Path, typer.Argument(help="A flow file.")],
    format: FormatOpt = Format.full,
) -> None:
    """Print the checked IR of a flow as JSON (see `flowc schema`)."""
    from .pipeline import Workspace

    result = Workspace().assemble(file)
    if result.flow is None:
        code = report([result], format)
        raise typer.Exit(code or EXIT_ERRORS)
    sys.stdout.write(result.flow.model_dump_json(indent=2, exclude_none=True) + "\n")


@app.command()
def version() -> None:
    """Print flowc's version and the data it was built with."""
    from .holidays import covered_years, data_version

    years = covered_years()
    sys.stdout.write(f"flowc {__version__}\n")
    sys.stdout.write(f"holiday calendar: {data_version()} ({years.start}-{years.stop - 1})\n")


def main() -> None:
    """Console entry point. Click (inside typer) prints usage errors and exits 2 itself;
    anything unexpected becomes one line and exit 2, never a traceback."""
    try:
        app()
    except KeyboardInterrupt:
        sys.stderr.write("flowc: interrupted\n")
        sys.exit(EXIT_USAGE)
    except Exception as exc:
        sys.stderr.write(f"flowc: internal error: {exc.__class__.__name__}: {exc}\n"
                         "please report this with the input that caused it\n")
        sys.exit(EXIT_USAGE)
