"""The log redactor: every kind it knows is replaced wherever it sits in text, ordinary text is not."""

from __future__ import annotations

import copy
import json
import re
import string
from collections.abc import Callable
from typing import Any

import pytest
import structlog
from hypothesis import assume, given
from hypothesis import strategies as st

from purpose_agent.kit.redaction import REDACTED, Redactor, iban_valid, luhn_valid

REDACTOR = Redactor()
NO_IP = Redactor(redact_ip_addresses=False)

ALNUM = string.ascii_letters + string.digits
B64URL = ALNUM + "-_"
UPPER_ALNUM = string.ascii_uppercase + string.digits

# Surrounding prose: letters (some non-ASCII), spaces and punctuation, but no digits, so it cannot
# extend a number it touches. The secret is always set off by one of the separators.
FILLER = st.text(alphabet=string.ascii_letters + " \u00e9\u00df\u0436\u4e2d,;!?'", max_size=20)
BEFORE = st.sampled_from([" ", "(", ", ", ": ", "=", "<", "\n", "\t"])
AFTER = st.sampled_from([" ", ")", ",", ".", ";", ">", "\n"])
# A prefix ending in e.g. "token " would turn the next value into a (correctly) [REDACTED] one.
SECRET_WORDS = re.compile(r"bearer|pass|secret|token|key|credential", re.IGNORECASE)


def text_of(alphabet: str, min_size: int, max_size: int) -> st.SearchStrategy[str]:
    return st.text(alphabet=alphabet, min_size=min_size, max_size=max_size)


@st.composite
def embedded(draw: st.DrawFn, secrets: st.SearchStrategy[str]) -> tuple[str, str]:
    secret = draw(secrets)
    prefix = draw(FILLER)
    assume(not SECRET_WORDS.search(prefix))
    return f"{prefix}{draw(BEFORE)}{secret}{draw(AFTER)}{draw(FILLER)}", secret


def luhn_check_digit(body: str) -> str:
    total = 0
    for position, char in enumerate(reversed(body)):
        value = int(char)
        if position % 2 == 0:  # doubled once the check digit is appended
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return str(-total % 10)


def mod97(alphanumeric: str) -> int:
    return int("".join(str(int(char, 36)) for char in alphanumeric)) % 97


@st.composite
def cards(draw: st.DrawFn) -> str:
    length = draw(st.integers(13, 19))
    body = draw(st.sampled_from("23456")) + draw(text_of(string.digits, length - 2, length - 2))
    number = body + luhn_check_digit(body)
    separator = draw(st.sampled_from(["", " ", "-"]))
    return separator.join(number[i : i + 4] for i in range(0, length, 4))


@st.composite
def ibans(draw: st.DrawFn) -> str:
    country = draw(text_of(string.ascii_uppercase, 2, 2))
    bban = draw(text_of(UPPER_ALNUM, 11, 30))
    compact = f"{country}{98 - mod97(bban + country + '00'):02d}{bban}"
    if draw(st.booleans()):
        return " ".join(compact[i : i + 4] for i in range(0, len(compact), 4))
    return compact


@st.composite
def international_phones(draw: st.DrawFn) -> str:
    country = str(draw(st.integers(1, 999)))
    groups = draw(st.lists(text_of(string.digits, 2, 4), min_size=1, max_size=5))
    assume(7 <= len(country) + sum(map(len, groups)) <= 15)
    separator = draw(st.sampled_from(["", " ", "-", "."]))
    return "+" + separator.join([country, *groups])


def digits(count: int) -> st.SearchStrategy[str]:
    return text_of(string.digits, count, count)


JWTS = st.builds("eyJ{}.{}.{}".format, text_of(B64URL, 0, 40), text_of(B64URL, 1, 80), text_of(B64URL, 0, 60))
BEARER_TOKENS = st.builds(
    "{}{}{}".format,
    text_of(ALNUM + "-._~+/", 19, 60),
    st.sampled_from(ALNUM + "-_~+/"),
    st.sampled_from(["", "=", "=="]),
).filter(lambda token: "eyJ" not in token)
API_KEYS = st.one_of(
    st.builds("sk-{}{}".format, st.sampled_from(["", "proj-", "ant-api03-"]), text_of(B64URL, 16, 60)),
    st.builds("AIza{}".format, text_of(B64URL, 35, 35)),
    st.builds("pa_{}".format, text_of(B64URL, 20, 50)),
    st.builds("gh{}_{}".format, st.sampled_from("pousr"), text_of(ALNUM, 36, 36)),
    st.builds("AKIA{}".format, text_of(UPPER_ALNUM, 16, 16)),
    st.builds("xox{}-{}".format, st.sampled_from("abprs"), text_of(ALNUM + "-", 10, 40)),
)
EMAILS = st.builds(
    "{}@{}.{}".format,
    st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._%+-]{0,11}", fullmatch=True).filter(
        lambda local: "eyJ" not in local
    ),
    st.lists(
        st.from_regex(r"[a-z0-9](?:[a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True), min_size=1, max_size=3
    ).map(".".join),
    st.from_regex(r"[a-z]{2,6}", fullmatch=True),
)
SSNS = st.builds(
    "{:03d}-{:02d}-{:04d}".format,
    st.integers(1, 899).filter(lambda area: area != 666),
    st.integers(1, 99),
    st.integers(1, 9999),
)
PHONES = st.one_of(
    international_phones(),
    st.builds("+{} ({}) {}-{}".format, st.integers(1, 99), digits(3), digits(3), digits(4)),
    st.builds("({}) {}-{}".format, digits(3), digits(3), digits(4)),
    st.builds("{}-{}-{}".format, digits(3), digits(3), digits(4)),
    st.builds("{}.{}.{}".format, digits(3), digits(3), digits(4)),
)
# Loopback and unspecified addresses are the machine's own and stay readable (tested below).
IPS = st.ip_addresses().filter(lambda address: not (address.is_loopback or address.is_unspecified)).map(str)

KINDS: list[tuple[str, st.SearchStrategy[str]]] = [
    ("[JWT]", JWTS),
    ("[API_KEY]", API_KEYS),
    ("[EMAIL]", EMAILS),
    ("[IBAN]", ibans()),
    ("[CARD]", cards()),
    ("[SSN]", SSNS),
    ("[PHONE]", PHONES),
    ("[IP]", IPS),
]


@pytest.mark.parametrize(("placeholder", "secrets"), KINDS, ids=[kind for kind, _ in KINDS])
def test_each_kind_is_replaced_wherever_it_sits(placeholder: str, secrets: st.SearchStrategy[str]) -> None:
    @given(embedded(secrets))
    def check(case: tuple[str, str]) -> None:
        text, secret = case
        redacted = REDACTOR.redact_text(text)
        assert secret not in redacted
        assert placeholder in redacted

    check()


@given(embedded(BEARER_TOKENS), st.sampled_from(["Bearer", "bearer"]))
def test_bearer_credentials_are_replaced_and_the_scheme_kept(case: tuple[str, str], scheme: str) -> None:
    text, token = case
    redacted = REDACTOR.redact_text(text.replace(token, f"{scheme} {token}"))
    assert token not in redacted
    assert f"{scheme} [BEARER]" in redacted


@given(
    embedded(text_of(ALNUM + "!#$%^*", 1, 30)), st.sampled_from(["password=", "client_secret: ", "Token="])
)
def test_values_assigned_to_secret_names_in_text_are_replaced(case: tuple[str, str], assignment: str) -> None:
    text, value = case
    redacted = REDACTOR.redact_text(text.replace(value, assignment + value))
    assert assignment + REDACTED in redacted


@given(st.text())
def test_redaction_is_idempotent_on_arbitrary_text(text: str) -> None:
    once = REDACTOR.redact_text(text)
    assert REDACTOR.redact_text(once) == once


@given(st.text(alphabet="0123456789 -.:+()@/=_[]abcdefxyzeyJAKIASNTPWORD", max_size=80))
def test_redaction_is_idempotent_on_number_heavy_text(text: str) -> None:
    once = REDACTOR.redact_text(text)
    assert REDACTOR.redact_text(once) == once


@given(st.lists(st.one_of([secrets for _, secrets in KINDS]), max_size=6), st.lists(AFTER, min_size=6))
def test_redaction_is_idempotent_on_adjacent_secrets(secrets: list[str], separators: list[str]) -> None:
    text = "".join(secret + separator for secret, separator in zip(secrets, separators, strict=False))
    once = REDACTOR.redact_text(text)
    assert REDACTOR.redact_text(once) == once


SENSITIVE_KEYS = [
    "password",
    "DB_PASSWORD",
    "passwd",
    "client_secret",
    "refresh-token",
    "X-Api-Key",
    "apiKey",
    "Authorization",
    "set-cookie",
    "Credentials",
    "private_key",
    "PrivateKey",
]
PLAIN_KEYS = ["user", "count", "path", "items", "meta", "status", "name"]
LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    text_of(string.ascii_letters + " ", 0, 15),
)


def containers(children: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    return st.one_of(
        st.lists(children, max_size=4),
        st.lists(children, max_size=4).map(tuple),
        st.dictionaries(st.sampled_from(SENSITIVE_KEYS + PLAIN_KEYS), children, max_size=4),
    )


def expected_redaction(value: object) -> object:
    if isinstance(value, dict):
        return {k: REDACTED if k in SENSITIVE_KEYS else expected_redaction(v) for k, v in value.items()}
    if isinstance(value, list):
        return [expected_redaction(item) for item in value]
    if isinstance(value, tuple):
        return tuple(expected_redaction(item) for item in value)
    return value


@given(st.recursive(LEAVES, containers, max_leaves=25))
def test_sensitive_keys_are_redacted_at_any_depth_and_the_rest_is_kept(value: object) -> None:
    original = copy.deepcopy(value)
    # Equality also tells lists from tuples, so the structure is kept exactly.
    assert REDACTOR.redact(value) == expected_redaction(value)
    assert value == original


def test_nested_values_are_redacted_by_kind_and_by_key() -> None:
    value = {"user": {"emails": ["ada@example.com"], "pin": ("123-45-6789", 7)}, "auth": {"api_key": 123}}
    assert REDACTOR.redact(value) == {
        "user": {"emails": ["[EMAIL]"], "pin": ("[SSN]", 7)},
        "auth": {"api_key": REDACTED},
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer abc123.def-456", "Authorization: Bearer [BEARER]"),
        ("bearer canaryBearerToken0123456789abcdef.", "bearer [BEARER]."),
        ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig_-1 then", "[JWT] then"),
        ("keys sk-proj-abcdefghijklmnop1234, AKIAIOSFODNN7EXAMPLE", "keys [API_KEY], [API_KEY]"),
        ("ours: pa_live_0123456789abcdefghij", "ours: [API_KEY]"),
        ("connection failed with password hunter2", "connection failed with password [REDACTED]"),
        ("{'password': 'hunter2'}", "{'password': '[REDACTED]'}"),
        ("db_password=s3cr3t&user=bob", "db_password=[REDACTED]&user=bob"),
        ("/users/canary.person@example.com/cards/4111111111111111", "/users/[EMAIL]/cards/[CARD]"),
        ("pay 4111 1111 1111 1111 12 27", "pay [CARD] 12 27"),
        ("qty 3 3782-822463-10005 and 3 4111 1111 1111 1111", "qty 3 [CARD] and 3 [CARD]"),
        ("IBAN DE89 3704 0044 0532 0130 00.", "IBAN [IBAN]."),
        ("GB82WEST12345698765432", "[IBAN]"),
        ("ssn 123-45-6789", "ssn [SSN]"),
        ("call +1 415 555 0199 now", "call [PHONE] now"),
        ("call +44 (0)20 7946 0958 or (415) 555-0199", "call [PHONE] or [PHONE]"),
        ("415.555.0199", "[PHONE]"),
        ("from 10.0.0.7:8080", "from [IP]:8080"),
        ("[2001:db8::1]:443 and ::ffff:192.0.2.1", "[[IP]]:443 and [IP]"),
        # The card only shows once the address before it is gone: redaction repeats to a fixpoint.
        ("1.2.3.4 4111 1111 1111 1111", "[IP] [CARD]"),
    ],
)
def test_examples(text: str, expected: str) -> None:
    assert REDACTOR.redact_text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "4111 1111 1111 1112",
        "4111111111111112",
        "5500-0000-0000-0005",
        "2026-11-25T19:53:49.123Z",
        "2026-11-25T19:53:49+01:00",
        "2026-11-25",
        "at 19:53:49",
        "123e4567-e89b-12d3-a456-426614174000",
        "550e8400-e29b-41d4-a716-446655440000",
        "HTTP/1.1 200 OK",
        "status=404",
        "200",
        "1234",
        "took 12.5ms",
        "12.5",
        "0.4111111111111111",
        "retry at 1732564429123",
        "0.1.0",
        "v1.2.3",
        "Python 3.11.7",
        "hello world",
        "The bearer of this note",
        "password reset requested for user 42",
        "max_tokens=512 prompt_tokens: 12",
        "std::vector a :: b",
        "00:1a:2b:3c:4d:5e",
        "sk-short",
        "request_id=crash-1",
        "d41d8cd98f00b204e9800998ecf8427e",
        "000-12-3456",
        "666-12-3456",
        "900-12-3456",
        "123-00-4567",
        "123-45-0000",
        # Luhn-valid windows of a list of numbers ("3456 123-00-4567", "2048 4096 8192 16384") are not cards.
        "000-12-3456 666-12-3456 900-12-3456 123-00-4567 123-45-0000",
        "sizes 1024 2048 4096 8192 16384 32768",
        "256.1.1.1 and 1.2.3.256",
    ],
)
def test_ordinary_text_is_unchanged(text: str) -> None:
    assert REDACTOR.redact_text(text) == text


@given(IPS)
def test_ip_addresses_are_redacted_only_when_enabled(address: str) -> None:
    text = f"client {address} connected"
    assert NO_IP.redact_text(text) == text
    assert REDACTOR.redact_text(text) == "client [IP] connected"


@given(text_of(string.digits, 1, 30), st.data())
def test_luhn_detects_every_single_digit_change(body: str, data: st.DataObject) -> None:
    number = body + luhn_check_digit(body)
    assert luhn_valid(number)
    position = data.draw(st.integers(0, len(number) - 1))
    changed = str((int(number[position]) + data.draw(st.integers(1, 9))) % 10)
    assert not luhn_valid(number[:position] + changed + number[position + 1 :])


@given(ibans())
def test_generated_ibans_are_valid(iban: str) -> None:
    assert iban_valid(iban)


@pytest.mark.parametrize(
    ("check", "candidate", "valid"),
    [
        (luhn_valid, "79927398713", True),
        (luhn_valid, "79927398710", False),
        (luhn_valid, "", False),
        (luhn_valid, "4111 1111 1111 1111", False),
        (iban_valid, "DE89 3704 0044 0532 0130 00", True),
        (iban_valid, "GB82 WEST 1234 5698 7654 33", False),
        (iban_valid, "DE89", False),
    ],
)
def test_checksums(check: Callable[[str], bool], candidate: str, valid: bool) -> None:
    assert check(candidate) is valid


def test_processor_keeps_our_metadata_and_redacts_the_rest() -> None:
    event: dict[str, Any] = {
        "timestamp": "2026-11-25T19:53:49.123Z",
        "level": "info",
        "logger": "purpose_agent.access",
        "service": "purpose-agent",
        "version": "0.1.0",
        "event": "login for alice@example.com from 10.0.0.7",
        "user": {"email": "bob@example.com", "password": "hunter2", "sessions": [{"ip": "192.168.1.20"}]},
        "api_key": None,
        "status": 200,
        "duration_ms": 12.5,
    }
    assert REDACTOR(None, "info", dict(event)) == {
        **event,
        "event": "login for [EMAIL] from [IP]",
        "user": {"email": "[EMAIL]", "password": REDACTED, "sessions": [{"ip": "[IP]"}]},
        "api_key": REDACTED,
    }


@pytest.mark.parametrize("key", ["timestamp", "level", "logger", "service", "version"])
def test_processor_passes_our_metadata_keys_through_untouched(key: str) -> None:
    assert REDACTOR(None, "info", {key: "alice@example.com"}) == {key: "alice@example.com"}


def test_processor_in_a_structlog_chain() -> None:
    logger = structlog.wrap_logger(
        structlog.ReturnLogger(), processors=[REDACTOR, structlog.processors.JSONRenderer()]
    )
    line = logger.info("card 4111 1111 1111 1111 declined", customer={"email": "a@b.co", "token": "t"})
    assert json.loads(line) == {
        "event": "card [CARD] declined",
        "customer": {"email": "[EMAIL]", "token": REDACTED},
    }


def test_usage_counts_named_like_tokens_stay_readable() -> None:
    redactor = Redactor()
    usage = {"prompt_tokens": 12, "completion_tokens": 30, "max_tokens": 256, "access_token": "abc"}
    assert redactor.redact(usage) == {
        "prompt_tokens": 12,
        "completion_tokens": 30,
        "max_tokens": 256,
        "access_token": REDACTED,
    }


def test_the_password_of_a_connection_url_is_redacted() -> None:
    text = "cannot reach postgresql://agent:Sup3r-Secret@db.internal:5432/app"
    assert Redactor().redact_text(text) == f"cannot reach postgresql://agent:{REDACTED}@db.internal:5432/app"


@pytest.mark.parametrize("own", ["127.0.0.1", "0.0.0.0", "[::1]", "127.10.0.3"])
def test_the_machines_own_addresses_stay_readable(own: str) -> None:
    line = f"Uvicorn running on http://{own}:8000"
    assert Redactor().redact_text(line) == line
