"""Bounds on JSON request bodies: not JSON is 415, too large is 413, too deeply nested is 400,
never a 500.

Media type: a body whose `Content-Type` names anything but JSON (`application/json` or a
`+json` type) is refused with 415 before it is read; a body without one is read as JSON.

Size: Litestar's `request_max_body_size` (set per app in `create_service_app`) refuses a body
whose Content-Length announces more, and stops reading a streamed one as soon as it passes the
limit, with `RequestEntityTooLarge` (413).

Depth: msgspec decodes nesting by recursion and raises `RecursionError` (not a `DecodeError`,
so Litestar does not turn it into a 400) once Python's recursion limit is reached, about 1,000
levels: `[[[[...]]]]` 100,000 deep would be a 500. A body nested deeper than any request schema
(the deepest, a standard's scale levels, is four levels) but shallow enough to decode is refused
by validation with 422; one too deep to decode at all is refused here with 400.

Types: the body is converted strictly (as `msgspec.json.decode` would), so a number is not
taken for a date-time, nor a string for a number; the framework's own conversion is lax.

The decoded body stays in the request's state (`DECODED_BODY`), so a 422 can name every invalid
field of it (`shared.platform.validation`).
"""

from typing import Any

import msgspec
from litestar import Request
from litestar.exceptions import ValidationException

from shared.platform.http import Problem
from shared.platform.validation import DECODED_BODY, STRICT, request_struct


def is_json(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


class BoundedRequest(Request[Any, Any, Any]):
    """A request whose JSON body is refused, not crashed on, when it is not JSON or nests too
    deeply."""

    async def json(self) -> Any:
        content_type = self.headers.get("content-type")
        if content_type is not None and not is_json(content_type):
            problem = Problem(
                415, "unsupported-media-type", "Unsupported media type",
                f"the body is {content_type.split(';', 1)[0].strip()!r}; "
                "send it as `application/json`",
            )  # fmt: skip
            problem.headers = {"Accept-Post": "application/json"}
            raise problem
        try:
            decoded = await super().json()
        except RecursionError:
            raise Problem(
                400, "body-too-deep", "The body is nested too deeply",
                "the JSON body nests arrays or objects too deeply to be read",
            ) from None  # fmt: skip
        self.scope.setdefault("state", {})[DECODED_BODY] = decoded
        self._refuse_lax(decoded)
        return decoded

    def _refuse_lax(self, decoded: Any) -> None:
        """Refuse what only a lax conversion accepts: the framework converts a body with
        `strict=False`, which would take a number for a date-time or a string for a number."""
        struct = request_struct(self.route_handler)
        if struct is None:
            return
        try:
            msgspec.convert(decoded, struct, **STRICT)
        except msgspec.ValidationError as error:
            entry = {"message": str(error), "key": "data", "source": "body"}
            raise ValidationException("Validation failed", extra=[entry]) from None
