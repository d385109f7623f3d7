"""Expected failures of the knowledge API, as problems."""

from __future__ import annotations

from purpose_agent.kit.problems import Conflict, NotFound, ProblemError


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
