"""The distributions users install: built with ``python -m build``, checked with ``twine check``.

Builds the sdist and the wheel once per session from the working tree and checks what lands in
them: the typed package with its sandbox, no tests, the licence, and metadata that Airflow and
PyPI read (provider entry point, classifiers, dependency floors, README as description).
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile
from email.message import Message
from email.parser import Parser
from pathlib import Path

import pytest

pytest.importorskip("build")
pytest.importorskip("twine")

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(REPO)],
        check=True,
        capture_output=True,
        text=True,
    )
    return out


@pytest.fixture(scope="module")
def wheel(dist: Path) -> zipfile.ZipFile:
    (path,) = dist.glob("*.whl")
    return zipfile.ZipFile(path)


@pytest.fixture(scope="module")
def metadata(wheel: zipfile.ZipFile) -> Message:
    (name,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
    return Parser().parsestr(wheel.read(name).decode())


def test_twine_check_strict_passes(dist: Path) -> None:
    files = sorted(str(p) for p in dist.iterdir())
    assert len(files) == 2, files
    result = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *files],
        check=False,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_wheel_holds_the_typed_package_and_sandbox_but_no_tests(wheel: zipfile.ZipFile) -> None:
    names = wheel.namelist()
    assert "airflow_provider_hubtix/py.typed" in names
    assert "airflow_provider_hubtix/sandbox/server.py" in names
    assert "airflow_provider_hubtix/sandbox/pytest_plugin.py" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    top_level = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert top_level == {"airflow_provider_hubtix"}, top_level
    assert not [n for n in names if "/tests/" in n or n.startswith("tests/")]


def test_wheel_metadata(metadata: Message) -> None:
    classifiers = metadata.get_all("Classifier")
    assert "Framework :: Apache Airflow :: Provider" in classifiers
    assert "Framework :: Apache Airflow :: 3" in classifiers
    assert "Typing :: Typed" in classifiers
    assert metadata["License-Expression"] == "Apache-2.0"
    assert metadata["Requires-Python"] == ">=3.11"
    requires = metadata.get_all("Requires-Dist")
    assert "apache-airflow>=2.11.0" in requires
    assert "apache-airflow-providers-common-compat>=1.22.0" in requires
    assert metadata["Description-Content-Type"] == "text/markdown"
    assert "BatchCreateTicketsOperator" in metadata.get_payload()


def test_wheel_registers_the_provider_and_no_pytest_plugin(wheel: zipfile.ZipFile) -> None:
    """The sandbox's pytest plugin is opt-in: installing the provider adds nothing to a user's pytest."""
    (name,) = [n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
    entry_points = wheel.read(name).decode()
    assert "[apache_airflow_provider]" in entry_points
    assert "airflow_provider_hubtix.get_provider_info:get_provider_info" in entry_points
    assert "pytest11" not in entry_points
    assert "pytest_plugin" not in entry_points


def test_sdist_holds_license_readme_and_changelog(dist: Path) -> None:
    (path,) = dist.glob("*.tar.gz")
    with tarfile.open(path) as sdist:
        names = {n.split("/", 1)[1] for n in sdist.getnames() if "/" in n}
    assert {"LICENSE", "README.md", "CHANGELOG.md", "pyproject.toml"} <= names
