# ruff: noqa: E501
"""Hand-written cases over the sample knowledge (`knowledge/`) for `bench/grounding.py`.

QUESTIONS: a question to an agent's category, with phrases of which at least one must be in the
sentence that answers it (what extraction should quote).
FAITHFUL: sentences a good answer to that question could say, each supported by the passages
retrieved for it: paraphrases, summaries, and the conversational glue models add.
WRONG: sentences that contradict the passages or invent what they do not say: wrong numbers and
statuses, made-up endpoints and settings, and sentences the built-in SmolLM2-135M actually wrote.
"""

from __future__ import annotations

# fmt: off
QUESTIONS: list[tuple[str, str, tuple[str, ...]]] = [
    ("support", "What does a 413 error mean?", ("A 413 means the body of your request", "413 — Too large")),
    ("support", "How do I reset a conversation?", ("without a session_id", "leave out the session_id")),
    ("support", 'What does model_used "extractive" mean?', ("no language model wrote the answer",)),
    ("support", "Why did my document fail?", ("A document fails when", "Common reasons are")),
    ("support", "How large can a document be?", ("up to 20 MB", "Document uploads have their own")),
    ("support", "What should I include when I report a problem?", ("Include the request_id",)),
    ("support", "What are the numbers in square brackets in an answer?", ("are citations",)),
    ("support", "What does a 429 error mean?", ("A 429 means", "429 — Too Many Requests")),
    ("support", "Which file types can I upload?", ("five kinds of document",)),
    ("support", "Is my personal data written to the logs?", ("through a redactor",)),
    ("support", "How do I delete a document?", ("DELETE /api/knowledge/documents/{id}",)),
    ("support", "Why does the agent forget what I said earlier?", ("only when you send the same session_id",)),
    ("general", "What is a persona?", ("A persona is a configured agent",)),
    ("general", "How long does a session last?", ("24 hours after its last message",)),
    ("general", "What is hybrid search?", ("Hybrid search runs vector search and keyword search",)),
    ("general", "What is an embedding?", ("An embedding is a list of numbers",)),
    ("general", "How do I get a streamed answer?", ("POST /api/chat/stream",)),
    ("general", "What is a circuit breaker?", ("A circuit breaker stops calling a provider",)),
    ("general", "What happens when the search finds nothing relevant?", ("abstains",)),
    ("general", "How do I start the service?", ("run make run",)),
    ("technical", "How does the circuit breaker decide to open?", ("It opens when LLM_BREAKER_FAILURE_THRESHOLD",)),
    ("technical", "What does /health/ready check?", ("GET /health/ready is readiness",)),
    ("technical", "How do I use my own PostgreSQL?", ("setting DATABASE_URL",)),
    ("technical", "Which embedding model is used by default?", ("all-MiniLM-L6-v2",)),
    ("technical", "How are the two search result lists merged?", ("combined by their scores", "standardised")),
    ("technical", "How long is the pause before a retry?", ("exponential backoff with full jitter",)),
    ("technical", "What is the maximum request body size?", ("MAX_BODY_BYTES (default 1048576",)),
    ("technical", "How do I switch to another embedder?", ("purpose-agent reindex",)),
    ("creative-writing", "How should I write dialogue?", ("Good dialogue sounds like speech",)),
    ("creative-writing", "When is telling better than showing?", ("Telling is not a mistake", "Tell what is routine")),
    ("creative-writing", "How do I choose a point of view?", ("To choose, ask three questions", "choosing it means")),
    ("creative-writing", "How should numbers be written in narrative prose?", ("spell out numbers",)),
    ("creative-writing", "What is subtext?", ("Subtext is the meaning under the words",)),
    ("creative-writing", "When should I stop revising a story?", ("A story is ready when",)),
]

# (category, question, sentence): the sentence is checked against the passages retrieved for the question.
FAITHFUL: list[tuple[str, str, str]] = [
    ("support", "What does a 413 error mean?", "A 413 error means your request body was too large for the service, so it was refused before being processed."),
    ("support", "What does a 413 error mean?", "Chat questions and searches may be at most 1 MB by default."),
    ("support", "What does a 413 error mean?", "Uploaded documents have a separate limit of 20 MB."),
    ("support", "What does a 413 error mean?", "To fix it, shorten your question or split the file into smaller documents."),
    ("support", "What does a 413 error mean?", "The detail of the error tells you the limit in bytes."),
    ("support", "How do I reset a conversation?", "Send your next question without a session_id and a new session starts."),
    ("support", "How do I reset a conversation?", "You can also delete your session with DELETE /api/sessions/{id}."),
    ("support", "How do I reset a conversation?", "Sessions expire by themselves 24 hours after the last message."),
    ("support", "How do I reset a conversation?", "The new session is not influenced by the old one."),
    ("support", "Why did my document fail?", "Your document probably failed because its content could not be read, for example because it is empty, damaged or password-protected."),
    ("support", "Why did my document fail?", "A scanned PDF without a text layer also fails."),
    ("support", "Why did my document fail?", "Fix the file and upload it again."),
    ("support", "How large can a document be?", "A single upload can be up to 20 MB by default."),
    ("support", "How large can a document be?", "If your document is too large, split it into smaller files, for example one per chapter."),
    ("support", "What should I include when I report a problem?", "Always include the request_id, which appears in every error response."),
    ("support", "What should I include when I report a problem?", "Say what you sent, what you expected and what you got."),
    ("support", 'What does model_used "extractive" mean?', "It means no language model wrote the answer; the sentences of the knowledge base that answer the question are quoted instead."),
    ("support", 'What does model_used "extractive" mean?', "The text is a direct quotation rather than a written answer."),
    ("support", "Which file types can I upload?", "You can upload PDF, DOCX, Markdown, HTML and plain text files."),
    ("support", "Which file types can I upload?", "Other files, such as images or archives, are refused with a 415 error."),
    ("support", "What does a 429 error mean?", "A 429 means you are being rate limited because you sent too many requests."),
    ("support", "What does a 429 error mean?", "Wait for the number of seconds given in the Retry-After header before you try again."),
    ("general", "What is a persona?", "A persona is a configured agent with a name, an answering style and one knowledge category."),
    ("general", "What is a persona?", "A persona only answers from the documents of its own category."),
    ("general", "How long does a session last?", "A session expires 24 hours after its last message."),
    ("general", "What is hybrid search?", "Hybrid search combines vector search and keyword search and merges their results."),
    ("general", "What is hybrid search?", "It is the default search mode."),
    ("general", "What is an embedding?", "An embedding is a vector of numbers representing the meaning of a text."),
    ("general", "What is a circuit breaker?", "A circuit breaker stops calling a provider that keeps failing."),
    ("general", "What is a circuit breaker?", "After a cool-down, one test request is allowed through."),
    ("technical", "How does the circuit breaker decide to open?", "The breaker opens after 5 consecutive failures by default."),
    ("technical", "How does the circuit breaker decide to open?", "It also opens when at least half of the calls in the window failed."),
    ("technical", "How does the circuit breaker decide to open?", "Rejected credentials open it as well."),
    ("technical", "What does /health/ready check?", "The readiness endpoint checks the database and, if configured, Redis."),
    ("technical", "What does /health/ready check?", "It never calls an LLM provider."),
    ("technical", "How do I use my own PostgreSQL?", "Set DATABASE_URL to a postgresql:// URL pointing at your server."),
    ("technical", "How do I use my own PostgreSQL?", "Your server needs the pgvector extension."),
    ("technical", "Which embedding model is used by default?", "By default the local embedder runs all-MiniLM-L6-v2 on ONNX Runtime, offline."),
    ("technical", "How do I switch to another embedder?", "After changing EMBEDDER, run purpose-agent reindex."),
    ("creative-writing", "How should I write dialogue?", "Keep only the lines that reveal character, raise tension or move the story forward."),
    ("creative-writing", "How should I write dialogue?", "Enter a conversation late and leave it early."),
    ("creative-writing", "What is subtext?", "Subtext is what lies beneath the words that characters actually say."),
    ("creative-writing", "When is telling better than showing?", "Telling is useful for pace: summarise routine events and show the pivotal ones."),
    # the glue a model adds around its facts: not claims, so never to be flagged
    ("support", "What does a 413 error mean?", "I hope this helps!"),
    ("support", "How do I reset a conversation?", "Here is how you can do it:"),
    ("support", "Why did my document fail?", "Sorry to hear that your document failed."),
    ("general", "What is a persona?", "Let me know if you have any other questions."),
    ("technical", "What does /health/ready check?", "The passages do not say how often it is called."),
]

# Written by SmolLM2-135M for these questions, with these passages (chat/prompt.py's prompt).
WRONG_BY_SMOLLM2: list[tuple[str, str, str]] = [
    ("support", "What does a 413 error mean?", "A 413 error is a JSON error that occurs when a JSON object is not properly formatted, as defined by the JSONEncoder."),
    ("support", "What does a 413 error mean?", "A 413 error is a type of server-side error that is not handled by the server."),
    ("support", "What does a 413 error mean?", "A 413 error is a type of HTTP request that can be used to create an infinite loop."),
    ("support", "What does a 413 error mean?", "When you try to access the server, it will attempt to execute your script without permission and raise a 503 response."),
    ("support", "How do I reset a conversation?", "To reset a conversation, you need to send the conversation to the server."),
    ("support", "How do I reset a conversation?", "Use the chatbots and bots for your specific needs; they have no way to erase deleted conversations from memory."),
    ("support", "How do I reset a conversation?", "Send a request to /api/conversations/reset with your session id."),
    ("support", "How do I reset a conversation?", "The server will then send a response containing the conversation's id."),
]

WRONG: list[tuple[str, str, str]] = [
    *WRONG_BY_SMOLLM2,
    # contradictions and inventions
    ("support", "What does a 413 error mean?", "A 413 means the server could not find the page you asked for."),
    ("support", "What does a 413 error mean?", "Ordinary requests may be at most 10 MB by default."),
    ("support", "What does a 413 error mean?", "Uploads are limited to 50 MB."),
    ("support", "What does a 413 error mean?", "You can raise the limit yourself with the UPLOAD_LIMIT header."),
    ("support", "How do I reset a conversation?", "Sessions expire after 7 days."),
    ("support", "How do I reset a conversation?", "Click the Reset button in the top right corner of the chat window."),
    ("support", "Why did my document fail?", "Documents fail when the worker runs out of disk space."),
    ("support", "Why did my document fail?", "Contact support to have your document restored from backup."),
    ("support", "How large can a document be?", "A single upload may be up to 2 GB."),
    ("support", "What should I include when I report a problem?", "Include your password so the administrator can log in as you."),
    ("support", 'What does model_used "extractive" mean?', "It means the answer was written by the most accurate model available."),
    ("support", "Which file types can I upload?", "You can upload Excel spreadsheets and PNG images."),
    ("support", "What does a 429 error mean?", "A 429 means the server is down for maintenance."),
    ("support", "What does a 429 error mean?", "Retry immediately in a loop until it works."),
    ("general", "What is a persona?", "A persona is a user account with administrator rights."),
    ("general", "What is a persona?", "A persona can answer from every category at once."),
    ("general", "How long does a session last?", "A session lasts for one hour."),
    ("general", "What is hybrid search?", "Hybrid search uses two different language models to write the answer."),
    ("general", "What is an embedding?", "An embedding is an image attached to a document."),
    ("general", "What is a circuit breaker?", "A circuit breaker restarts the server when it overheats."),
    ("technical", "How does the circuit breaker decide to open?", "The breaker opens after 3 consecutive failures by default."),
    ("technical", "How does the circuit breaker decide to open?", "The breaker opens when the CPU is above 90 percent."),
    ("technical", "What does /health/ready check?", "The readiness endpoint sends a test question to every LLM provider."),
    ("technical", "How do I use my own PostgreSQL?", "Set MONGODB_URI to point at your own database."),
    ("technical", "Which embedding model is used by default?", "The default embedder is text-embedding-3-large from OpenAI."),
    ("technical", "How do I switch to another embedder?", "Just change EMBEDDER and restart; no reindexing is needed."),
    ("creative-writing", "How should I write dialogue?", "Write dialogue as a full transcript of real speech, including every greeting."),
    ("creative-writing", "How should I write dialogue?", "Use elaborate tags such as she exclaimed as often as possible."),
    ("creative-writing", "What is subtext?", "Subtext is the small print at the bottom of a page."),
    ("creative-writing", "When is telling better than showing?", "Telling should never be used in fiction."),
]
# fmt: on
