from dtf_ci.cli import main

raise SystemExit(main())
