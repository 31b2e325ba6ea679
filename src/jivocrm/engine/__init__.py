"""The engine: loading and validating projects, events, filters, templates and the runner."""
