"""Folder ingestion: `PATH/{category}/**` into the knowledge base, idempotent by content hash.

The first folder under the root names the category (created when missing); the rest of the path
is the document's source name. Each file is registered in a transaction of its own, so one bad
file is reported and skipped while the others go on. Unchanged files queue nothing; changed ones
queue a re-ingestion; with `prune`, folder-ingested documents whose files are gone are deleted
(uploaded documents are never touched by a prune).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from purpose_agent.kit.problems import ProblemError
from purpose_agent.knowledge.models import Category, Document, DocumentOrigin
from purpose_agent.knowledge.registration import SOURCE_NAME_MAX, RegistrationOutcome, register_document
from purpose_agent.vocabulary import CATEGORY_PATTERN


class NotInCategory(ValueError):
    """The file cannot be placed in a category; the message says why."""


@dataclass(frozen=True, slots=True)
class FolderFile:
    path: Path
    category: str
    name: str


@dataclass(frozen=True, slots=True)
class FileResult:
    path: Path
    category: str | None
    name: str | None
    # created | replaced | unchanged | skipped
    outcome: str
    job_id: int | None = None
    reason: str | None = None


@dataclass(slots=True)
class FolderReport:
    files: list[FileResult] = field(default_factory=list)
    pruned: list[tuple[str, str]] = field(default_factory=list)

    def count(self, outcome: str) -> int:
        return sum(1 for result in self.files if result.outcome == outcome)

    @property
    def job_ids(self) -> list[int]:
        return [
            r.job_id
            for r in self.files
            if r.job_id is not None and r.outcome != RegistrationOutcome.unchanged
        ]


def place(relative: PurePosixPath) -> tuple[str, str]:
    """The category and source name of a file at `relative` below the root; `NotInCategory` if none."""
    parts = relative.parts
    if len(parts) < 2:
        raise NotInCategory("files directly under the root belong to no category; put them in a folder")
    category, name = parts[0], "/".join(parts[1:])
    if not re.fullmatch(CATEGORY_PATTERN, category):
        raise NotInCategory(
            f"the folder name {category!r} is not a category name "
            "(lower-case letters, digits and '-', at most 63, starting with a letter or digit)"
        )
    if len(name) > SOURCE_NAME_MAX:
        raise NotInCategory(f"the path below the category is longer than {SOURCE_NAME_MAX} characters")
    return category, name


def scan(root: Path) -> tuple[list[FolderFile], list[FileResult]]:
    """The files to ingest under `root`, and those that cannot be placed; hidden files are ignored."""
    found, unplaced = [], []
    for path in sorted(root.rglob("*")):
        relative = PurePosixPath(path.relative_to(root).as_posix())
        if any(part.startswith(".") for part in relative.parts) or not path.is_file():
            continue
        try:
            category, name = place(relative)
        except NotInCategory as exc:
            unplaced.append(FileResult(path, None, None, "skipped", reason=str(exc)))
            continue
        found.append(FolderFile(path, category, name))
    return found, unplaced


async def ingest_folder(
    sessionmaker: async_sessionmaker[AsyncSession],
    root: Path,
    *,
    max_bytes: int,
    prune: bool = False,
    on_file: Callable[[FileResult], None] | None = None,
) -> FolderReport:
    """Register every file under `root` and queue the ingestion of new and changed ones."""
    files, unplaced = scan(root)
    report = FolderReport(files=list(unplaced))
    for result in unplaced:
        if on_file is not None:
            on_file(result)
    for item in files:
        result = await _ingest_file(sessionmaker, item, max_bytes)
        report.files.append(result)
        if on_file is not None:
            on_file(result)
    if prune:
        # A file that is still there keeps its document, even when it was skipped this time.
        present = {(item.category, item.name) for item in files}
        report.pruned = await _prune(sessionmaker, present)
    return report


async def _ingest_file(
    sessionmaker: async_sessionmaker[AsyncSession], item: FolderFile, max_bytes: int
) -> FileResult:
    size = item.path.stat().st_size
    if size > max_bytes:
        reason = f"{size} bytes is over the limit of {max_bytes} bytes"
        return FileResult(item.path, item.category, item.name, "skipped", reason=reason)
    try:
        async with sessionmaker() as session, session.begin():
            await session.execute(
                insert(Category)
                .values(name=item.category, description="")
                .on_conflict_do_nothing(index_elements=[Category.name])
            )
            added = await register_document(
                session,
                category=item.category,
                name=item.name,
                data=item.path.read_bytes(),
                max_bytes=max_bytes,
                origin=DocumentOrigin.folder,
            )
    except ProblemError as exc:  # unsupported type, too large, busy: this file only
        return FileResult(item.path, item.category, item.name, "skipped", reason=exc.detail)
    return FileResult(item.path, item.category, item.name, added.outcome.value, job_id=added.job_id)


async def _prune(
    sessionmaker: async_sessionmaker[AsyncSession], present: set[tuple[str, str]]
) -> list[tuple[str, str]]:
    async with sessionmaker() as session, session.begin():
        rows = await session.execute(
            select(Document.id, Document.category, Document.source_name).where(
                Document.origin == DocumentOrigin.folder.value
            )
        )
        gone = [(id_, category, name) for id_, category, name in rows if (category, name) not in present]
        if gone:
            await session.execute(delete(Document).where(Document.id.in_([id_ for id_, _, _ in gone])))
    return [(category, name) for _, category, name in gone]
