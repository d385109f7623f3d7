"""Background jobs on procrastinate: deferring in a request's transaction, the worker, job status."""
