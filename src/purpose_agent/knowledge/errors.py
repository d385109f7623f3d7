"""Expected failures of the knowledge API, as problems."""

from __future__ import annotations

from purpose_agent.kit.problems import NotFound


class CategoryNotFound(NotFound):
    title = "Category not found"
    slug = "category-not-found"
