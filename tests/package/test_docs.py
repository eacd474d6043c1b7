"""The docs match the code: links resolve, and docs/architecture.md names only what exists."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("envs", "perception", "dynamics", "agent", "experiments")


def markdown_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "*.md"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    return [ROOT / f for f in listed if (ROOT / f).exists()]


def test_every_relative_link_in_the_docs_resolves():
    broken = [
        f"{path.relative_to(ROOT)} -> {target}"
        for path in markdown_files()
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", path.read_text())
        if not target.startswith(("http://", "https://", "mailto:")) and not (path.parent / target).exists()
    ]
    assert not broken, "broken links: " + "; ".join(broken)


def defined_names() -> set[str]:
    """Every class, function and module-level or attribute name assigned in the package sources."""
    names: set[str] = set()
    for package in PACKAGES:
        for source in (ROOT / package).rglob("*.py"):
            text = source.read_text()
            names |= set(re.findall(r"^\s*(?:class|def)\s+([A-Za-z_]\w*)", text, re.M))
            names |= set(re.findall(r"^([A-Za-z_]\w*)\s*[:=]", text, re.M))
    return names


def test_the_architecture_page_names_only_modules_names_and_commands_that_exist():
    text = (ROOT / "docs" / "architecture.md").read_text()
    missing = []
    for section in re.split(r"^## ", text, flags=re.M):
        folder = section.split("/", 1)[0] if section.split("/", 1)[0] in PACKAGES else None
        for module in re.findall(r"`(\w+\.py)`", section):
            if folder and not (ROOT / folder / module).exists():
                missing.append(f"{folder}/{module}")
    names = defined_names()
    for token in re.findall(r"`([A-Za-z_][\w]*)(?:\([^`]*\))?(?: -> \w+)?`", text):
        if (token[0].isupper() or "_" in token) and token not in names and token not in ("PeftModel", "LightningCLI", "MessagePassing", "AsyncVectorEnv",
                                                                                           "AutoModelForImageTextToText", "Text", "TASKS"):
            missing.append(token)
    from physground.experiments.cli import build_parser

    commands = set(build_parser()._subparsers._group_actions[0].choices)
    block = text.split("## CLI", 1)[1]
    for command in re.findall(r"(?:physground |\| )([a-z][a-z-]+)", block):
        if command not in commands:
            missing.append(f"physground {command}")
    assert not missing, "docs/architecture.md names what the code lacks: " + ", ".join(missing)
