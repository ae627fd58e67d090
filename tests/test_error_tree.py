"""One error tree: every public error is a ``KreaError`` defined in ``krea_async._errors``
and exported from ``krea_async`` exactly once."""

from __future__ import annotations

import importlib
import inspect

import krea_async
from krea_async import KreaError

#: The public modules a user imports from (the fake server, ``krea_async.testing``,
#: is a tool with errors of its own, not part of the SDK's tree).
PUBLIC_MODULES = ("krea_async", "krea_async.files", "krea_async.web", "krea_async.batch")


def _public_exception_classes() -> dict[str, list[type[BaseException]]]:
    found: dict[str, list[type[BaseException]]] = {}
    for name in PUBLIC_MODULES:
        module = importlib.import_module(name)
        names = list(getattr(module, "__all__", ())) + [
            n for n in dir(module) if not n.startswith("_")
        ]
        for attr in names:
            obj = getattr(module, attr, None)
            # A warning category (ModelDeprecationWarning) is issued, never raised: not
            # part of the error tree.
            if (
                inspect.isclass(obj)
                and issubclass(obj, BaseException)
                and not issubclass(obj, Warning)
            ):
                found.setdefault(name, []).append(obj)
    return found


def _all_krea_errors() -> set[type[KreaError]]:
    seen: set[type[KreaError]] = set()
    todo: list[type[KreaError]] = [KreaError]
    while todo:
        cls = todo.pop()
        if cls in seen:
            continue
        seen.add(cls)
        todo.extend(cls.__subclasses__())
    return seen


def test_every_public_exception_is_a_krea_error_from_the_errors_module() -> None:
    found = _public_exception_classes()
    assert found["krea_async"], "the walk found no errors at all"
    for module, classes in found.items():
        for cls in classes:
            assert issubclass(cls, KreaError), f"{module}.{cls.__name__} is not a KreaError"
            assert cls.__module__ == "krea_async._errors", (
                f"{module}.{cls.__name__} is defined in {cls.__module__}"
            )


def test_every_krea_error_is_exported_from_krea_async_once() -> None:
    # Import every public module first, so that a KreaError defined anywhere they
    # reach is among the subclasses.
    _public_exception_classes()
    importlib.import_module("krea_async._webhooks.redis")
    exported = krea_async.__all__
    for cls in _all_krea_errors():
        assert cls.__module__ == "krea_async._errors", f"{cls.__qualname__} in {cls.__module__}"
        assert exported.count(cls.__name__) == 1, (
            f"{cls.__name__} exported {exported.count(cls.__name__)} times"
        )
        assert getattr(krea_async, cls.__name__) is cls
        assert (cls.__doc__ or "").strip(), f"{cls.__name__} has no docstring"
    errors_module = importlib.import_module("krea_async._errors")
    assert set(errors_module.__all__) == {c.__name__ for c in _all_krea_errors()}
    # The submodules do not export errors a second time: one place to import them from.
    for name in PUBLIC_MODULES[1:]:
        module = importlib.import_module(name)
        again = [
            n
            for n in getattr(module, "__all__", ())
            if inspect.isclass(getattr(module, n)) and issubclass(getattr(module, n), BaseException)
        ]
        assert not again, f"{name} exports {again}; errors are exported from krea_async only"


def test_the_moved_errors_are_krea_errors() -> None:
    from krea_async import (
        AssetTooLargeError,
        DownloadError,
        DownloadTooLargeError,
        EventsUnavailableError,
        ModelUnavailableError,
    )

    for cls in (
        AssetTooLargeError,
        DownloadError,
        DownloadTooLargeError,
        EventsUnavailableError,
        ModelUnavailableError,
    ):
        assert issubclass(cls, KreaError)
    assert issubclass(DownloadTooLargeError, DownloadError)
    assert issubclass(AssetTooLargeError, ValueError)
