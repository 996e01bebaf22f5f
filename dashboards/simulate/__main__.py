import sys

from airglow.dashboards.simulate.cli import main

sys.exit(main())
