"""Expected failures of the jobs API."""

from __future__ import annotations

from purpose_agent.kit.problems import NotFound


class JobNotFound(NotFound):
    title = "Job not found"
    slug = "job-not-found"
