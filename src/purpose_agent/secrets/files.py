"""Secrets as files, one per setting: Docker secrets and Kubernetes secret volumes."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

from purpose_agent.secrets.errors import ProviderMisconfigured, SecretMalformed


class FileProvider:
    """`directory/JWT_SECRET` or `directory/jwt_secret` holds JWT_SECRET, less one trailing newline."""

    name = "file"

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def fetch(self, names: Collection[str]) -> dict[str, str]:
        if not self.directory.is_dir():
            raise ProviderMisconfigured(self.name, f"SECRETS_DIR {self.directory} is not a directory")
        values = {}
        for name in names:
            # The variable's own name first, then the field's, as pydantic's secrets_dir spells it.
            for candidate in (self.directory / name, self.directory / name.lower()):
                if candidate.is_file():
                    values[name] = self._read(candidate)
                    break
        return values

    def _read(self, path: Path) -> str:
        try:
            return read_secret_file(path)
        except OSError as exc:
            raise ProviderMisconfigured(self.name, f"cannot read {path}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise SecretMalformed(self.name, f"{path} is not UTF-8 text") from None


def read_secret_file(path: Path) -> str:
    """The secret `path` holds, less one trailing newline; raises OSError or UnicodeDecodeError."""
    text = path.read_text(encoding="utf-8")
    # Editors and `echo` end a file with a newline; the secret itself does not.
    return text.removesuffix("\n").removesuffix("\r")
