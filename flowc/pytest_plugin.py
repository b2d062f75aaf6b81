"""pytest plugin for flow tests (see docs/testing.md)."""
