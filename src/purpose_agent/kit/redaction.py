"""The one redaction step in front of every log sink: personal data and secrets become typed placeholders.

It runs on every log line, so it is our own precompiled regular expressions (plus Luhn, mod-97 and
`ipaddress` checks) rather than Presidio or scrubadub: those pull in spaCy/nltk models, are slow
per line, and their model-based answers can change between versions, while a log redactor has to
be fast, deterministic and dependency-free. Recall is bounded by the shapes below; keys that name a
secret (`password`, `token`, ...) are redacted whatever their value looks like.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Callable, MutableMapping
from typing import Any, Final

__all__ = ["REDACTED", "Redactor", "iban_valid", "luhn_valid"]

REDACTED: Final = "[REDACTED]"

# Produced by our own processors (timestamps, levels, names): never personal data, and rewriting
# them would break log queries.
_PASSTHROUGH_KEYS: Final = frozenset({"timestamp", "level", "logger", "service", "version"})
# Matched after lower-casing and dropping "-" and "_", so "X-Api-Key", "DB_PASSWORD", "privateKey".
_SENSITIVE_KEY: Final = re.compile(
    "password|passwd|secret|token|apikey|authorization|cookie|credential|privatekey"
)

# LLM usage counts ("prompt_tokens", "max_tokens") name tokens but hold numbers, not secrets.
_TOKEN_COUNT_KEY: Final = re.compile(r"(?:prompt|completion|total|max|input|output|cached|reasoning)tokens$")
# The password of a connection URL: scheme://user:password@host.
_URL_PASSWORD: Final = re.compile(r"(?P<prefix>[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@]+:)[^\s/@]+(?=@)")

_Replacement = str | Callable[[re.Match[str]], str]

_JWT: Final = re.compile(r"(?<![\w-])eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
# Keeps the scheme word. The credential must hold a digit or be 20+ characters long, so that prose
# such as "the bearer of this note" survives; a trailing sentence period is not part of it.
_BEARER: Final = re.compile(
    r"(?P<scheme>\b(?i:bearer)[ \t]+)(?=[A-Za-z._~+/=-]*[0-9]|[A-Za-z0-9._~+/=-]{20})"
    r"[A-Za-z0-9._~+/-]*[A-Za-z0-9_~+/-]=*"
)
_API_KEY: Final = re.compile(
    r"(?<![A-Za-z0-9_-])(?:"
    r"sk-[A-Za-z0-9_-]{16,}"  # OpenAI sk-/sk-proj-, Anthropic sk-ant-
    r"|AIza[A-Za-z0-9_-]{35}"  # Google
    r"|pa_[A-Za-z0-9_-]{20,}"  # ours
    r"|gh[pousr]_[A-Za-z0-9]{20,}"  # GitHub
    r"|AKIA[A-Z0-9]{16}"  # AWS access key id
    r"|xox[abprs]-[A-Za-z0-9-]{10,}"  # Slack
    r")(?![A-Za-z0-9_-])"
)
# "failed with password hunter2" in exception text: the value after a secret-naming word. With
# only whitespace in between it must contain a digit, so "password reset requested" survives.
# Plural "tokens" is deliberately not a match: LLM usage lines carry prompt_tokens=... counts.
_ASSIGNED_SECRET: Final = re.compile(
    r"(?i)(?=[pstac])(?P<key>(?:pass(?:word|wd)|private[_-]?key|secret|token|api[_-]?key|credentials?)"
    r"[\"']?(?:\s*[:=]\s*[\"']?|\s+(?=[^\s\"'\[\],;&)}]*[0-9])))"
    r"[^\s\"'\[\],;&)}]+"
)
_EMAIL: Final = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![\w-])"
)
_IBAN: Final = re.compile(
    r"(?<![A-Za-z0-9])[A-Z]{2}[0-9]{2}"
    r"(?:[A-Z0-9]{11,30}|(?: [A-Z0-9]{4}){2,7}(?: [A-Z0-9]{1,4})?)(?![A-Za-z0-9])"
)
# A whole run of 13+ digits in groups (shorter numbers never reach Python); which window of it is a
# card is decided in code, so that a card followed by its expiry ("... 1111 12 27") is still found.
# A run after "+" is a phone number and one after "3." a decimal fraction: neither starts a card.
_DIGIT_RUN: Final = re.compile(
    r"(?<![\w+])(?<![0-9][ .-])(?=(?:[ -]?[0-9]){13})[0-9]++(?:[ -][0-9]++)*+(?!\w|\.[0-9])"
)
_SSN: Final = re.compile(
    r"(?<![\w.+])(?<![0-9]-)(?!000|666|9)[0-9]{3}-(?!00)[0-9]{2}-(?!0000)[0-9]{4}(?!\w|[-.][0-9])"
)
# Digit groups joined by one separator, parentheses allowed; the 7-15 digit limit is checked in
# code so that a longer tail is cut off instead of leaking the whole number.
_PHONE_INTL: Final = re.compile(r"(?<![\w+])\+[0-9]++(?:(?:[ .-]?\(|\)[ .-]?|[ .-])[0-9]++){0,14}+(?!\w)")
# Timestamps, dates and UUIDs never have the 3-3-4 shape, nor do dotted versions or IPv4 addresses.
_PHONE_NA: Final = re.compile(
    r"(?<![\w.])(?:\([0-9]{3}\) ?[0-9]{3}-|[0-9]{3}(?P<sep>[-.])[0-9]{3}(?P=sep))[0-9]{4}(?!\w|[-.][0-9])"
)
_IPV6: Final = re.compile(
    r"(?<![\w.])(?=[0-9A-Fa-f]{0,4}:[0-9A-Fa-f]{0,4}:)[0-9A-Fa-f:]{2,39}"
    r"(?:(?<=:)[0-9]{1,3}(?:\.[0-9]{1,3}){3})?(?![\w:]|\.[0-9])"
)
_OCTET: Final = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_IPV4: Final = re.compile(rf"(?<![\w.])(?:{_OCTET}\.){{3}}{_OCTET}(?!\w|\.[0-9])")

_IBAN_SHAPE: Final = re.compile(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}")
_DIGITS: Final = re.compile(r"[0-9]+")
_ALNUM: Final = re.compile(r"[A-Z0-9]+")
# Every major network (Amex, Diners, JCB, Visa, Mastercard, Discover, UnionPay, Maestro) starts
# with 2-6; this keeps epoch-millisecond and -nanosecond timestamps (leading 1) out of [CARD].
_CARD_FIRST_DIGITS: Final = frozenset("23456")


def luhn_valid(digits: str) -> bool:
    """Return whether `digits` (ASCII digits only, at least two) passes the Luhn checksum."""
    if len(digits) < 2 or not (digits.isascii() and digits.isdigit()):
        return False
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def iban_valid(candidate: str) -> bool:
    """Return whether `candidate` (spaces allowed) is IBAN-shaped and passes the ISO 13616 mod-97 check."""
    compact = candidate.replace(" ", "").upper()
    if not _IBAN_SHAPE.fullmatch(compact):
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(char, 36)) for char in rearranged)) % 97 == 1


@functools.lru_cache(maxsize=4096)
def _is_sensitive_key(key: str) -> bool:
    normalized = key.lower().replace("-", "").replace("_", "")
    if _TOKEN_COUNT_KEY.search(normalized):
        return False
    return _SENSITIVE_KEY.search(normalized) is not None


def _longest_prefix(candidate: str, pieces: re.Pattern[str], ok: Callable[[str], bool], label: str) -> str:
    """Replace the longest prefix of `candidate` ending after a piece that satisfies `ok`."""
    for piece in reversed(list(pieces.finditer(candidate))):
        if ok(candidate[: piece.end()]):
            return label + candidate[piece.end() :]
    return candidate


def _iban(match: re.Match[str]) -> str:
    return _longest_prefix(match.group(), _ALNUM, iban_valid, "[IBAN]")


def _phone_digits_ok(prefix: str) -> bool:
    return 7 <= sum(char.isdigit() for char in prefix) <= 15


def _intl_phone(match: re.Match[str]) -> str:
    return _longest_prefix(match.group(), _DIGITS, _phone_digits_ok, "[PHONE]")


def _card_end(run: str, groups: list[tuple[int, int]], start: int) -> int:
    """Index of the last group of the longest card starting at group `start`, or -1."""
    digits, best = "", -1
    sizes: list[int] = []
    separators: set[str] = set()
    for end in range(start, len(groups)):
        if end > start:
            separators.add(run[groups[end - 1][1]])
        digits += run[groups[end][0] : groups[end][1]]
        sizes.append(groups[end][1] - groups[end][0])
        if len(digits) > 19:
            break
        # Part of a longer run must be printed like a card (one separator; fours with a shorter
        # last group, or Amex/Diners 4-6-5/4-6-4), or lists of numbers ("2048 4096 8192 16384")
        # would be cards one time in ten.
        whole_run = start == 0 and end == len(groups) - 1
        card_shaped = len(sizes) == 1 or (
            len(separators) == 1
            and ((set(sizes[:-1]) == {4} and sizes[-1] <= 4) or sizes in ([4, 6, 5], [4, 6, 4]))
        )
        if len(digits) >= 13 and (whole_run or card_shaped) and digits[0] in _CARD_FIRST_DIGITS:
            best = end if luhn_valid(digits) else best
    return best


def _cards(match: re.Match[str]) -> str:
    run = match.group()
    groups = [(group.start(), group.end()) for group in _DIGITS.finditer(run)]
    out: list[str] = []
    done = start = 0
    while start < len(groups):
        end = _card_end(run, groups, start)
        if end < 0:
            start += 1
            continue
        out += [run[done : groups[start][0]], "[CARD]"]
        done, start = groups[end][1], end + 1
    return "".join([*out, run[done:]])


def _ipv6(match: re.Match[str]) -> str:
    candidate = match.group()
    # "::" alone is the unspecified address, and common as a separator in prose.
    if candidate == "::":
        return candidate
    try:
        address = ipaddress.IPv6Address(candidate)
    except ValueError:
        return candidate
    return candidate if _is_own_address(address) else "[IP]"


def _is_own_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    # Loopback and "any" addresses are this machine's own (bind and listen lines), never a person's.
    return address.is_loopback or address.is_unspecified


def _ipv4(match: re.Match[str]) -> str:
    candidate = match.group()
    return candidate if _is_own_address(ipaddress.IPv4Address(candidate)) else "[IP]"


class Redactor:
    """Replaces personal data and secrets in log values with typed placeholders such as `[EMAIL]`."""

    def __init__(self, redact_ip_addresses: bool = True) -> None:
        rules: list[tuple[re.Pattern[str], _Replacement]] = [
            (_URL_PASSWORD, rf"\g<prefix>{REDACTED}"),
            (_JWT, "[JWT]"),
            (_BEARER, r"\g<scheme>[BEARER]"),
            (_API_KEY, "[API_KEY]"),
            (_ASSIGNED_SECRET, rf"\g<key>{REDACTED}"),
            (_EMAIL, "[EMAIL]"),
            (_IBAN, _iban),
            (_DIGIT_RUN, _cards),
            (_SSN, "[SSN]"),
            (_PHONE_INTL, _intl_phone),
            (_PHONE_NA, "[PHONE]"),
        ]
        if redact_ip_addresses:
            rules += [(_IPV6, _ipv6), (_IPV4, _ipv4)]
        self._rules: Final = tuple(rules)

    def redact_text(self, text: str) -> str:
        """Return `text` with every recognised secret or personal datum replaced by its placeholder."""
        # A replacement can uncover a neighbour that a lookaround guarded ("1.2.3.4 4111 1111 1111
        # 1111": the card looks like the IP's continuation), so repeat until a round changes
        # nothing. No rule matches a placeholder, so every changing round shrinks the unredacted
        # text and the loop ends; the usual line with nothing to redact costs a single round.
        while True:
            before = text
            for pattern, replacement in self._rules:
                text = pattern.sub(replacement, text)
            if text == before:
                return text

    def redact(self, value: object) -> object:
        """Return a redacted copy of `value`, recursing into dicts, lists and tuples."""
        if isinstance(value, str):
            return self.redact_text(value)
        if isinstance(value, dict):
            return {
                key: REDACTED if isinstance(key, str) and _is_sensitive_key(key) else self.redact(item)
                for key, item in value.items()
            }
        if isinstance(value, list):
            return [self.redact(item) for item in value]
        if isinstance(value, tuple):
            return tuple(self.redact(item) for item in value)
        return value

    def __call__(
        self, logger: object, method_name: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        """Redact a structlog event dict in place, except the metadata keys our own processors add."""
        for key in list(event_dict):
            if key in _PASSTHROUGH_KEYS:
                continue
            event_dict[key] = REDACTED if _is_sensitive_key(key) else self.redact(event_dict[key])
        return event_dict
