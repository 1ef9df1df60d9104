"""A real llama.cpp test harness: tiny random GGUF models and the real ``llama-server``.

See ``tests/llama/README.md`` for the fixtures and how to use them from other test folders.
"""
