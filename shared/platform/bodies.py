"""Bounds on JSON request bodies: too large is 413, too deeply nested is 400, never a 500.

Size: Litestar's `request_max_body_size` (set per app in `create_service_app`) refuses a body
whose Content-Length announces more, and stops reading a streamed one as soon as it passes the
limit, with `RequestEntityTooLarge` (413).

Depth: msgspec decodes nesting by recursion and raises `RecursionError` (not a `DecodeError`,
so Litestar does not turn it into a 400) once Python's recursion limit is reached, about 1,000
levels: `[[[[...]]]]` 100,000 deep would be a 500. A body nested deeper than any request schema
(the deepest, a standard's scale levels, is four levels) but shallow enough to decode is refused
by validation with 422; one too deep to decode at all is refused here with 400.
"""

from typing import Any

from litestar import Request

from shared.platform.http import Problem


class BoundedRequest(Request[Any, Any, Any]):
    """A request whose JSON body is refused, not crashed on, when it nests too deeply."""

    async def json(self) -> Any:
        try:
            return await super().json()
        except RecursionError:
            raise Problem(
                400, "body-too-deep", "The body is nested too deeply",
                "the JSON body nests arrays or objects too deeply to be read",
            ) from None  # fmt: skip
