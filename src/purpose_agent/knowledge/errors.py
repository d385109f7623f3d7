"""Expected failures of the knowledge API, as problems."""

from __future__ import annotations

from purpose_agent.kit.problems import Conflict, NotFound


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
