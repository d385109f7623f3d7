"""Who is calling: API keys with roles, and the dependencies every route declares."""
