"""Expected failures of the knowledge API, as problems."""

from __future__ import annotations

from fastapi import FastAPI

from purpose_agent.kit.error_handlers import retry_later
from purpose_agent.kit.problems import Conflict, NotFound, ProblemError
from purpose_agent.knowledge.embeddings.base import EmbeddingError


class CategoryNotFound(NotFound):
    title = "Category not found"
    slug = "category-not-found"


class CategoryExists(Conflict):
    title = "Category already exists"
    slug = "category-exists"


class CategoryNotEmpty(Conflict):
    title = "Category is not empty"
    slug = "category-not-empty"


class DocumentNotFound(NotFound):
    title = "Document not found"
    slug = "document-not-found"


class DocumentTooLarge(ProblemError):
    status = 413
    title = "Document too large"
    slug = "document-too-large"


class UnsupportedDocumentType(ProblemError):
    status = 415
    title = "Unsupported document type"
    slug = "unsupported-document-type"


class DocumentBusy(Conflict):
    title = "Document is being uploaded"
    slug = "document-busy"


def install_embedder_problem_handler(app: FastAPI) -> None:
    """Answer an embedder that fails (a remote one down, refusing or timing out) with a 503 problem and
    Retry-After: searching and answering from the knowledge need it, and it comes back by itself."""
    app.add_exception_handler(
        EmbeddingError,
        retry_later(
            "Embedder unavailable",
            "The embedding service did not answer; retry in a moment.",
            "embedder-unavailable",
            retry_after="5",
        ),
    )
