"""Engine objects a rendered flow defines in namespaces that every flow on one PBX shares
(contexts, queues, music classes, mailboxes, AstDB and mod_db keys, fifos, directory domains),
read back from the generated files, so that a deploy can refuse two flows that define one.

flowc/names.py gives each flow its own names (`<prefix><flow>…`, a voicemail context or
directory domain per flow), so flows compiled with the same settings never clash unless two
flows have one identifier; settings that share a namespace on purpose (`voicemail_context`,
`voicemail_domain`) and files compiled at different times are what this check is for.

    names = {src: engine_names("asterisk", files) for src, files in rendered.items()}
    for name, sources in clashes(names).items(): ...
"""

from __future__ import annotations

import re
from collections import defaultdict

_SECTION = re.compile(r"^\[([^\]\s]+)\]", re.M)
_AST_DB = re.compile(r"\bDB\(([^)]+)\)")
_AST_BOX = re.compile(r"^([A-Za-z0-9_]+) =>", re.M)
_FS_CONTEXT = re.compile(r'<context name="([^"]+)"')
_FS_FIFO = re.compile(r'<fifo name="([^"]+)"')
_FS_DOMAIN = re.compile(r'<domain name="([^"]+)"')
_FS_VOICEMAIL = re.compile(r'application="voicemail" data="\S+ (\S+) ([^"\s]+)"')
_FS_DB = re.compile(r"\bdb\((?:select|insert)/([^/)]+/[^/)]+)")
_FS_DB_ACTION = re.compile(r'application="db" data="insert/([^/"]+/[^/"]+)/')


def engine_names(target: str, files: dict[str, str]) -> set[str]:
    """`kind:name` for every engine object the files of one flow define (`render()` output,
    relative path -> text), lower case (engines compare several of them ignoring case).
    Kinds: file, context, queue, moh, mailbox (`box@context|domain`), domain, astdb, db, fifo."""
    out: set[str] = set()
    for rel, text in files.items():
        out.add(f"file:{rel}")
        if target == "asterisk":
            if rel.endswith(".queues.conf"):
                out.update(f"queue:{q}" for q in _SECTION.findall(text))
            elif rel.endswith(".musiconhold.conf"):
                out.update(f"moh:{c}" for c in _SECTION.findall(text))
            elif rel.endswith(".voicemail.conf"):
                context = None
                for line in text.splitlines():
                    m = _SECTION.match(line)
                    if m:
                        context = m.group(1)
                        continue
                    m = _AST_BOX.match(line)
                    if m and context:
                        out.add(f"mailbox:{m.group(1)}@{context}")
            elif rel.endswith(".conf"):
                out.update(f"context:{c}" for c in _SECTION.findall(text))
                out.update(f"astdb:{k}" for k in _AST_DB.findall(text))
        elif target == "freeswitch":
            out.update(f"context:{c}" for c in _FS_CONTEXT.findall(text))
            out.update(f"fifo:{f}" for f in _FS_FIFO.findall(text))
            out.update(f"domain:{d}" for d in _FS_DOMAIN.findall(text))
            out.update(f"mailbox:{box}@{domain}" for domain, box in _FS_VOICEMAIL.findall(text))
            out.update(f"db:{k}" for k in _FS_DB.findall(text))
            out.update(f"db:{k}" for k in _FS_DB_ACTION.findall(text))
        else:
            raise ValueError(f"unknown target {target!r}")
    return {name.lower() for name in out}


def clashes(names_by_source: dict[str, set[str]]) -> dict[str, list[str]]:
    """{name: [sources, sorted]} for every name that more than one source defines."""
    owners: dict[str, list[str]] = defaultdict(list)
    for source, names in names_by_source.items():
        for name in names:
            owners[name].append(source)
    return {name: sorted(srcs) for name, srcs in sorted(owners.items()) if len(srcs) > 1}
