"""The paper-trading venue."""
