"""check-jsonschema with one of its vendored schemas (Compose Specification, GitHub workflows), offline."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CHECK_JSONSCHEMA = str(Path(sys.executable).with_name("check-jsonschema"))


def check_jsonschema(
    schema: str, *files: Path | str, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """`check-jsonschema --builtin-schema vendor.SCHEMA FILES`; exit 0 when every file is valid."""
    return subprocess.run(
        [CHECK_JSONSCHEMA, "--builtin-schema", f"vendor.{schema}", *map(str, files)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        cwd=cwd,
    )
