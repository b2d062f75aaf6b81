"""The `flowc` command line (typer). Commands stay thin: they call `pipeline` and print.

Exit codes (docs/cli.md): 0 no errors (warnings allowed), 1 a flow has errors,
2 usage, I/O or internal failure.
"""

from __future__ import annotations

import os
import sys

# flowc uses no pydantic plugins; looking them up scans every installed package's
# metadata (~15 ms of each start-up). flowc starts no other processes that could inherit it.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

from enum import Enum  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Annotated, Optional  # noqa: E402

import typer  # noqa: E402

from . import __version__  # noqa: E402

EXIT_OK, EXIT_ERRORS, EXIT_USAGE = 0, 1, 2

# -h as well as --help, on every command
CONTEXT = {"help_option_names": ["-h", "--help"]}

app = typer.Typer(
    name="flowc",
    help="Compile, check, run and test call flows of 400 hotlines (.flow files). Reference: docs/cli.md.",
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion (bash, zsh, fish, PowerShell)
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings=CONTEXT,
)


def _print_version(value: bool) -> None:
    if value:
        sys.stdout.write(f"flowc {__version__}\n")
        raise typer.Exit(EXIT_OK)


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", "-V", help="Print flowc's version and exit (`flowc version`: also its data).", is_eager=True, callback=_print_version)] = False,
) -> None:
    pass


class Format(str, Enum):
    full = "full"
    concise = "concise"
    json = "json"
    github = "github"
    sarif = "sarif"


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


def _stop_on_usage_problems(problems: list[str]) -> None:
    """Print usage/I-O problems found before any flow is read, and exit 2."""
    if problems:
        from .render import printable

        for p in problems:
            sys.stderr.write(f"flowc: error: {printable(p)}\n")
        raise typer.Exit(EXIT_USAGE)


def _use_color(stream) -> bool:
    return stream.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


def report(results, fmt: Format, *, quiet: bool = False, files: int | None = None) -> int:
    """Print every diagnostic of `results`; return the exit code."""
    from .diagnostics import Severity
    from .render import render_concise, render_full, render_json, summary_line

    # A library imported by several flows can yield the same diagnostic for each: say it once.
    diagnostics = list(dict.fromkeys(d for r in results for d in sorted(r.diagnostics, key=lambda d: d.sort_key())))
    errors = sum(1 for d in diagnostics if d.severity is Severity.ERROR)
    warnings = len(diagnostics) - errors
    if fmt is Format.json:
        sys.stdout.write(render_json(diagnostics) + "\n")
    elif fmt is Format.sarif:
        from .render import render_sarif

        sys.stdout.write(render_sarif(diagnostics, __version__) + "\n")
    elif fmt is Format.github:
        from .render import render_github

        for d in diagnostics:
            sys.stdout.write(render_github(d) + "\n")
        if not quiet:
            sys.stderr.write(summary_line(errors, warnings, len(results) if files is None else files) + "\n")
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
            sys.stderr.write(summary_line(errors, warnings, len(results) if files is None else files) + "\n")
    if any(d.code == "E001" for d in diagnostics):
        return EXIT_USAGE  # an unreadable file is an I/O error, not an error in a flow
    return EXIT_ERRORS if errors else EXIT_OK


FilesArg = Annotated[list[Path], typer.Argument(help="Flow files, or directories to search for *.flow.", show_default=False)]
FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="full: rustc-style snippets; concise: one line each; json: an array on stdout; github: GitHub Actions annotations on stdout; sarif: a SARIF 2.1.0 log on stdout.")]
WarningsAsErrorsOpt = Annotated[bool, typer.Option("--warnings-as-errors", help="Report every warning as an error (exit 1).")]
YearOpt = Annotated[Optional[list[int]], typer.Option("--year", help="Year(s) the flow will run in; holiday data must cover them. Default: this year and next.")]


class TargetChoice(str, Enum):
    asterisk = "asterisk"
    freeswitch = "freeswitch"
    all = "all"


@app.command()
def check(
    files: FilesArg,
    target: Annotated[Optional[TargetChoice], typer.Option("--target", "-t", help="Engine(s) whose limits to check, as compile would. Default: `target` in flowc.toml, else all.", show_default=False)] = None,
    format: FormatOpt = Format.full,
    year: YearOpt = None,
    config: Annotated[Optional[Path], typer.Option("--config", help="A flowc.toml or pyproject.toml ([tool.flowc]); default: the nearest one.")] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="Any setting, e.g. --set years=2026,2027.")] = None,
    warnings_as_errors: WarningsAsErrorsOpt = False,
    stdin_filename: Annotated[Optional[str], typer.Option("--stdin-filename", help="The name diagnostics use for `-`.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No summary line.")] = False,
) -> None:
    """Check flows for every error `flowc compile` would report, writing nothing.

    `-` reads one flow from stdin.

    Examples:

      flowc check examples/shop.flow

      flowc check examples/ --target freeswitch --format concise

      flowc check flows/ --format json > diagnostics.json

      flowc check flows/ --format github      # annotations in a GitHub Actions job
    """
    stdin = [p for p in files if str(p) == "-"]
    if stdin and len(files) > 1:
        _stop_on_usage_problems(["`-` (stdin) cannot be combined with other paths"])
    paths, problems = ([], []) if stdin else _flow_files(files)
    settings, targets = _settings_and_targets(config, set_, year, target, {}, problems, required=False)
    _stop_on_usage_problems(problems)
    settings = _with_warning_options(settings, warnings_as_errors)
    if stdin:
        results = [_check_text(sys.stdin.buffer.read(), stdin_filename or "<stdin>", settings, targets)]
        raise typer.Exit(report(results, format, quiet=quiet))
    raise typer.Exit(_check_files(paths, settings, targets, format, quiet))


def _check_files(paths, settings, targets, format: Format, quiet: bool) -> int:
    """`flowc compile --check` into an empty folder: the compile driver's own path (the
    same checks, target limits and cross-flow checks), and nothing of the user's is written."""
    import tempfile

    from .build import BuildError, build

    with tempfile.TemporaryDirectory(prefix="flowc-check-") as tmp:
        try:
            o = build(paths, settings, targets, Path(tmp) / "out", check=True)
        except (BuildError, OSError) as exc:
            sys.stderr.write(f"flowc: error: {exc}\n")
            return EXIT_USAGE
    return report(o.results, format, quiet=quiet, files=len(paths))


def _check_text(data: bytes, name: str, settings, targets):
    """check of one flow read from stdin: the pipeline's checks, then each target's limits."""
    from .checks import CheckOptions
    from .diagnostics import apply_policy
    from .emit import get_target
    from .pipeline import Result, Workspace, decode

    source, diags = decode(name, data)
    if source is None:
        return Result(name, None, diags, {})
    result = Workspace().assemble(name, text=source.text, options=CheckOptions(years=list(settings.years)))
    extra = []
    if result.flow is not None and not any(d.severity.name == "ERROR" for d in result.diagnostics):
        for t in targets:
            extra += get_target(t, settings).unsupported(result.flow)
    diagnostics = apply_policy(list(dict.fromkeys(result.diagnostics + extra)), settings.ignore, settings.error,
                               result.sources, [name])
    return Result(name, result.flow, diagnostics, result.sources, library=result.library)


@app.command()
def compile(
    files: FilesArg,
    target: Annotated[Optional[TargetChoice], typer.Option("--target", "-t", help="Engine to generate for; `all` writes DIR/asterisk and DIR/freeswitch. Default: `target` in flowc.toml.", show_default=False)] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output directory.")] = Path("out"),
    check_only: Annotated[bool, typer.Option("--check", help="Write nothing; exit 1 if a file would change, is missing, or belongs to a flow that no longer exists (--format json: one JSON report).")] = False,
    prune: Annotated[bool, typer.Option("--prune", help="Also remove the files of flows whose source no longer exists (recorded in DIR/.flowc-manifest.json).")] = False,
    config: Annotated[Optional[Path], typer.Option("--config", help="A flowc.toml or pyproject.toml ([tool.flowc]); default: the nearest one.")] = None,
    dial_template: Annotated[Optional[str], typer.Option("--dial-template", help="Dial string of an external phone, with {number} (single target only).")] = None,
    context_prefix: Annotated[Optional[str], typer.Option("--context-prefix", help="Prefix of generated context names (default flow-).")] = None,
    prompt_dir: Annotated[Optional[str], typer.Option("--prompt-dir", help="Directory of the prompt files.")] = None,
    recording_dir: Annotated[Optional[str], typer.Option("--recording-dir", help="Directory for call recordings.")] = None,
    test_hooks: Annotated[bool, typer.Option("--test-hooks", help="Honour FLOWC_DRAWS (fixed random draws) for parity tests; never in production.")] = False,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="Any setting, e.g. --set asterisk.moh_class=sales.")] = None,
    year: YearOpt = None,
    format: FormatOpt = Format.full,
    warnings_as_errors: WarningsAsErrorsOpt = False,
) -> None:
    """Compile flows to Asterisk dialplan and/or FreeSWITCH XML dialplan.

    The output directory is replaced as a whole, atomically, and only when every flow
    compiles; flows whose inputs did not change since the last compile are not compiled
    again (docs/deploy.md).

    Examples:

      flowc compile examples/small_shop.flow --target asterisk --out /etc/asterisk/flowc

      flowc compile flows/ --target all --out build/

      flowc compile flows/ --target all --out build/ --check

      flowc compile flows/ --target all --out build/ --prune
    """
    paths, problems = _flow_files(files)
    per_target = {"dial_template": dial_template, "context_prefix": context_prefix, "prompt_dir": prompt_dir,
                  "recording_dir": recording_dir, "test_hooks": test_hooks or None}
    settings, targets = _settings_and_targets(config, set_, year, target, per_target, problems, required=True)
    _stop_on_usage_problems(problems)
    settings = _with_warning_options(settings, warnings_as_errors)
    raise typer.Exit(_build(paths, settings, targets, out, check_only, prune, format))


_PER_TARGET_OPTION = {"dial_template": "--dial-template", "context_prefix": "--context-prefix",
                      "prompt_dir": "--prompt-dir", "recording_dir": "--recording-dir", "test_hooks": "--test-hooks"}


def _settings_and_targets(config, set_, year, target, per_target: dict, problems: list[str], *, required: bool):
    """The settings (defaults < config file < options) and the targets of compile/check:
    --target, else `target` of the config file, else `all` for check (a usage error for
    compile). Problems are appended to `problems`, naming the option or config key at fault."""
    from .settings import SettingsError, load_settings

    overrides: dict[str, object] = {}
    origins: dict[str, str] = {}
    for item in set_ or []:
        key, sep, value = item.partition("=")
        if not sep:
            problems.append(f"--set {item}: expected KEY=VALUE")
            continue
        overrides[key.strip()] = value
    if year:
        overrides["years"] = year
        origins["years"] = "--year"
    try:
        base = load_settings(config, overrides, origins=origins)
    except SettingsError as exc:
        problems.append(str(exc))
        return None, []
    chosen = target.value if target is not None else base.target
    if chosen is None:
        if required:
            problems.append("--target is required (asterisk, freeswitch or all), or set `target` in flowc.toml")
            return None, []
        chosen = "all"
    targets = ["asterisk", "freeswitch"] if chosen == "all" else [chosen]
    extra = False
    for key, value in per_target.items():
        if value is None:
            continue
        if key == "dial_template" and len(targets) > 1:
            problems.append("--dial-template needs a single --target (use --set asterisk.dial_template=...)")
            continue
        for t in targets:
            overrides[f"{t}.{key}"] = value
            origins[f"{t}.{key}"] = _PER_TARGET_OPTION[key]
            extra = True
    if not extra:
        return base, targets
    try:
        return load_settings(config, overrides, origins=origins), targets
    except SettingsError as exc:
        problems.append(str(exc))
        return None, []


def _with_warning_options(settings, warnings_as_errors: bool):
    """--warnings-as-errors: every warning is an error (on top of `error = [...]`)."""
    if settings is None or not warnings_as_errors:
        return settings
    return settings.model_copy(update={"error": ["W*"]})


def _build(paths, settings, targets, out: Path, check_only: bool, prune: bool, format: Format) -> int:
    """Run the compile driver (flowc.build) and print what it did; returns the exit code."""
    import json

    from .build import BuildError, build

    def say(line: str) -> None:
        sys.stderr.write(line + "\n")

    try:
        o = build(paths, settings, targets, out, check=check_only, prune=prune, say=say)
    except BuildError as exc:
        say(f"flowc: error: {exc}")
        return EXIT_USAGE
    except OSError as exc:
        say(f"flowc: error: {exc.filename or out}: {exc.strerror or exc}; the output directory was not changed")
        return EXIT_USAGE
    code = EXIT_OK
    if check_only and format is Format.json:
        from .render import render_json

        diagnostics = list(dict.fromkeys(d for r in o.results for d in sorted(r.diagnostics, key=lambda d: d.sort_key())))
        doc = {"ok": not o.errors and not o.check_failed, "out": str(out),
               "files": [{"path": f.path, "status": f.status, "flow": f.flow, "reason": f.reason} for f in o.files],
               "summary": {"flows": o.flows, "unchanged": o.unchanged,
                           **{k: sum(f.status == k for f in o.files) for k in ("stale", "missing", "orphan", "unknown")}},
               "diagnostics": json.loads(render_json(diagnostics))}
        sys.stdout.write(json.dumps(doc, ensure_ascii=False, indent=2) + "\n")
        if o.errors:
            return EXIT_USAGE if any(d.code == "E001" for d in diagnostics) else EXIT_ERRORS
        return EXIT_ERRORS if o.check_failed else EXIT_OK
    if o.results:
        code = report(o.results, format, quiet=True)
    if o.errors:
        if code == EXIT_USAGE:
            return code
        say("flowc: nothing written: fix the errors above first" if not check_only else
            "flowc: fix the errors above first")
        return EXIT_ERRORS
    reused = f", {o.reused} unchanged since the last compile" if o.reused else ""
    skipped = (f" ({o.libraries} {'library' if o.libraries == 1 else 'libraries'} skipped: no flow to compile)"
               if o.libraries else "")
    if check_only:
        verbs = {"stale": "would change", "missing": "missing", "orphan": "orphan", "unknown": "not flowc's"}
        for f in o.files:
            detail = f" ({f.flow}: {f.reason})" if f.flow and f.reason else (f" ({f.reason})" if f.reason else "")
            say(f"{verbs[f.status]}: {out / f.path}{detail}")
        counts = {k: sum(f.status == k for f in o.files) for k in verbs}
        say(f"{o.unchanged} up to date, {counts['stale']} would change, {counts['missing']} missing, "
            f"{counts['orphan']} orphan(s){reused}")
        return EXIT_ERRORS if o.check_failed else EXIT_OK
    for f in o.files:
        if f.status == "orphan":
            say(f"flowc: warning: {out / f.path}: {f.reason} ({f.flow})")
        elif f.status == "unknown":
            say(f"flowc: note: {out / f.path} was not written by flowc; left as it is")
    removed = f", {o.removed} removed" if o.removed else ""
    say(f"{o.flows} flow(s) compiled{skipped}{reused}: {o.written} file(s) written, {o.unchanged} unchanged{removed}")
    return EXIT_OK


@app.command()
def schema() -> None:
    """Print the JSON Schema of the IR (what `flowc dump` emits)."""
    import json

    from .ir import Flow

    sys.stdout.write(json.dumps(Flow.model_json_schema(), indent=2, ensure_ascii=False) + "\n")


@app.command()
def dump(
    file: Annotated[Path, typer.Argument(help="A flow file; `-` reads stdin.")],
    format: FormatOpt = Format.full,
) -> None:
    """Print the checked IR of a flow as JSON (see `flowc schema`). `-` reads stdin."""
    flow = _load_flow(file, format, "dump")
    sys.stdout.write(flow.model_dump_json(indent=2, exclude_none=True) + "\n")


def _load_flow(file: Path, format: Format, command: str):
    """The checked flow of `file` (`-`: stdin) for dump and run; its errors exit 1, a
    missing file or a library (no flow of its own) exit 2 with what to do instead."""
    from .pipeline import Result, Workspace, decode

    if str(file) == "-":
        name = "<stdin>"
        source, diags = decode(name, sys.stdin.buffer.read())
        if source is None:
            raise typer.Exit(report([Result(name, None, diags, {})], format) or EXIT_ERRORS)
        result = Workspace().assemble(name, text=source.text)
    else:
        if not file.is_file():
            sys.stderr.write(f"flowc: error: {file}: no such file\n")
            raise typer.Exit(EXIT_USAGE)
        result = Workspace().assemble(file)
    if result.flow is None:
        if result.library and not any(d.severity.value == "error" for d in result.diagnostics):
            from .render import printable

            sys.stderr.write(f"flowc: error: {printable(result.path)} is a library (shared declarations, no "
                             f"`flow`): there is nothing to {command}; give a flow file that imports it "
                             f"(`flowc check {printable(result.path)}` checks the library itself)\n")
            raise typer.Exit(EXIT_USAGE)
        raise typer.Exit(report([result], format) or EXIT_ERRORS)
    return result.flow


@app.command()
def version() -> None:
    """Print flowc's version and the data it was built with."""
    from .holidays import covered_years, data_version

    years = covered_years()
    sys.stdout.write(f"flowc {__version__}\n")
    sys.stdout.write(f"holiday calendar: {data_version()} ({years.start}-{years.stop - 1}; a later year "
                     "is refused with E309, warned about with W403)\n")
    sys.stdout.write(f"region data: {_region_data_version()}\n")


def _region_data_version() -> str:
    """Where the area-code and mobile-prefix tables come from (flowc/data/regions.json)."""
    import json

    try:  # (flowc.regions would load the tables themselves)
        sources = json.loads((Path(__file__).with_name("data") / "regions.json").read_text(encoding="utf-8")).get("sources", {})
    except (OSError, ValueError):
        return "unknown"
    phone = sources.get("phone", {})
    data = str(phone.get("data_version", ""))
    when = f", data of 20{data[:2]}-{data[2:]}" if len(data) == 4 and data.isdigit() else ""
    return (f"phone {phone.get('package_version', '?')}{when}; "
            f"phonenumbers {sources.get('phonenumbers', {}).get('package_version', '?')}")


@app.command()
def fmt(
    paths: Annotated[Optional[list[Path]], typer.Argument(help="Flow files or directories (default: the current directory); `-` reads stdin and writes stdout.", show_default=False)] = None,
    check_only: Annotated[bool, typer.Option("--check", help="Write nothing; list the files that would change and exit 1 if any would.")] = False,
    diff: Annotated[bool, typer.Option("--diff", help="Write nothing; print a unified diff of the changes (exit 1 if any).")] = False,
    stdin_filename: Annotated[Optional[str], typer.Option("--stdin-filename", help="The name diagnostics use for `-`.")] = None,
    format: FormatOpt = Format.full,
) -> None:
    """Rewrite flows in the canonical layout, keeping every comment.

    A file with syntax errors is left as it is; its diagnostics are printed and the exit
    code is 1.

    Examples:

      flowc fmt examples/

      flowc fmt --check flows/          # CI: exit 1 and the list of files to format

      flowc fmt - < shop.flow > shop.formatted.flow
    """
    import difflib
    import shutil
    import tempfile

    from .diagnostics import FlowcError
    from .fmt import format_text
    from .pipeline import Result, decode

    paths = paths or [Path(".")]
    if any(str(p) == "-" for p in paths):
        if len(paths) > 1:
            _stop_on_usage_problems(["`-` (stdin) cannot be combined with other paths"])
        name = stdin_filename or "<stdin>"
        source, diags = decode(name, sys.stdin.buffer.read())
        if source is not None:
            try:
                out = format_text(source.text, name)
            except FlowcError as exc:
                diags = exc.diagnostics
        if diags:
            raise typer.Exit(report([Result(name, None, diags, {name: source} if source else {})], format, quiet=True))
        if check_only or diff:
            if out != source.text:
                if diff:
                    sys.stdout.writelines(difflib.unified_diff(source.text.splitlines(True), out.splitlines(True), name, name))
                else:
                    sys.stdout.write(f"would reformat {name}\n")
                raise typer.Exit(EXIT_ERRORS)
            return
        sys.stdout.write(out)
        return
    files, problems = _flow_files(paths)
    _stop_on_usage_problems(problems)
    failed: list[Result] = []
    changed = 0
    for path in files:
        display = str(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            sys.stderr.write(f"flowc: error: cannot read {display}: {exc.strerror}\n")
            raise typer.Exit(EXIT_USAGE) from None
        source, diags = decode(display, data)
        if source is not None:
            try:
                out = format_text(source.text, display)
            except FlowcError as exc:
                diags = exc.diagnostics
        if diags:
            failed.append(Result(display, None, diags, {display: source} if source else {}))
            continue
        if out.encode("utf-8") == data:
            continue
        changed += 1
        if diff:
            sys.stdout.writelines(difflib.unified_diff(source.text.splitlines(True), out.splitlines(True),
                                                       f"{display} (original)", f"{display} (formatted)"))
        elif check_only:
            sys.stdout.write(f"would reformat {display}\n")
        else:
            # Atomically, keeping the file's permissions.
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(out.encode("utf-8"))
                shutil.copymode(path, tmp)
                os.replace(tmp, path)
            except OSError as exc:
                Path(tmp).unlink(missing_ok=True)
                sys.stderr.write(f"flowc: error: cannot write {display}: {exc.strerror}\n")
                raise typer.Exit(EXIT_USAGE) from None
    if failed:
        report(failed, format, quiet=True)
    verb = "would be reformatted" if check_only or diff else "reformatted"
    unchanged = len(files) - changed - len(failed)
    summary = f"{changed} file{'s' if changed != 1 else ''} {verb}, {unchanged} unchanged"
    if failed:
        summary += f", {len(failed)} with syntax errors (left untouched)"
    sys.stderr.write(summary + "\n")
    if failed or ((check_only or diff) and changed):
        raise typer.Exit(EXIT_ERRORS)


@app.command()
def lsp(
    stdio: Annotated[bool, typer.Option("--stdio", help="Talk LSP over stdin/stdout (the default; accepted for editors that pass it).")] = True,
) -> None:
    """Run the language server (LSP over stdio) for editors: diagnostics, hover, go to
    definition, references, rename, completion, outline, folding, formatting, semantic
    tokens and inlay hints. Needs the `lsp` extra: pip install 'flowc[lsp]'."""
    try:
        from .lsp.server import main as serve
    except ImportError as exc:
        sys.stderr.write(f"flowc: error: the language server needs pygls ({exc}); install it with "
                         "pip install 'flowc[lsp]'\n")
        raise typer.Exit(EXIT_USAGE) from None
    serve()


def _app_for(argv: list[str]) -> typer.Typer:
    """The app to run for `argv`: for `flowc COMMAND ...`, one that holds only COMMAND.

    Typer turns every parameter of every command into a click parameter (with a pydantic
    adapter each) before it runs any: `flowc version` paid for all of them and for importing
    pydantic. With one command only its own parameters are built. No command, an option
    first (`--help`) or an unknown word get the whole app: its listing, its usage errors."""
    word = argv[0] if argv else ""
    if not word or word.startswith("-"):
        return app
    one = typer.Typer(name=app.info.name, help=app.info.help, no_args_is_help=True, add_completion=False,
                      pretty_exceptions_enable=False, rich_markup_mode=None, context_settings=CONTEXT)
    one.callback()(_group)  # a group, so that the command keeps its name on the command line
    for info in app.registered_commands:
        if (info.name or info.callback.__name__.replace("_", "-")) == word:
            one.registered_commands = [info]
            return one
    for group in app.registered_groups:
        if group.name == word:
            one.registered_groups = [group]
            return one
    return app


def _group() -> None:
    pass


def _plain_command(argv: list[str]):
    """The callback of `flowc COMMAND` given alone, when COMMAND takes no parameters (`flowc
    version`): click would only build its `--help` option, whose coercion imports pydantic."""
    import inspect

    if len(argv) != 1:
        return None
    for info in app.registered_commands:
        if (info.name or info.callback.__name__.replace("_", "-")) == argv[0]:
            return None if inspect.signature(info.callback).parameters else info.callback
    return None


def main() -> None:
    """Console entry point. Click (inside typer) prints usage errors and exits 2 itself;
    anything unexpected becomes one line and exit 2, never a traceback."""
    # lark imports interegular, when installed, for a grammar check that flowc switches off
    # (flowc.parser; tests/test_parser.py runs it): not importing it saves ~10 ms per run.
    sys.modules.setdefault("interegular", None)
    if sys.argv[1:] in (["--version"], ["-V"]):  # nothing to parse
        sys.stdout.write(f"flowc {__version__}\n")
        return
    try:
        plain = _plain_command(sys.argv[1:])
        if plain is not None:  # nothing to parse: run it without building click's machinery
            plain()
            return
        _app_for(sys.argv[1:])()
    except KeyboardInterrupt:
        sys.stderr.write("flowc: interrupted\n")
        sys.exit(EXIT_USAGE)
    except Exception as exc:
        from .render import printable

        sys.stderr.write(f"flowc: internal error: {exc.__class__.__name__}: {printable(str(exc))}\n"
                         "please report this with the input that caused it\n")
        sys.exit(EXIT_USAGE)


# ---------------------------------------------------------------- running and testing flows


class TestFormat(str, Enum):
    text = "text"
    json = "json"


# The options of one simulated call, shared by `flowc run` and `flowc graph` (its path overlay).
CallerOpt = Annotated[Optional[str], typer.Option("--caller", help="Caller ID (default 13812345678; '' or anonymous = withheld).")]
AtOpt = Annotated[Optional[str], typer.Option("--at", "--time", help="Wall-clock time of the call, ISO 8601 (default: now, +08:00).")]
PressOpt = Annotated[Optional[list[str]], typer.Option("--press", help="Keys to press 0.5 s into the next menu (KEYS@prompt+0.5); repeatable.")]
DtmfOpt = Annotated[Optional[str], typer.Option("--dtmf", help="Caller actions in the harness grammar: 2@prompt+0.5,1@+2,hangup@+10.")]
PhoneOpt = Annotated[Optional[list[str]], typer.Option("--phone", help="NUMBER=BEHAVIOUR, e.g. 13800000001=busy or 13800000002=answer:after=5:talk=30; repeatable.")]
DefaultPhoneOpt = Annotated[Optional[str], typer.Option("--default-phone", help="Behaviour of phones not listed (default unreachable).")]
HangupAfterOpt = Annotated[Optional[float], typer.Option("--caller-hangup-after", help="The caller hangs up this many seconds after the answer.")]
PromptSecondsOpt = Annotated[Optional[float], typer.Option("--prompt-seconds", help="Length of every prompt (default 1.0).")]
MaxSecondsOpt = Annotated[Optional[float], typer.Option("--max-seconds", help="Hard limit of the call (default 120, then hangup by=timeout).")]
SeedOpt = Annotated[Optional[int], typer.Option("--seed", help="Seed of the random draws (default 0).")]
DrawOpt = Annotated[Optional[list[int]], typer.Option("--draw", help="Fix the next random draw (1..100); repeatable, used in order.")]


def _world_from_options(caller, at, press, dtmf, phone, default_phone, caller_hangup_after, prompt_seconds,
                        max_seconds, seed, draw):
    """The World of `flowc run`'s call options; usage errors exit 2."""
    from .interp import World, WorldError

    if press and dtmf:
        sys.stderr.write("flowc: error: give keys with --press or --dtmf, not both\n")
        raise typer.Exit(EXIT_USAGE)
    try:
        return World.build(caller=caller, time=at, dtmf=dtmf or [f"{k}@prompt+0.5" for k in press or []],
                           phones=phone or [], default_phone=default_phone, caller_hangup_after=caller_hangup_after,
                           prompt_seconds=prompt_seconds, max_seconds=max_seconds, seed=seed, draws=draw or [])
    except WorldError as exc:
        option = {"dtmf": "--press/--dtmf", "phones": "--phone", "time": "--at"}.get(exc.key or "", f"--{exc.key}")
        sys.stderr.write(f"flowc: error: {option}: {exc.message}\n")
        raise typer.Exit(EXIT_USAGE)


@app.command()
def run(
    file: Annotated[Path, typer.Argument(help="A flow file; `-` reads stdin.", show_default=False)],
    caller: CallerOpt = None,
    at: AtOpt = None,
    press: PressOpt = None,
    dtmf: DtmfOpt = None,
    phone: PhoneOpt = None,
    default_phone: DefaultPhoneOpt = None,
    caller_hangup_after: HangupAfterOpt = None,
    prompt_seconds: PromptSecondsOpt = None,
    max_seconds: MaxSecondsOpt = None,
    seed: SeedOpt = None,
    draw: DrawOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the full trace as JSON (docs/trace.md).")] = False,
    events: Annotated[bool, typer.Option("--events", help="Print only the observable events, one JSON object per line (normalize.py format).")] = False,
    format: FormatOpt = Format.full,
    cdr: Annotated[Optional[Path], typer.Option("--cdr", help="Also append the call's record (docs/stats.md) to this JSON Lines file.")] = None,
) -> None:
    """Run one simulated call through a flow and print what happened.

    Examples:

      flowc run examples/small_shop.flow --phone 057187654321=busy --phone 13900001111=answer:after=3

      flowc run examples/hotel_chain.flow --at 2026-11-23T10:00+08:00 --press 1 --press 2

      flowc run examples/vip_line.flow --caller 13800138000 --events > interp.jsonl
    """
    from .interp import Session

    if press and dtmf:
        sys.stderr.write("flowc: error: give keys with --press or --dtmf, not both\n")
        raise typer.Exit(EXIT_USAGE)
    if as_json and events:
        sys.stderr.write("flowc: error: --json and --events are two different outputs; choose one\n")
        raise typer.Exit(EXIT_USAGE)
    world = _world_from_options(caller, at, press, dtmf, phone, default_phone, caller_hangup_after, prompt_seconds,
                                max_seconds, seed, draw)
    session = Session(_load_flow(file, format, "run"))
    trace = session.call(world)
    if cdr is not None:
        from .stats.record import record_from_trace

        _append_cdr(cdr, [record_from_trace(trace, number=session.flow.hotline.number if session.flow.hotline else None)])
    if as_json:
        sys.stdout.write(trace.to_json() + "\n")
    elif events:
        sys.stdout.write(trace.observable_jsonl())
    else:
        sys.stdout.write(_run_header(trace) + "\n" + trace.render() + "\n")


def _append_cdr(path: Path, records: list) -> None:
    """Append call records to `path` (--cdr of run and test); I/O errors exit 2."""
    from .stats.record import write_records

    try:
        with open(path, "a", encoding="utf-8") as out:
            write_records(out, records)
    except OSError as exc:
        sys.stderr.write(f"flowc: error: --cdr {path}: {exc.strerror}\n")
        raise typer.Exit(EXIT_USAGE)


def _run_header(trace) -> str:
    summary = trace.to_dict()
    caller = summary["caller"]
    place = " ".join(p for p in (caller["province"], caller["city"]) if p)
    who = caller["digits"] or "(withheld)"
    when = trace.world.time.isoformat(timespec="minutes")
    return (f"flow {trace.flow}: call from {who} ({caller['kind']}{', ' + place if place else ''}) at {when}\n"
            f"{'time':>8}  event")


@app.command(name="test")
def test_command(
    paths: Annotated[Optional[list[Path]], typer.Argument(help="Scenario files, flows (their NAME.scenarios.yaml) or directories; default: the current directory.", show_default=False)] = None,
    coverage: Annotated[bool, typer.Option("--coverage", help="Report which steps, options and arms the scenarios reached.")] = False,
    format: Annotated[TestFormat, typer.Option("--format", "-f", help="text: like a test runner; json: one document on stdout.")] = TestFormat.text,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only failures and the summary line.")] = False,
    cdr: Annotated[Optional[Path], typer.Option("--cdr", help="Also append every simulated call's record (docs/stats.md) to this JSON Lines file.")] = None,
    junit: Annotated[Optional[Path], typer.Option("--junit", help="Also write the results as JUnit XML (GitLab, Jenkins) to this file.")] = None,
    fail_under: Annotated[Optional[float], typer.Option("--fail-under", help="Exit 1 when the coverage of all flows together is below PERCENT (implies --coverage).", metavar="PERCENT")] = None,
) -> None:
    """Run the scenarios kept next to flows (NAME.scenarios.yaml) and check their expectations.

    Exit code 0 when every scenario passed, 1 when one failed or a file has errors,
    2 when no scenario file was found.

    Examples:

      flowc test examples/

      flowc test examples/hotel_chain.flow --coverage
    """
    from .interp.runner import run_scenario_file
    from .interp.scenario import iter_scenario_files
    from .pipeline import Workspace

    targets = paths or [Path(".")]
    missing = [p for p in targets if not p.exists()]
    files = list(dict.fromkeys(iter_scenario_files([p for p in targets if p.exists()])))
    for p in missing:
        sys.stderr.write(f"flowc: error: {p}: no such file or directory\n")
    absent = [f for f in files if not f.is_file()]
    for f in absent:
        sys.stderr.write(f"flowc: error: {f}: no such scenario file\n")
    files = [f for f in files if f.is_file()]
    if missing or absent or not files:
        if not files and not missing and not absent:
            sys.stderr.write("flowc: error: no *.scenarios.yaml found in " + ", ".join(map(str, targets)) + "\n")
        raise typer.Exit(EXIT_USAGE)
    ws = Workspace()
    reports = [run_scenario_file(f, ws) for f in files]
    passed = sum(r.passed for r in reports)
    failed = sum(r.failed for r in reports)
    if cdr is not None:
        from .stats.record import scenario_records

        _append_cdr(cdr, scenario_records(reports, ws))
    coverage = coverage or fail_under is not None
    if junit is not None:
        from .interp.junit import junit_xml

        try:
            junit.write_text(junit_xml(reports), encoding="utf-8")
        except OSError as exc:
            sys.stderr.write(f"flowc: error: --junit {junit}: {exc.strerror}\n")
            raise typer.Exit(EXIT_USAGE) from None
    if format is TestFormat.json:
        _test_json(reports, passed, failed, coverage)
    else:
        _test_text(reports, passed, failed, coverage, quiet)
    if fail_under is not None:
        items = sum(len(r.coverage.items) for r in reports if r.coverage)
        reached = sum(len(r.coverage.covered) for r in reports if r.coverage)
        total = 100.0 * reached / items if items else 100.0
        if total < fail_under:
            sys.stderr.write(f"flowc: coverage {total:.1f}% ({reached}/{items}) is below --fail-under {fail_under:g}%\n")
            raise typer.Exit(EXIT_ERRORS)
    raise typer.Exit(EXIT_ERRORS if failed else EXIT_OK)


def _test_text(reports, passed: int, failed: int, coverage: bool, quiet: bool) -> None:
    out = sys.stdout
    for r in reports:
        if r.errors:
            out.write(f"{r.scenario_path}: cannot run ({len(r.errors)} error(s))\n")
            out.flush()
            report([r], Format.full, quiet=True)
            continue
        if not quiet:
            out.write(f"{r.scenario_path}\n")
        for res in r.results:
            if res.passed:
                if not quiet:
                    calls = f" ({len(res.calls)} calls)" if len(res.calls) > 1 else ""
                    out.write(f"  PASS  {res.scenario.name}{calls}\n")
                continue
            if quiet:
                out.write(f"{r.scenario_path}\n")
            out.write(f"  FAIL  {res.scenario.name}  (line {res.scenario.span.line})\n")
            for line in res.report().splitlines():
                out.write(f"        {line}\n")
    if coverage:
        out.write("coverage:\n")
        for r in reports:
            if r.coverage is None:
                continue
            out.write(f"  {r.flow_path}  {r.coverage.summary()}\n")
            for item in r.coverage.missed:
                out.write(f"    never reached: {item.where}  {item.label}\n")
    out.write(f"{passed} passed, {failed} failed\n")


def _test_json(reports, passed: int, failed: int, coverage: bool) -> None:
    import json

    from .render import to_json_record

    doc = {"passed": passed, "failed": failed, "files": []}
    for r in reports:
        doc["files"].append({
            "scenarios_file": r.scenario_path,
            "flow": r.flow_path,
            "diagnostics": [to_json_record(d) for d in r.diagnostics],
            "scenarios": [{"name": res.scenario.name, "line": res.scenario.span.line, "passed": res.passed,
                           "calls": len(res.calls), "report": None if res.passed else res.report()}
                          for res in r.results],
            "coverage": r.coverage.to_dict() if coverage and r.coverage else None,
        })
    sys.stdout.write(json.dumps(doc, ensure_ascii=False, indent=2) + "\n")


# ---------------------------------------------------------------- reviewing flows: graph and diff


class GraphFormat(str, Enum):
    svg = "svg"
    png = "png"
    dot = "dot"
    mermaid = "mermaid"
    json = "json"


@app.command()
def graph(
    file: Annotated[Path, typer.Argument(help="A flow file.", show_default=False)],
    format: Annotated[GraphFormat, typer.Option("--format", "-f", help="svg/png need Graphviz's `dot`; dot, mermaid and json need no program.")] = GraphFormat.svg,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Write here (default: stdout; png needs --out).")] = None,
    coverage: Annotated[bool, typer.Option("--coverage", help="Colour what the flow's scenarios (NAME.scenarios.yaml) reach; mark what they never reach.")] = False,
    path: Annotated[bool, typer.Option("--path", help="Draw one simulated call's path (implied by any of the call options below).")] = False,
    caller: CallerOpt = None,
    at: AtOpt = None,
    press: PressOpt = None,
    dtmf: DtmfOpt = None,
    phone: PhoneOpt = None,
    default_phone: DefaultPhoneOpt = None,
    caller_hangup_after: HangupAfterOpt = None,
    prompt_seconds: PromptSecondsOpt = None,
    max_seconds: MaxSecondsOpt = None,
    seed: SeedOpt = None,
    draw: DrawOpt = None,
    diagnostics: Annotated[Format, typer.Option("--diagnostics", help="How to print the flow's errors, if any.")] = Format.full,
) -> None:
    """Draw a flow: steps, keys, dial outcomes, branch arms, each node with its file:line.

    Examples:

      flowc graph examples/small_shop.flow --out shop.svg

      flowc graph examples/hotel_chain.flow --format mermaid > hotel.mmd

      flowc graph examples/hotel_chain.flow --coverage --out coverage.svg

      flowc graph examples/hotel_chain.flow --at 2026-11-23T10:00+08:00 --press 1 --press 2 --out call.svg
    """
    from .graph import GraphError, build, overlay_coverage, overlay_path, render_image, to_dot, to_json, to_mermaid
    from .pipeline import Workspace

    call_options = (caller, at, press, dtmf, phone, default_phone, caller_hangup_after, prompt_seconds,
                    max_seconds, seed, draw)
    if not file.is_file():
        sys.stderr.write(f"flowc: error: {file}: no such file\n")
        raise typer.Exit(EXIT_USAGE)
    if format is GraphFormat.png and out is None and sys.stdout.isatty():
        sys.stderr.write("flowc: error: --format png writes binary data: give --out FILE\n")
        raise typer.Exit(EXIT_USAGE)
    world = _world_from_options(*call_options) if path or any(x is not None for x in call_options) else None
    ws = Workspace()
    result = ws.assemble(file)
    if result.flow is None:
        raise typer.Exit(report([result], diagnostics) or EXIT_ERRORS)
    g = build(result.flow, str(file))
    if coverage:
        from .interp.runner import run_scenario_file
        from .interp.scenario import iter_scenario_files

        files = [f for f in iter_scenario_files([file]) if f.is_file()]
        if not files:
            sys.stderr.write(f"flowc: error: --coverage: no scenario file for {file} (NAME.scenarios.yaml)\n")
            raise typer.Exit(EXIT_USAGE)
        rep = run_scenario_file(files[0], ws)
        if rep.coverage is None:
            report([rep], diagnostics)
            raise typer.Exit(EXIT_ERRORS)
        overlay_coverage(g, rep.coverage)
    if world is not None:
        from .interp import Session

        overlay_path(g, Session(result.flow).call(world))
    if format is GraphFormat.json:
        data = to_json(g).encode("utf-8")
    elif format is GraphFormat.mermaid:
        data = to_mermaid(g).encode("utf-8")
    elif format is GraphFormat.dot:
        data = to_dot(g).encode("utf-8")
    else:
        try:
            data = render_image(to_dot(g), format.value)
        except GraphError as exc:
            sys.stderr.write(f"flowc: error: {exc}\n")
            raise typer.Exit(EXIT_USAGE)
    if out is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(data)
    except OSError as exc:
        sys.stderr.write(f"flowc: error: cannot write {out}: {exc.strerror}\n")
        raise typer.Exit(EXIT_USAGE) from None


class DiffFormat(str, Enum):
    text = "text"
    json = "json"


@app.command()
def diff(
    old: Annotated[str, typer.Argument(help="The old version: a flow file, a directory, or REV:path from git (HEAD~1:flows/).", show_default=False)],
    new: Annotated[str, typer.Argument(help="The new version, in the same forms.", show_default=False)],
    format: Annotated[DiffFormat, typer.Option("--format", "-f", help="text for people, json for pipelines.")] = DiffFormat.text,
    exit_zero: Annotated[bool, typer.Option("--exit-zero", help="Exit 0 even when behaviour changed (only report).")] = False,
    year: YearOpt = None,
    max_classes: Annotated[int, typer.Option("--max-classes", help="Classes of calls to explore per flow before sampling (breadth first).")] = 3_000,
) -> None:
    """Say what changed between two versions of flows, and which calls now behave differently.

    Exit code 0 when no call behaves differently, 1 when some do (0 with --exit-zero),
    2 for usage errors or flows that have errors.

    Examples:

      flowc diff old/shop.flow examples/small_shop.flow

      flowc diff HEAD~1:examples/ examples/

      flowc diff main:flows/shop.flow flows/shop.flow --format json
    """
    from .diff import diff_sides
    from .diff.report import render_json, render_text
    from .diff.sources import SourceError

    try:
        result = diff_sides(old, new, years=year, max_leaves=max_classes)
    except SourceError as exc:
        sys.stderr.write(f"flowc: error: {exc}\n")
        raise typer.Exit(EXIT_USAGE)
    sys.stdout.write(render_json(result) if format is DiffFormat.json else render_text(result))
    if result.errors:
        raise typer.Exit(EXIT_USAGE)
    raise typer.Exit(EXIT_ERRORS if result.behaviour_changed and not exit_zero else EXIT_OK)


# ---------------------------------------------------------------- call statistics (docs/stats.md)

stats_app = typer.Typer(name="stats", help="Call statistics: ingest call records, report on them (docs/stats.md).",
                        no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                        rich_markup_mode=None)
app.add_typer(stats_app, name="stats")

DbOpt = Annotated[Optional[str], typer.Option("--db", help="A DuckDB file (default flowc-stats.duckdb, or $FLOWC_STATS_DB) or postgresql://user@host/db.")]


class StatsBy(str, Enum):
    hour = "hour"
    day = "day"
    month = "month"
    step = "step"
    key = "key"
    phone = "phone"
    region = "region"
    tag = "tag"
    flow = "flow"


class StatsFormat(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"
    html = "html"


def _open_stats_store(db: Optional[str]):
    from .stats.db import StoreError, open_store

    try:
        return open_store(db)
    except StoreError as exc:
        from .render import printable

        sys.stderr.write(f"flowc: error: --db: {printable(str(exc))}\n")
        raise typer.Exit(EXIT_USAGE)


@stats_app.command("ingest")
def stats_ingest(
    files: Annotated[list[Path], typer.Argument(help="JSON Lines files of call records (flowc run/test --cdr, Asterisk's or FreeSWITCH's flowc CDR files).", show_default=False)],
    db: DbOpt = None,
    follow: Annotated[bool, typer.Option("--follow", "-F", help="Keep reading what is appended to the files (Ctrl-C stops).")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress and no summary line.")] = False,
) -> None:
    """Read call records into the statistics database. The same records twice add nothing;
    malformed lines are reported as FILE:LINE and skipped (exit 1 when there were any).

    Examples:

      flowc test examples/ --cdr calls.jsonl && flowc stats ingest calls.jsonl

      flowc stats ingest /var/log/asterisk/cdr-custom/flowc.jsonl --db postgresql://stats@db/calls --follow
    """
    from .render import printable
    from .stats.ingest import ingest_files

    missing = [f for f in files if not f.is_file()]
    for f in missing:
        sys.stderr.write(f"flowc: error: {f}: no such file\n")
    if missing:
        raise typer.Exit(EXIT_USAGE)
    store = _open_stats_store(db)
    bad = _PrintableStream(sys.stderr, printable)
    try:
        result = ingest_files(store, [str(f) for f in files], follow=follow, report_bad=bad,
                              progress=None if quiet else sys.stderr)
    finally:
        store.close()
    if not quiet:
        sys.stderr.write(f"flowc stats: {result.records:,} records in {result.lines:,} lines, {result.new:,} new calls"
                         f"{f', {len(result.bad)} malformed line(s) skipped' if result.bad else ''} -> {store.where}\n")
    raise typer.Exit(EXIT_ERRORS if result.bad else EXIT_OK)


class _PrintableStream:
    """Writes lines through render.printable (record files are data from outside)."""

    def __init__(self, stream, printable):
        self.stream = stream
        self.printable = printable

    def write(self, text: str) -> None:
        self.stream.write(self.printable(text.rstrip("\n")) + "\n")


@stats_app.command("report")
def stats_report(
    db: DbOpt = None,
    flow: Annotated[Optional[str], typer.Option("--flow", help="Only the calls of this flow.")] = None,
    start: Annotated[Optional[str], typer.Option("--from", help="Calls from this local date or time on (2026-11-01, 2026-11-01T08:00).")] = None,
    end: Annotated[Optional[str], typer.Option("--to", help="Calls before this local date or time.")] = None,
    by: Annotated[Optional[StatsBy], typer.Option("--by", help="One breakdown instead of the default console views.")] = None,
    format: Annotated[StatsFormat, typer.Option("--format", "-f", help="table, csv, json, or html (one self-contained page with charts).")] = StatsFormat.table,
    threshold: Annotated[float, typer.Option("--threshold", help="Service level: answered within this many seconds.")] = 20.0,
    short_abandon: Annotated[float, typer.Option("--short-abandon", help="Service level: abandons quicker than this (seconds) are left out.")] = 5.0,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Write here instead of standard output.")] = None,
) -> None:
    """Report on the ingested calls: volume, answer and abandonment rates, service level, waits,
    talk time, phones, menu keys, drop-off funnel, survey, regions (docs/stats.md).

    Examples:

      flowc stats report --from 2026-11-01 --to 2026-12-01

      flowc stats report --by hour --flow hotel_chain --format csv

      flowc stats report --format html --out report.html
    """
    from .stats.report import build_report, render_csv, render_json, render_table

    store = _open_stats_store(db)
    try:
        rep = build_report(store, flow=flow, start=start, end=end, by=by.value if by else None,
                           threshold=threshold, short_abandon=short_abandon)
    except ValueError as exc:
        sys.stderr.write(f"flowc: error: {exc}\n")
        raise typer.Exit(EXIT_USAGE)
    finally:
        store.close()
    if format is StatsFormat.html:
        from .stats.html import render_html

        text = render_html(rep)
    else:
        text = {StatsFormat.table: render_table, StatsFormat.csv: render_csv, StatsFormat.json: render_json}[format](rep)
    if out is None:
        sys.stdout.write(text)
        return
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        sys.stderr.write(f"flowc: error: --out {out}: {exc.strerror}\n")
        raise typer.Exit(EXIT_USAGE)
