import sys

from mlnotebook.cli import main

sys.exit(main())
