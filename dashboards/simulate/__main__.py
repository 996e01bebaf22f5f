import sys

from dashboards.simulate.cli import main

sys.exit(main())
