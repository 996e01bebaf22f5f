from airglow.bridge.cli import main

raise SystemExit(main())
