"""Files people write by hand (personas, question sets): JSON, or YAML when named so; one-line errors.

Both readers of such files report a problem as one line that names the file, so the wording of a file
that cannot be read or parsed lives here, once.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from pydantic_core import ErrorDetails

YAML_SUFFIXES = (".yaml", ".yml")


class DataFileUnreadable(Exception):
    """A file that cannot be read or parsed; the message reads after its name ("is not valid JSON: ...")."""


def read_data_file(path: Path) -> object:
    """The parsed content of a JSON file, or of a YAML one when it is named .yaml or .yml."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise DataFileUnreadable("is not UTF-8 text") from None
    except OSError as exc:
        raise DataFileUnreadable(f"cannot be read: {exc.strerror or exc}") from None
    return parse_data(text, yaml_format=path.suffix.lower() in YAML_SUFFIXES)


def parse_data(text: str, *, yaml_format: bool) -> object:
    """The parsed content of a file's text, JSON or YAML."""
    if yaml_format:
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise DataFileUnreadable(f"is not valid YAML: {' '.join(str(exc).split())}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        raise DataFileUnreadable(f"is not valid JSON: {exc.msg} ({where})") from None


def field_error(error: ErrorDetails) -> str:
    """One pydantic error as `field.path: message` (the message alone for the whole value)."""
    field = ".".join(str(part) for part in error["loc"])
    return f"{field}: {error['msg']}" if field else error["msg"]
