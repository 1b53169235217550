import sys

from python_tasks.cli import main

sys.exit(main())
