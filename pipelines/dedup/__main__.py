import sys

from pipelines.dedup.job import main

sys.exit(main())
