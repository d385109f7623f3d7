"""The words of a text that carry its meaning, compared without an embedding model.

Extraction and the groundedness check both ask how much of one text's wording another holds:
`content_words` drops the words every sentence has and folds inflections, so "uploads" in a
question meets "uploaded" in a passage; `specific_terms` picks the tokens a sentence cannot
paraphrase: numbers, status codes, settings, paths, code names. A specific term of an answer that
no passage holds ("the JSONEncoder", "/api/reset", "50 MB") is a claim the passages cannot support.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# Function words and the question words of English: they say nothing of what a sentence is about.
STOPWORDS = frozenset(
    {
        "a", "about", "above", "after", "again", "against", "all", "also", "am", "an", "and", "any",
        "are", "as", "at", "be", "because", "been", "before", "being", "below", "between", "both",
        "but", "by", "can", "could", "did", "do", "does", "doing", "done", "down", "during", "each",
        "either", "else", "ever", "every", "few", "for", "from", "further", "get", "gets", "got",
        "had", "has", "have", "having", "he", "her", "here", "hers", "herself", "him", "himself",
        "his", "how", "i", "if", "in", "into", "is", "it", "its", "itself", "just", "let", "may", "me",
        "might", "more", "most", "much", "must", "my", "myself", "neither", "no", "nor", "not", "now",
        "of", "off", "on", "once", "one", "only", "or", "other", "ought", "our", "ours", "ourselves",
        "out", "over", "own", "per", "same", "shall", "she", "should", "so", "some", "such", "than",
        "that", "the", "their", "theirs", "them", "themselves", "then", "there", "these", "they",
        "this", "those", "through", "thus", "to", "too", "under", "until", "up", "upon", "us", "very",
        "via", "was", "we", "were", "what", "when", "where", "whether", "which", "while", "who",
        "whom", "whose", "why", "will", "with", "within", "without", "would", "yet", "you", "your",
        "yours", "yourself", "yourselves", "aren", "couldn", "didn", "doesn", "don", "hasn", "haven",
        "isn", "shouldn", "wasn", "weren", "won", "wouldn",
    }
)  # fmt: skip

# Written-out numbers a paraphrase may use for the digits a passage has ("five years", "5 years").
_NUMBER_WORDS = {
    "zero": "0", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7",
    "eight": "8", "nine": "9", "ten": "10", "eleven": "11", "twelve": "12", "fifteen": "15",
    "twenty": "20", "thirty": "30", "fifty": "50", "hundred": "100",
}  # fmt: skip

# A word, a number with its separators (1,048,576; 0.5), or an identifier with inner dots, slashes,
# underscores or hyphens (body.question, /api/sessions/{id}, MAX_BODY_BYTES, problem+json).
_TOKEN = re.compile(r"/?[\w{}]+(?:[./_+\-:,][\w{}]+)*")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
# Identifiers: inner punctuation, a capital inside a word (JSONEncoder, camelCase), or a name with a
# version in it (gpt-4o, text-embedding-3-large; "24-hour", a number first, is a quantity).
_IDENTIFIER = re.compile(r"[./_{}]|[a-z][A-Z]|[A-Z]{2,}[a-z]|^[A-Za-z]+-.*\d")
# Abbreviations that look like identifiers but name nothing.
_NOT_IDENTIFIERS = frozenset({"e.g", "i.e", "etc", "vs"})


def _fold(word: str) -> str:
    """A crude stem, applied alike to both sides: enough that "uploads", "uploaded" and "upload" meet."""
    word = _NUMBER_WORDS.get(word, word)
    if word.endswith("ies") and len(word) > 4:
        word = word[:-3] + "y"
    elif word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        word = word[:-1]
    if word.endswith("ing") and len(word) >= 6:
        word = word[:-3]
    elif word.endswith("ed") and len(word) >= 5:
        word = word[:-2]
    return word[:-1] if word.endswith("e") and len(word) > 3 else word


def tokens(text: str) -> list[str]:
    """The words, numbers and identifiers of `text`, in order, as written."""
    return [token.strip(":,.-") for token in _TOKEN.findall(text)]


def content_words(text: str) -> set[str]:
    """The folded words of `text` that say what it is about: no function words, numbers kept."""
    words = set()
    for token in tokens(text):
        if _NUMBER.fullmatch(token):
            words.add(token.replace(",", ""))
            continue
        # "20MB" is the number and its unit, as "20 MB" is.
        for part in re.split(r"[^\w]+|(?<=\d)(?=[a-z])", token.lower()):
            if part and part not in STOPWORDS and (len(part) > 1 or part.isdigit()):
                words.add(_fold(part))
    return words


def specific_terms(text: str) -> set[str]:
    """Numbers and identifiers, as a passage would have to contain them (digits without separators)."""
    terms = set()
    for token in tokens(text):
        lowered = token.lower()
        if _IDENTIFIER.search(token) and lowered not in _NOT_IDENTIFIERS:
            terms.add(lowered)
        elif lowered in _NUMBER_WORDS:
            terms.add(_NUMBER_WORDS[lowered])
        else:  # a number, alone or with its unit ("20MB", "5s")
            terms.update(number.replace(",", "") for number in _NUMBER.findall(token))
    return terms


def coverage(words: Iterable[str], source: set[str]) -> float:
    """The share of `words` found in `source` (1.0 for no words: nothing is unsupported)."""
    listed = set(words)
    return len(listed & source) / len(listed) if listed else 1.0
