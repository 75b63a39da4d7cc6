"""golive's core: configuration, the app factory, domain services and the CLI."""

__version__ = "0.1.0"
