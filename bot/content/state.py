"""What the per-file loaders share while one content folder loads: the base being filled, the ids
claimed so far (unique across files) and the `related` links to check once everything is in."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from bot.content.models import ContentBase, Entry
from bot.content.schema import FileReport
from bot.content.yamlio import read_yaml


@dataclass
class LoadState:
    """The loading of one folder; each file loader reads its file through it and adds what it built."""

    base: ContentBase
    today: date
    ids: dict[str, tuple[str, int]] = field(default_factory=dict)
    related: list[tuple[str, int, str, tuple[str, ...]]] = field(default_factory=list)

    @property
    def root(self) -> Path:
        """The content folder."""
        return self.base.root

    def report(self, file: str) -> FileReport:
        """A reporter for one file (its name relative to the folder)."""
        return FileReport(self.base.problems, file)

    def read(self, path: Path) -> Any:
        """The parsed file with line bookkeeping, or None (the reason is reported)."""
        rel = str(path.relative_to(self.root)) if path.is_relative_to(self.root) else str(path)
        return read_yaml(path, rel, self.base.problems)

    def read_file(self, name: str) -> Any:
        """The parsed content file `name` (under the root), or None when it is absent or unreadable (the
        reason is reported)."""
        path = self.root / name
        return self.read(path) if path.exists() else None

    def mapping_file(self, name: str, holds: str) -> tuple[dict, FileReport] | None:
        """An optional content file that must be a mapping (`holds` says of what, for the report), with its
        reporter; None when it is absent, unreadable or not a mapping (the last two reported)."""
        data = self.read_file(name)
        if data is None:
            return None
        report = self.report(name)
        if not isinstance(data, dict):
            report.problem(1, f"expected a mapping with {holds}")
            return None
        return data, report

    def claim(self, report: FileReport, ident: str, line: int) -> bool:
        """Reserve a content id; False (and reported with both places) when another item has it."""
        if ident in self.ids:
            f, ln = self.ids[ident]
            report.problem(line, f"duplicate id {ident!r} (first defined at {f}:{ln})")
            return False
        self.ids[ident] = (report.file, line)
        return True

    def add_entry(self, report: FileReport, entry: Entry) -> None:
        """Serve an entry (or keep it aside with a warning once expired); its links are checked later."""
        if entry.expired(self.today):
            report.problem(entry.line, f"entry {entry.id!r} expired on {entry.valid_until} and is not served",
                           "warning")
            self.base.expired[entry.id] = entry
        else:
            self.base.entries[entry.id] = entry
        if entry.related:
            self.related.append((report.file, entry.line, entry.id, entry.related))
