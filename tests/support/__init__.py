"""Test support shared by the suites and the benches (no tests here): what a test or a bench
imports, benches never being imported by tests."""
