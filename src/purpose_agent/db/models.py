"""Imports every table module so that `Base.metadata` knows them all (for Alembic's comparisons)."""

from __future__ import annotations


def import_all_models() -> None:
    """Register every table on `Base.metadata`."""
    import purpose_agent.auth.models
    import purpose_agent.chat.models
    import purpose_agent.knowledge.models
    import purpose_agent.llm.models
    import purpose_agent.personas.models  # noqa: F401
