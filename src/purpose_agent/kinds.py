"""The names of the parts a deployment chooses by setting: LLM providers and embedders.

Here, below both, so that the settings can check a chosen name and the domain packages can build or
accept one, without either importing the other.
"""

# The LLM providers, in the order of the default chain.
KNOWN_PROVIDERS = ("gemini", "openai", "anthropic", "ollama", "local")

# local: all-MiniLM-L6-v2 on ONNX Runtime, offline; the others call a vendor's API.
EMBEDDER_KINDS = ("local", "openai", "ollama", "gemini")
