"""``python -m replay ARGS`` runs ``perpx ARGS`` from a source tree, without the installed script."""

from replay.cli import main

raise SystemExit(main())
