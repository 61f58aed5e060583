"""``python -m riskguard``."""

from riskguard.cli import main

raise SystemExit(main())
