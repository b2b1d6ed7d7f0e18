"""The work of every webtext stage, free of orchestration: importable and testable alone."""
