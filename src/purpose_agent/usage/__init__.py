"""Reports for admins of what the service used: `GET /api/admin/usage`."""
