"""Expected failures of the personas API, as problems."""

from __future__ import annotations

from purpose_agent.kit.problems import Conflict, NotFound


class PersonaNotFound(NotFound):
    title = "Persona not found"
    slug = "persona-not-found"


class PersonaExists(Conflict):
    title = "Persona already exists"
    slug = "persona-exists"


class PersonaHasSessions(Conflict):
    title = "Persona has live sessions"
    slug = "persona-has-sessions"
