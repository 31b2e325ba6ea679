"""Helpers shipped for users' tests: an in-memory connector (``fake``), the bundle-test runner
(``jivocrm.engine.bundle_tests``) and the connector contract suite (``contract``, needs pytest)."""
