"""The audit log: who did what to which, from where and when; kept apart from what it audits."""
