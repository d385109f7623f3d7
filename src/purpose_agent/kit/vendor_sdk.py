"""What calling any vendor's SDK needs alike: the LLM adapters' and the remote embedders'."""

from __future__ import annotations

# Given no key, vendor SDKs look for one themselves, in the environment (OPENAI_API_KEY...) and in
# profile files on disk, which only our settings may read; some refuse to start without one. This
# stands in for a missing key: a provider without one reports itself unconfigured and is never
# called, and servers that speak a vendor's API often need none.
NO_KEY = "not-configured"

# What reading a vendor payload raises when fields are missing or of the wrong type: JSON and pydantic
# errors are ValueErrors, the SDKs that build their models without validation fail on access, and so
# do our own checks of what came back.
PAYLOAD_ERRORS: tuple[type[Exception], ...] = (ValueError, KeyError, IndexError, TypeError, AttributeError)
