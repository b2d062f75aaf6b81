"""Language-server latency, measured as an editor sees it: `flowc lsp` runs as a subprocess
and a pytest-lsp client drives it over stdio. Also the time `flowc fmt` takes on the examples.

    python bench/bench_lsp.py [--edits 60] [--queries 200]

* diagnostics: a one-line edit (didChange, incremental) of a 500-step flow, until the
  publishDiagnostics for that version arrives; includes the server's debounce
  (flowc.lsp.server.DEBOUNCE_SECONDS). Target p95 < 100 ms.
* hover and definition on names spread over the same flow. Target p95 < 20 ms.
* fmt: `format_text` of every example in-process, and `flowc fmt --check examples/` as a
  fresh process.

Measured 2026-12-04 on the 2-core development machine while two engine builds and other
test runs kept its load average at 7-9 (`python bench/bench_lsp.py`):

    diagnostics after an edit    n=60   p50  236.0 ms   p95  365.3 ms
    hover                        n=200  p50    1.6 ms   p95   14.2 ms
    definition                   n=200  p50    1.3 ms   p95   12.7 ms
    (check in-process, same flow) n=30  p50  356.0 ms   p95  520.7 ms   (CPU time p50 92 ms)
    fmt, all examples in-process n=20   median 64 ms (9 files, 10,086 characters; 34 ms in a quieter run)
    fmt, the 500-step flow       422 ms
    flowc fmt --check examples/  n=5    median 1.4 s (fresh process; `flowc check examples/` took the same)

Hover and definition meet their target (p95 < 20 ms). An edit inside one step re-parses that
step only (flowc/lsp/incremental.py), so diagnostics cost the transform and the checks of
the file (about a third of a full check: 25-60 ms of CPU for this flow in the same
conditions) plus the 15 ms debounce: before the incremental parse the same run gave p50
371 ms / p95 539 ms. Under this load the wall-clock times are 2-4 times the CPU times; the
100 ms target for diagnostics is met only on a machine that is not this busy, and a full
re-parse (an edit across steps) costs a full check.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_frontend import large_flow  # noqa: E402
from lsprotocol import types as T  # noqa: E402
from pygls.lsp.client import LanguageClient  # noqa: E402
from pytest_lsp import client_capabilities  # noqa: E402


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def show(name: str, ms: list[float]) -> None:
    print(f"{name:<28} n={len(ms):<4} p50 {statistics.median(ms):6.1f} ms   p95 {pct(ms, 95):6.1f} ms   "
          f"max {max(ms):6.1f} ms")


async def lsp(edits: int, queries: int, folder: Path) -> dict[str, list[float]]:
    text = large_flow()
    path = folder / "large.flow"
    path.write_text(text, encoding="utf-8")
    uri = path.as_uri()
    client = LanguageClient("bench-lsp", "1")
    await client.start_io(sys.executable, "-m", "flowc", "lsp")
    await client.initialize_async(T.InitializeParams(capabilities=client_capabilities("visual-studio-code"),
                                                     root_uri=folder.as_uri()))
    client.initialized(T.InitializedParams())
    arrived: dict[int, float] = {}
    waiting: dict[str, asyncio.Future] = {}

    @client.feature(T.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def on_diagnostics(params: T.PublishDiagnosticsParams):
        if params.uri == uri and params.version is not None:
            arrived[params.version] = time.perf_counter()
            fut = waiting.pop("d", None)
            if fut and not fut.done():
                fut.set_result(params)

    loop = asyncio.get_running_loop()
    waiting["d"] = loop.create_future()
    client.text_document_did_open(T.DidOpenTextDocumentParams(T.TextDocumentItem(uri, "flow", 1, text)))
    first = await waiting["d"] if "d" in waiting else None
    assert first is None or not [d for d in first.diagnostics if d.severity == T.DiagnosticSeverity.Error]
    lines = text.split("\n")
    out: dict[str, list[float]] = {"diagnostics after an edit": [], "hover": [], "definition": []}
    for i in range(edits):
        line = 12 + (i * 7) % (len(lines) - 14)
        old = lines[line]
        new = old.replace('play "p/', f'play "p{i % 3}/') if 'play "p/' in old else old + " "
        lines[line] = new
        version = i + 2
        fut = loop.create_future()
        waiting["d"] = fut
        start = time.perf_counter()
        client.text_document_did_change(T.DidChangeTextDocumentParams(
            T.VersionedTextDocumentIdentifier(uri=uri, version=version),
            [T.TextDocumentContentChangePartial(range=T.Range(T.Position(line, 0), T.Position(line, len(old))),
                                                text=new)]))
        await asyncio.wait_for(fut, 10)
        out["diagnostics after an edit"].append((arrived[version] - start) * 1000)
    # Names to ask about: the step names after `->` and the group names after `dial`.
    spots = []
    for n, line in enumerate(lines):
        for needle, off in (("-> s", 3), ("dial g", 5), ("step s", 5)):
            k = line.find(needle)
            if k >= 0:
                spots.append(T.Position(n, k + off))
    spots = spots[:: max(1, len(spots) // queries)][:queries]
    for pos in spots:
        start = time.perf_counter()
        h = await client.text_document_hover_async(T.HoverParams(T.TextDocumentIdentifier(uri), pos))
        out["hover"].append((time.perf_counter() - start) * 1000)
        assert h is not None
        start = time.perf_counter()
        d = await client.text_document_definition_async(T.DefinitionParams(T.TextDocumentIdentifier(uri), pos))
        out["definition"].append((time.perf_counter() - start) * 1000)
        assert d is not None
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()
    return out


def check_in_process(n: int = 30) -> list[float]:
    """The pipeline alone (what the server runs for diagnostics), for comparison."""
    from flowc.checks import CheckOptions
    from flowc.pipeline import Workspace

    text = large_flow()
    out, cpu = [], []
    for i in range(n):
        t = text.replace('play "p/bye"', f'play "p/bye{i}"')
        start, start_cpu = time.perf_counter(), time.process_time()
        Workspace().assemble("/tmp/large.flow", text=t, options=CheckOptions())
        out.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
    show("(same, CPU time)", cpu)
    return out


def fmt_examples() -> None:
    from flowc.fmt import _lark, format_text

    _lark()
    files = sorted((ROOT / "examples").rglob("*.flow"))
    texts = [(str(p), p.read_text(encoding="utf-8")) for p in files]
    runs = []
    for _ in range(20):
        start = time.perf_counter()
        for p, t in texts:
            format_text(t, p)
        runs.append((time.perf_counter() - start) * 1000)
    print(f"{'fmt, all examples in-process':<28} n=20   median {statistics.median(runs):6.1f} ms "
          f"({len(files)} files, {sum(len(t) for _, t in texts):,} characters)")
    big = large_flow()
    start = time.perf_counter()
    format_text(big)
    print(f"{'fmt, the 500-step flow':<28} {(time.perf_counter() - start) * 1000:6.1f} ms")
    runs = []
    for _ in range(5):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "flowc", "fmt", "--check", "examples"], cwd=ROOT, check=True,
                       capture_output=True)
        runs.append(time.perf_counter() - start)
    print(f"{'flowc fmt --check examples/':<28} n=5    median {statistics.median(runs) * 1000:6.0f} ms (fresh process)")


def main() -> None:
    import tempfile

    ap = argparse.ArgumentParser()
    ap.add_argument("--edits", type=int, default=60)
    ap.add_argument("--queries", type=int, default=200)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        results = asyncio.run(lsp(args.edits, args.queries, Path(d)))
    for name, ms in results.items():
        show(name, ms)
    show("(check in-process, same flow)", check_in_process())
    fmt_examples()


if __name__ == "__main__":
    main()
