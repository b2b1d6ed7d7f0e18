"""The bundled YAML presets, installed with the package so that `webtext` finds them anywhere."""

from pathlib import Path

DIRECTORY = Path(__file__).resolve().parent


def preset(name: str) -> Path:
    """The bundled preset called `name` (`sample`, `tiny`, ...)."""
    return DIRECTORY / f"{name}.yaml"


def names() -> list[str]:
    return sorted(path.stem for path in DIRECTORY.glob("*.yaml"))
