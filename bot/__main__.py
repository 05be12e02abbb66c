"""`python -m bot`: the same as the `amabot` command."""

from bot.cli.main import main

raise SystemExit(main())
