"""Folder ingestion on the real database: categories from folders, idempotence by hash, prune."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from purpose_agent.knowledge.folder import NotInCategory, ingest_folder, place
from purpose_agent.knowledge.models import Category, Document

segment = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_. ", min_size=1, max_size=12).filter(
    lambda part: part not in {".", ".."} and part.strip() == part
)
category_name = st.from_regex(r"[a-z0-9][a-z0-9-]{0,20}", fullmatch=True)


@given(category=category_name, rest=st.lists(segment, min_size=1, max_size=4))
def test_the_category_of_a_file_is_its_first_folder_under_the_root(category: str, rest: list[str]) -> None:
    """PROPERTIES 14."""
    assert place(PurePosixPath(category, *rest)) == (category, "/".join(rest))


@pytest.mark.parametrize("relative", ["loose.md", "Not Valid/x.md", "-dash/x.md"])
def test_a_file_outside_a_valid_category_folder_cannot_be_placed(relative: str) -> None:
    with pytest.raises(NotInCategory):
        place(PurePosixPath(relative))


def write(root: Path, relative: str, data: bytes) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


async def documents(session: AsyncSession) -> dict[tuple[str, str], str]:
    rows = await session.execute(select(Document.category, Document.source_name, Document.sha256))
    return {(category, name): digest for category, name, digest in rows}


async def test_a_folder_is_registered_once_updated_when_changed_and_pruned(
    tmp_path: Path, session: AsyncSession, test_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    write(tmp_path, "support/faq.md", b"# FAQ\n\nRestart the kettle.\n")
    write(tmp_path, "support/guides/setup.txt", b"Plug it in.")
    write(tmp_path, "support/.hidden.md", b"# Draft\n")
    write(tmp_path, "support/tool.pdf", b"\x7fELF\x02\x01\x01" + bytes(64))
    write(tmp_path, "stray.md", b"# Stray\n")

    first = await ingest_folder(test_sessionmaker, tmp_path, max_bytes=1_000_000)
    assert (first.count("created"), first.count("skipped")) == (2, 2)
    skipped = {result.path.name: result.reason for result in first.files if result.outcome == "skipped"}
    assert "executable" in (skipped["tool.pdf"] or "")
    assert "no category" in (skipped["stray.md"] or "")
    assert await session.get(Category, "support") is not None
    assert set(await documents(session)) == {("support", "faq.md"), ("support", "guides/setup.txt")}
    jobs = await session.scalar(text("SELECT count(*) FROM procrastinate_jobs WHERE status = 'todo'"))
    assert jobs == 2

    again = await ingest_folder(test_sessionmaker, tmp_path, max_bytes=1_000_000)
    assert again.count("unchanged") == 2
    assert again.job_ids == []

    write(tmp_path, "support/faq.md", b"# FAQ\n\nDescale the kettle.\n")
    (tmp_path / "support/guides/setup.txt").unlink()
    before = await documents(session)
    changed = await ingest_folder(test_sessionmaker, tmp_path, max_bytes=1_000_000, prune=True)
    assert changed.count("replaced") == 1
    assert changed.pruned == [("support", "guides/setup.txt")]
    after = await documents(session)
    assert set(after) == {("support", "faq.md")}
    assert after[("support", "faq.md")] != before[("support", "faq.md")]


async def test_prune_never_removes_uploaded_documents(
    tmp_path: Path, session: AsyncSession, test_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    from purpose_agent.knowledge.registration import register_document

    session.add(Category(name="support", description=""))
    await register_document(session, category="support", name="upload.txt", data=b"hi", max_bytes=100)
    await session.flush()
    (tmp_path / "support").mkdir()
    report = await ingest_folder(test_sessionmaker, tmp_path, max_bytes=100, prune=True)
    assert report.pruned == []
    assert set(await documents(session)) == {("support", "upload.txt")}


async def test_a_file_over_the_limit_is_skipped_without_being_read(
    tmp_path: Path, test_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    write(tmp_path, "support/big.txt", b"a" * 2048)
    report = await ingest_folder(test_sessionmaker, tmp_path, max_bytes=1024)
    [result] = report.files
    assert result.outcome == "skipped"
    assert "over the limit of 1024 bytes" in (result.reason or "")
