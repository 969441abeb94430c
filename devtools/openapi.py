"""The OpenAPI documents of the three services, as each serves it at `/schema/openapi.json`.

`python -m devtools.openapi` writes them to docs/openapi/<service>.json; a test keeps the
checked-in files equal to this rendering, and scripts/check.sh lints them with Spectral.
Building an app connects to nothing, so no database is needed.
"""

import sys
from collections.abc import Callable
from pathlib import Path

import msgspec
from litestar import Litestar

from services.attempts.app import create_app as create_attempts
from services.attempts.config import AttemptsConfig
from services.mastery.app import create_app as create_mastery
from services.mastery.config import MasteryConfig
from services.notify.app import create_app as create_notify
from services.notify.config import NotifyConfig

DOCS = Path(__file__).resolve().parents[1] / "docs" / "openapi"
UNUSED_DATABASE = "postgresql://unused@127.0.0.1:1/unused"
APPS: dict[str, Callable[[], Litestar]] = {
    "attempts": lambda: create_attempts(AttemptsConfig(database_url=UNUSED_DATABASE)),
    "mastery": lambda: create_mastery(MasteryConfig(database_url=UNUSED_DATABASE)),
    "notify": lambda: create_notify(NotifyConfig(database_url=UNUSED_DATABASE)),
}


def render(service: str) -> bytes:
    document = APPS[service]().openapi_schema.to_schema()
    # Sorted keys: the framework emits some (response headers) in set order.
    encoded = msgspec.json.encode(document, order="deterministic")
    return msgspec.json.format(encoded, indent=2) + b"\n"


def main(directory: Path = DOCS) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for service in APPS:
        (directory / f"{service}.json").write_bytes(render(service))
        sys.stdout.write(f"wrote {directory / f'{service}.json'}\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else DOCS)
