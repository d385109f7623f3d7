"""The knowledge API: categories, document uploads and their lifecycle, and search."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from typing import Annotated, Protocol

from fastapi import APIRouter, Depends, File, Form, Path, Query, Request, Response, UploadFile

from purpose_agent.audit import service as audit
from purpose_agent.auth.dependencies import AdminPrincipal, SearchPrincipal
from purpose_agent.auth.errors import OutOfScope
from purpose_agent.db.engine import SessionDep, SessionmakerDep
from purpose_agent.kit.app_context import context_of
from purpose_agent.kit.executor import BoundedExecutor
from purpose_agent.kit.pagination import Page, PageDep
from purpose_agent.kit.problems import problem_responses
from purpose_agent.knowledge import registration, repository, service
from purpose_agent.knowledge.embeddings.base import Embedder
from purpose_agent.knowledge.errors import (
    CategoryExists,
    CategoryNotEmpty,
    CategoryNotFound,
    DocumentBusy,
    DocumentNotFound,
    DocumentTooLarge,
    UnsupportedDocumentType,
)
from purpose_agent.knowledge.models import DocumentStatus
from purpose_agent.knowledge.schemas import (
    CategoryCreate,
    CategoryName,
    CategoryRead,
    DocumentAccepted,
    DocumentRead,
    SearchRequest,
    SearchResponse,
    SearchResult,
)
from purpose_agent.vocabulary import CATEGORY_PATTERN

router = APIRouter(prefix="/api/knowledge", tags=["knowledge"])

CategoryPath = Annotated[str, Path(pattern=CATEGORY_PATTERN)]


class KnowledgeContext(Protocol):
    """The parts of the application context that the knowledge routes read."""

    @property
    def embedder(self) -> Embedder: ...

    @property
    def inspection(self) -> BoundedExecutor:
        """Type detection and digests of uploads, off the event loop."""

    @property
    def upload_max_bytes(self) -> int: ...

    @property
    def agents(self) -> service.AgentCategories:
        """The categories of the agents a scoped caller may use."""


def knowledge_context(request: Request) -> KnowledgeContext:
    context: KnowledgeContext = context_of(request)
    return context


KnowledgeContextDep = Annotated[KnowledgeContext, Depends(knowledge_context)]


@router.get("/categories")
async def list_categories(session: SessionDep, _: AdminPrincipal) -> list[CategoryRead]:
    """Every category, with how many documents it holds."""
    return [
        CategoryRead(name=c.name, description=c.description, documents=count, created_at=c.created_at)
        for c, count in await repository.list_categories(session)
    ]


@router.post("/categories", status_code=201, responses=problem_responses(CategoryExists))
async def create_category(
    data: CategoryCreate, request: Request, session: SessionDep, _: AdminPrincipal
) -> CategoryRead:
    """A new, empty category."""
    category = await service.create_category(session, data.name, data.description)
    await audit.record(session, request, action="category.create", target=category.name)
    return CategoryRead(
        name=category.name, description=category.description, documents=0, created_at=category.created_at
    )


@router.delete(
    "/categories/{name}", status_code=204, responses=problem_responses(CategoryNotFound, CategoryNotEmpty)
)
async def delete_category(
    name: CategoryPath, request: Request, session: SessionDep, _: AdminPrincipal
) -> Response:
    """Delete a category that holds no documents."""
    await service.delete_category(session, name)
    await audit.record(session, request, action="category.delete", target=name)
    return Response(status_code=204)


@router.get("/documents")
async def list_documents(
    session: SessionDep,
    _: AdminPrincipal,
    page: PageDep,
    category: Annotated[CategoryName | None, Query()] = None,
    status: Annotated[DocumentStatus | None, Query()] = None,
) -> Page[DocumentRead]:
    """Documents, newest first, optionally of one category or status."""
    documents, total = await repository.list_documents(
        session,
        category=category,
        status=status.value if status else None,
        limit=page.limit,
        offset=page.offset,
    )
    items = [DocumentRead.model_validate(document) for document in documents]
    return Page[DocumentRead](items=items, total=total, limit=page.limit, offset=page.offset)


@router.post(
    "/documents",
    status_code=202,
    responses={
        200: {"model": DocumentAccepted, "description": "The same file is already stored: nothing to do"},
        **problem_responses(DocumentTooLarge, UnsupportedDocumentType, CategoryNotFound, DocumentBusy),
    },
)
async def upload_document(
    request: Request,
    response: Response,
    session: SessionDep,
    context: KnowledgeContextDep,
    _: AdminPrincipal,
    file: Annotated[UploadFile, File(description="PDF, DOCX, Markdown, HTML or plain text.")],
    category: Annotated[CategoryName, Form(description="The category the document belongs to.")],
) -> DocumentAccepted:
    """Store a document and queue its ingestion (202); the same file again changes nothing (200).

    The type is read from the content, never from the file name or the declared content type.
    """
    max_bytes = context.upload_max_bytes
    # One byte past the limit is enough to know it is too large, without reading the rest.
    data = await file.read(max_bytes + 1)
    added = await registration.register_document(
        session,
        category=category,
        name=registration.source_name(file.filename or ""),
        data=data,
        max_bytes=max_bytes,
        inspection=context.inspection,
    )
    await audit.record(
        session,
        request,
        action="document.upload",
        target=str(added.document.id),
        details={"outcome": added.outcome, "category": category, "source_name": added.document.source_name},
    )
    if added.outcome is registration.RegistrationOutcome.unchanged:
        response.status_code = 200
    return DocumentAccepted.of(added)


@router.post(
    "/documents/{document_id}/reingest", status_code=202, responses=problem_responses(DocumentNotFound)
)
async def reingest_document(
    document_id: uuid.UUID, request: Request, session: SessionDep, _: AdminPrincipal
) -> DocumentAccepted:
    """Queue the document's ingestion again from its stored bytes (after a failure, or a new chunking)."""
    document = await service.get_document(session, document_id)
    job_id = await registration.queue_ingestion(session, document)
    await audit.record(session, request, action="document.reingest", target=str(document_id))
    return DocumentAccepted.of(
        registration.Registration(document, job_id, registration.RegistrationOutcome.replaced)
    )


@router.get("/documents/{document_id}", responses=problem_responses(DocumentNotFound))
async def get_document(document_id: uuid.UUID, session: SessionDep, _: AdminPrincipal) -> DocumentRead:
    """One document: status, last error, pages, chunks and progress."""
    return DocumentRead.model_validate(await service.get_document(session, document_id))


@router.delete("/documents/{document_id}", status_code=204, responses=problem_responses(DocumentNotFound))
async def delete_document(
    document_id: uuid.UUID, request: Request, session: SessionDep, _: AdminPrincipal
) -> Response:
    """Delete a document with its stored bytes and chunks."""
    await service.delete_document(session, document_id)
    await audit.record(session, request, action="document.delete", target=str(document_id))
    return Response(status_code=204)


@router.post("/search", responses=problem_responses(OutOfScope, CategoryNotFound))
async def search(
    data: SearchRequest,
    sessionmaker: SessionmakerDep,
    context: KnowledgeContextDep,
    principal: SearchPrincipal,
) -> SearchResponse:
    """The passages that best match `query`, in one category or all (all the caller's agents' when its
    scope limits it to some agents), by hybrid, vector or keyword search."""
    hits = await service.scoped_search(sessionmaker, context.embedder, context.agents, principal, data)
    results = [
        SearchResult.model_validate({**asdict(hit), "heading_path": list(hit.heading_path)}) for hit in hits
    ]
    return SearchResponse(results=results)
