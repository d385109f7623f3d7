"""`purpose-agent eval`: a question set run against a live service over HTTP, scored and reported.

The package is a client: it reaches the service only through its HTTP API (import-linter forbids it
the domain packages), so it measures what users get, from any machine.

    questions.py  the question-set file: reading, validation, errors naming file, entry and field
    answers.py    what the service answered one question: citations, abstained, grounded, latency
    client.py     GET /api/agents and POST /api/chat with an API key; the exceptions that stop a run
    scoring.py    the metrics (hit@1, hit@5, abstentions, groundedness, latency) and the thresholds
    running.py    the agents checked first, then each question asked in turn
    report.py     the plain-text table and the JSON document
"""
