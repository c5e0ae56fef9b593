"""The reference driver's command line, shared by the tests of the driver protocol."""

from __future__ import annotations

import shlex
import sys

PYTHON = shlex.quote(sys.executable)
REFERENCE = f"{PYTHON} -m agentcomm.cli driver --url 'sqlite:?backoff_base=1' --clock manual"
