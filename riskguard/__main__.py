"""``python -m riskguard``."""

from riskguard.cli.main import main

raise SystemExit(main())
