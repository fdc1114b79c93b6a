"""pytest plugin of the conformance suite: the ``jfcheck`` fixture and
``pytest --jfcheck PATH...``.

Loaded in every pytest run of the project through the ``pytest11`` entry point, so importing it
must stay cheap: h5py and the checks are imported only when a check runs.

    def test_run(jfcheck):
        jfcheck.assert_ok(path)

``pytest --jfcheck PATH...`` adds one test per path (a master / integrated file, or a folder of
dumped ``.cbor`` messages) and deselects every other test.
"""

from __future__ import annotations

from pathlib import Path

import pytest

__all__ = ["JfcheckHelper", "JfcheckItem", "jfcheck"]


class JfcheckHelper:
    """What the ``jfcheck`` fixture returns: ``check`` gives a Report, ``assert_ok`` fails the test on errors."""

    def __init__(
        self, profile: str = "jungfraujoch", deep: bool = False, isolate: bool = False
    ) -> None:
        self.profile = profile
        self.deep = deep
        self.isolate = (
            isolate  # fork a child per check: survives HDF5 library crashes on corrupt files
        )

    def check(self, path, **options):
        """Check an HDF5 file (or a folder of .cbor messages) and return the Report."""
        target = Path(path)
        if target.is_dir():
            from jfjoch_hil.conformance._stream import check_stream_dir

            return check_stream_dir(target)
        options.setdefault("profile", self.profile)
        options.setdefault("deep", self.deep)
        if self.isolate:
            from jfjoch_hil.conformance._isolate import check_file_isolated

            return check_file_isolated(target, **options)
        from jfjoch_hil.conformance._api import check_file

        return check_file(target, **options)

    def assert_ok(self, path, **options):
        """Fail (AssertionError with the grouped findings) unless the target conforms; returns the Report."""
        report = self.check(path, **options)
        if not report.ok:
            raise AssertionError(report.to_text())
        return report


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--jfcheck PATH`` (repeatable), ``--jfcheck-profile``, ``--jfcheck-deep``."""
    group = parser.getgroup("jfcheck", "NXmx / stream conformance (jfjoch-hil)")
    group.addoption(
        "--jfcheck",
        action="append",
        default=[],
        metavar="PATH",
        help="check this file or .cbor folder as a test; other tests are deselected",
    )
    group.addoption("--jfcheck-profile", default="jungfraujoch", choices=("jungfraujoch", "nxmx"))
    group.addoption("--jfcheck-deep", action="store_true", help="read every image")


@pytest.fixture
def jfcheck(request: pytest.FixtureRequest) -> JfcheckHelper:
    """The conformance helper: ``jfcheck.assert_ok(path)``."""
    return JfcheckHelper(
        profile=request.config.getoption("--jfcheck-profile"),
        deep=request.config.getoption("--jfcheck-deep"),
    )


class JfcheckItem(pytest.Item):
    """One ``--jfcheck PATH`` target run as a test."""

    def __init__(self, *, target: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.target = target

    def runtest(self) -> None:
        helper = JfcheckHelper(
            profile=self.config.getoption("--jfcheck-profile"),
            deep=self.config.getoption("--jfcheck-deep"),
            isolate=True,
        )
        helper.assert_ok(self.target)

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, AssertionError):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self):
        return self.target, None, f"jfcheck {self.target}"


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list
) -> None:
    """Replace the collected tests by one item per ``--jfcheck`` target when the option is given."""
    targets = config.getoption("--jfcheck", default=[])
    if not targets:
        return
    config.hook.pytest_deselected(items=list(items))
    items[:] = [JfcheckItem.from_parent(session, name=f"jfcheck[{t}]", target=t) for t in targets]
