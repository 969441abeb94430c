"""Every response body is a view of the service's adapters: never an event, never a core value.

A new version of an event must not change the REST API, so no handler may answer with an event
type, or with a Struct that holds one anywhere inside it.
"""

import importlib
import inspect
import pkgutil
import typing
from collections.abc import Callable, Iterator

import msgspec
import pytest
from litestar import Litestar
from litestar.handlers import HTTPRouteHandler
from litestar.response import Response

import shared.contract.events
from services.attempts.app import create_app as create_attempts
from services.attempts.config import AttemptsConfig
from services.mastery.app import create_app as create_mastery
from services.mastery.config import MasteryConfig
from services.notify.app import create_app as create_notify
from services.notify.config import NotifyConfig

DATABASE_URL = "postgresql://unused@127.0.0.1:1/unused"  # building an app connects to nothing
APPS: dict[str, Callable[[], Litestar]] = {
    "attempts": lambda: create_attempts(AttemptsConfig(database_url=DATABASE_URL)),
    "mastery": lambda: create_mastery(MasteryConfig(database_url=DATABASE_URL)),
    "notify": lambda: create_notify(NotifyConfig(database_url=DATABASE_URL)),
}


def _event_types() -> set[type]:
    """Every Struct of the published event modules that carries a tag: the events themselves."""
    found: set[type] = set()
    for module_info in pkgutil.iter_modules(shared.contract.events.__path__):
        module = importlib.import_module(f"shared.contract.events.{module_info.name}")
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, msgspec.Struct) and value.__struct_config__.tag_field:
                found.add(value)
    return found


EVENTS = _event_types()


def _handlers(app: Litestar) -> Iterator[HTTPRouteHandler]:
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            if isinstance(handler, HTTPRouteHandler):
                yield handler


def _bodies(handler: HTTPRouteHandler) -> Iterator[object]:
    """The annotation a handler returns, and each extra response it documents."""
    yield handler.parsed_fn_signature.return_type.annotation
    for spec in (handler.responses or {}).values():
        yield spec.data_container


def _structs(annotation: object, seen: set[type] | None = None) -> Iterator[type]:
    """Every Struct reachable from a type: through Response, unions, containers and fields."""
    seen = set() if seen is None else seen
    if isinstance(annotation, type) and issubclass(annotation, msgspec.Struct):
        if annotation in seen:
            return
        seen.add(annotation)
        yield annotation
        for hint in typing.get_type_hints(annotation, include_extras=True).values():
            yield from _structs(hint, seen)
        return
    origin = typing.get_origin(annotation)
    if origin is Response or (isinstance(origin, type) and issubclass(origin, Response)):
        yield from _structs(typing.get_args(annotation)[0], seen)
        return
    arguments = typing.get_args(annotation)
    if origin is typing.Annotated:
        arguments = arguments[:1]
    for argument in arguments:
        yield from _structs(argument, seen)


def _response_structs(app: Litestar) -> dict[str, set[type]]:
    return {
        f"{sorted(handler.http_methods)} {handler.paths}": set(
            struct for body in _bodies(handler) for struct in _structs(body)
        )
        for handler in _handlers(app)
    }


def test_the_walk_finds_events_inside_a_response() -> None:
    from shared.contract.events.attempts import AttemptVoided  # noqa: PLC0415

    class Leaky(msgspec.Struct):
        items: list[tuple[int, AttemptVoided | None]]

    assert AttemptVoided in set(_structs(Response[Leaky | None]))
    assert AttemptVoided in EVENTS


@pytest.mark.parametrize("service", sorted(APPS))
def test_no_response_body_is_or_holds_an_event(service: str) -> None:
    responses = _response_structs(APPS[service]())
    assert any(responses.values()), "the walk found no response Struct at all"
    leaks = {route: structs & EVENTS for route, structs in responses.items() if structs & EVENTS}
    assert leaks == {}


@pytest.mark.parametrize("service", sorted(APPS))
def test_every_response_struct_is_a_view_of_the_adapters(service: str) -> None:
    allowed = (
        f"services.{service}.adapters.",
        "shared.platform.http",
        "shared.platform.validation",
        # The one exception: OneRoster 1.2 gradebook records, a published external format the
        # core builds once for both its JSON and its CSV binding (they hold no event).
        *(("services.mastery.core.gradebook",) if service == "mastery" else ()),
    )
    for route, structs in _response_structs(APPS[service]()).items():
        for struct in structs:
            assert struct.__module__.startswith(allowed), (route, struct)


@pytest.mark.parametrize("service", sorted(APPS))
def test_the_openapi_document_still_generates(service: str) -> None:
    document = APPS[service]().openapi_schema.to_schema()
    assert document["paths"]
    names = set(document.get("components", {}).get("schemas", {}))
    assert not names & {event.__name__ for event in EVENTS}
