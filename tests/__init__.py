"""The test suite, one package per part of the library (unique module names across folders)."""
