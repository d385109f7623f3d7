"""Estimated cost of a request from a price table: US dollars per million tokens, by `provider/model`."""

from __future__ import annotations

from dataclasses import dataclass

from purpose_agent.llm.types import Usage


@dataclass(frozen=True, slots=True)
class Price:
    prompt_per_million: float
    completion_per_million: float


class PriceTable:
    def __init__(self, prices: dict[str, Price]) -> None:
        self.prices = prices

    def cost(self, model_used: str, usage: Usage) -> float | None:
        """The estimated cost in US dollars, or None when the model has no price."""
        price = self.prices.get(model_used)
        if price is None:
            return None
        return round(
            (
                usage.prompt_tokens * price.prompt_per_million
                + usage.completion_tokens * price.completion_per_million
            )
            / 1_000_000,
            8,
        )
