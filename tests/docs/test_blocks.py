"""Every fenced block of README.md and docs/*.md is tagged, and every command block is runnable or marked.

The blocks themselves run in tests/docs/test_run_blocks.py (slow); this check is what the default suite keeps.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.docs.blocks import Block, blocks, problems


def test_every_block_is_tagged_and_every_command_block_runnable_or_marked(repo: Path) -> None:
    found = blocks(repo)
    assert sum(b.is_command for b in found) >= 8, "the docs lost their command blocks?"
    assert [p for b in found for p in problems(b)] == []


def _docs(folder: Path, readme: str, **docs: str) -> list[Block]:
    (folder / "docs").mkdir()
    (folder / "README.md").write_text(readme)
    for name, text in docs.items():
        (folder / "docs" / f"{name}.md").write_text(text)
    return blocks(folder)


def test_blocks_come_in_reading_order_with_their_markers(tmp_path: Path) -> None:
    found = _docs(tmp_path, "# x\n\n```bash\nautoml studies\n```\n\n<!-- docs-test: skip (a server) -->\n"
                  "```bash\nautoml ui\n```\n", b="```console\n$ automl run p.yaml\nbest trial 0\n```\n",
                  a="```yaml\nname: x\n```\n")
    assert [(b.where, b.lang, b.skip) for b in found] == [
        ("README.md:3", "bash", None), ("README.md:8", "bash", "a server"), ("docs/a.md:1", "yaml", None),
        ("docs/b.md:1", "console", None)]
    assert found[3].script() == "automl run p.yaml"


def test_commands_join_continuations_and_drop_comments() -> None:
    block = Block("README.md", 1, "bash", "automl run p.yaml \\\n  --trials 2   # two\n"
                  "automl schema > s.json && automl studies | head -3  # '#' inside: fine")
    assert block.commands() == ["automl run p.yaml --trials 2", "automl schema > s.json", "automl studies",
                                "head -3"]


@pytest.mark.parametrize("text, why", [
    ("docker run automl", "not a known program"),
    ("automl ui quickstart", "cannot run in a test"),
    (".venv/bin/automl ui", "cannot run in a test"),
    ("make test", "cannot run in a test"),
    ("kubectl apply -f job.yaml", "not a known program"),
])
def test_what_cannot_run_must_be_marked(text: str, why: str) -> None:
    found = problems(Block("README.md", 1, "bash", text))
    assert found and why in found[0]
    assert problems(Block("README.md", 1, "bash", text, skip="a server")) == []


def test_an_untagged_block_or_a_marker_without_reason_is_a_problem() -> None:
    assert "without a language" in problems(Block("README.md", 1, "", "automl studies"))[0]
    assert "without a reason" in problems(Block("README.md", 1, "bash", "automl ui", skip=""))[0]
