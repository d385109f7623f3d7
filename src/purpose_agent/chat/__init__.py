"""Chat: retrieval-grounded answers with citations, sessions that remember, streaming, OpenAI-compatible."""
