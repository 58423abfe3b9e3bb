"""``python -m services.attacker`` is ``python -m services.attacker.poison``."""

import sys

from services.attacker.poison import main

sys.exit(main())
