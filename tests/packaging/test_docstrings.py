"""Every public docstring of the package renders as reST without warnings.

The docstrings are what users read in their IDE, in ``help()`` and in rendered API docs, so they
are checked the way a documentation build reads them: docutils with Sphinx's Python roles
(``:class:``, ``:meth:``…) and its ``seealso`` directive known, any warning or error reported.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

docutils_core = pytest.importorskip("docutils.core")
from docutils.parsers.rst import directives, roles  # noqa: E402
from docutils.parsers.rst.directives.admonitions import Note  # noqa: E402
from docutils.utils import SystemMessage  # noqa: E402

import airflow_provider_hubtix  # noqa: E402

SPHINX_PYTHON_ROLES = ("class", "meth", "func", "attr", "exc", "mod", "data", "obj", "const")


def _literal_role(name: str, rawtext: str, text: str, lineno: int, inliner: Any, *args: Any) -> Any:
    return roles.code_role(name, rawtext, text, lineno, inliner)


for _role in SPHINX_PYTHON_ROLES:
    roles.register_local_role(_role, _literal_role)
    roles.register_local_role(f"py:{_role}", _literal_role)
directives.register_directive("seealso", Note)


def _modules() -> Iterator[ModuleType]:
    yield airflow_provider_hubtix
    prefix = airflow_provider_hubtix.__name__ + "."
    for info in pkgutil.walk_packages(airflow_provider_hubtix.__path__, prefix):
        if info.name.endswith("__main__"):
            continue
        yield importlib.import_module(info.name)


def _public_docstrings() -> Iterator[tuple[str, str]]:
    for module in _modules():
        if module.__doc__:
            yield module.__name__, module.__doc__
        for name, member in vars(module).items():
            if name.startswith("_") or getattr(member, "__module__", None) != module.__name__:
                continue
            if not (inspect.isclass(member) or inspect.isfunction(member)):
                continue
            qualname = f"{module.__name__}.{name}"
            if member.__doc__:
                yield qualname, member.__doc__
            if inspect.isclass(member):
                for attr, value in vars(member).items():
                    if attr.startswith("_") and attr != "__init__":
                        continue
                    doc = getattr(value, "__doc__", None)
                    documented = (property, classmethod, staticmethod)
                    if doc and (inspect.isfunction(value) or isinstance(value, documented)):
                        yield f"{qualname}.{attr}", doc


DOCSTRINGS = dict(_public_docstrings())


def test_the_package_has_public_docstrings() -> None:
    assert len(DOCSTRINGS) > 50
    assert "airflow_provider_hubtix.operators.tickets.BatchCreateTicketsOperator" in DOCSTRINGS


@pytest.mark.parametrize("qualname", sorted(DOCSTRINGS))
def test_docstring_renders_as_rest(qualname: str) -> None:
    text = inspect.cleandoc(DOCSTRINGS[qualname])
    try:
        docutils_core.publish_doctree(
            text,
            settings_overrides={"report_level": 2, "halt_level": 2, "warning_stream": False},
        )
    except SystemMessage as problem:
        pytest.fail(f"{qualname}: the docstring does not render as reST: {problem}")
