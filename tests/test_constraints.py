"""constraints/results.txt pins every dependency barfi declares, at versions its own
requirements accept, so `pip install -e ".[pipeline,test]" -c constraints/results.txt` can
rebuild the environment of the committed results."""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]


def pins() -> dict[str, str]:
    out = {}
    for line in (REPO / "constraints" / "results.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, sep, version = line.partition("==")
            assert sep and version, f"not an exact pin: {line!r}"
            assert canonicalize_name(name) not in out, f"pinned twice: {name}"
            out[canonicalize_name(name)] = version
    return out


def test_every_declared_dependency_is_pinned_within_its_range():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = project["dependencies"] + [r for extra in project["optional-dependencies"].values()
                                          for r in extra]
    pinned = pins()
    for text in declared:
        req = Requirement(text)
        if canonicalize_name(req.name) == "barfi":
            continue
        version = pinned.get(canonicalize_name(req.name))
        assert version is not None, f"{req.name} is not pinned"
        assert req.specifier.contains(version, prereleases=True), (text, version)
    assert pinned["torch"] == "2.13.0"
