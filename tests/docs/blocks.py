"""The command blocks of README.md and docs/*.md, in the order a reader meets them.

A fenced block tagged ``bash``, ``sh`` or ``console`` is a command block (in ``console`` blocks only the lines
that start with ``$ `` are commands). Every fenced block carries a language tag, so none escapes the test by
accident. A block that cannot run in a test (a server that waits for Ctrl-C, docker, kubectl, a suite that
takes an hour) is marked on the line before its fence:

    <!-- docs-test: skip (the MLflow UI serves until Ctrl-C) -->
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

COMMAND_LANGS = ("bash", "sh", "console")
SKIP = re.compile(r"<!--\s*docs-test:\s*skip\s*\((?P<reason>[^)]*)\)\s*-->")
FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>```+)\s*(?P<lang>[\w+-]*)\s*$")
#: what a documented command may start with
PROGRAMS = ("automl", ".venv/bin/automl", "make", "python", ".venv/bin/python", "source", "cat", "ls", "head",
            "tail", "grep", "cp", "mkdir", "cd", "echo", "wait")
#: commands that never end on their own or need what a test machine lacks: their blocks must be marked
NEVER_RUN = (re.compile(r"^(\.venv/bin/)?automl ui\b"), re.compile(r"^(\.venv/bin/)?mlflow (ui|server)\b"),
             re.compile(r"^(docker|kubectl|helm|sudo)\b"), re.compile(r"^make test\b"))


@dataclass
class Block:
    file: str  # relative to the repository
    line: int  # the opening fence's line, from 1
    lang: str
    text: str
    skip: str | None = None  # the marker's reason

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    @property
    def is_command(self) -> bool:
        return self.lang in COMMAND_LANGS

    def script(self) -> str:
        """The block as bash runs it (a console block's ``$ `` lines only)."""
        if self.lang != "console":
            return self.text
        return "\n".join(line[2:] for line in self.text.splitlines() if line.startswith("$ "))

    def commands(self) -> list[str]:
        """Each simple command of the block (continuations joined, comments dropped, split at ; && || |)."""
        joined = re.sub(r"\\\n", " ", self.script())
        out = []
        for line in joined.splitlines():
            try:
                lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|")
                lexer.whitespace_split = True
                lexer.commenters = "#"
                tokens = list(lexer)
            except ValueError as exc:
                raise ValueError(f"{self.where}: cannot parse {line!r}: {exc}") from None
            current: list[str] = []
            for token in [*tokens, ";"]:
                if token in (";", "&&", "||", "|", "&"):
                    if current:
                        out.append(" ".join(current))
                    current = []
                else:
                    current.append(token)
        return out


def doc_files(repo: Path) -> list[Path]:
    return [repo / "README.md", *sorted((repo / "docs").glob("*.md"))]


def blocks(repo: Path) -> list[Block]:
    """Every fenced block of README.md, then docs/*.md by name, in order."""
    found = []
    for path in doc_files(repo):
        lines = path.read_text().splitlines()
        i = 0
        while i < len(lines):
            m = FENCE.match(lines[i])
            if not m:
                i += 1
                continue
            end = next((j for j in range(i + 1, len(lines)) if lines[j].strip() == m["fence"]), None)
            if end is None:
                raise ValueError(f"{path.name}:{i + 1}: a fence that is never closed")
            before = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
            marker = SKIP.search(before)
            body = "\n".join(line[len(m["indent"]):] for line in lines[i + 1:end])
            found.append(Block(str(path.relative_to(repo)), i + 1, m["lang"], body,
                               marker["reason"].strip() if marker else None))
            i = end + 1
    return found


def problems(block: Block) -> list[str]:
    """Why a block is neither runnable nor marked (empty: fine)."""
    if not block.lang:
        return [f"{block.where}: a fenced block without a language (bash, console, yaml, python, text, ...)"]
    if block.skip is not None:
        return [] if block.skip else [f"{block.where}: a skip marker without a reason"]
    if not block.is_command:
        return []
    found = []
    for command in block.commands():
        program = command.split()[0]
        if program not in PROGRAMS and "=" not in program:
            found.append(f"{block.where}: `{command}` starts with {program!r}, not a known program "
                         f"({', '.join(PROGRAMS)}); mark the block if it cannot run in a test")
        if any(p.match(command) for p in NEVER_RUN):
            found.append(f"{block.where}: `{command}` cannot run in a test: mark the block "
                         "<!-- docs-test: skip (reason) -->")
    return found
