"""Tests of workbench.train (a package here so that test files may share a basename across folders)."""
