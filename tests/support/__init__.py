"""Support modules that several test files share (conftest.py, which pytest needs beside the tests, holds the
fixtures)."""
