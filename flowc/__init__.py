"""flowc: compile call flows of Chinese 400 hotlines to Asterisk and FreeSWITCH, and run them.

The pipeline, one module per phase: source -> parser -> transform (IR) -> checks ->
emitters (asterisk, freeswitch) and the interpreter. `pipeline` drives it.
"""

__version__ = "0.1.0"


def check_file(path, options=None):
    """Parse, assemble and check one flow file; returns a `pipeline.Result`."""
    from .pipeline import check_file as _check_file

    return _check_file(path, options)


def check_text(text, path="<input>", options=None):
    from .pipeline import check_text as _check_text

    return _check_text(text, path, options)
