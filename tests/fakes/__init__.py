"""Fake exchange servers for tests: real ccxt clients talk HTTP to them on 127.0.0.1."""
