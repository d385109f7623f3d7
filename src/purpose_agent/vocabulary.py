"""The names that several packages share, so that none imports another to learn them.

The LLM providers and the embedder kinds are chosen by setting and built by the domain: the
settings check a chosen name, personas accept provider names, the knowledge layer builds an
embedder by kind. Here, below all of them, none of them imports another for the list.
"""

# The LLM providers, in the order of the default chain.
KNOWN_PROVIDERS = ("gemini", "openai", "anthropic", "ollama", "local")

# local: all-MiniLM-L6-v2 on ONNX Runtime, offline; the others call a vendor's API.
EMBEDDER_KINDS = ("local", "openai", "ollama", "gemini")
