"""Installs the repository's top-level folders as one import package, `webtext`.

The folders stay where the project's layout puts them (components/, flows/, warehouse/, configs/);
installed, they are `webtext.components`, `webtext.flows`, ... so that no generic top-level name
(`components`, `flows`) is taken in a user's site-packages. Everything else is in pyproject.toml.
"""

from setuptools import find_packages, setup

PARTS = ["components", "flows", "warehouse", "configs"]

setup(
    packages=["webtext", *(f"webtext.{name}" for name in find_packages(include=[f"{p}*" for p in PARTS]))],
    package_dir={"webtext": "webtext", **{f"webtext.{part}": part for part in PARTS}},
)
