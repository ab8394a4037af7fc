#!/usr/bin/env bash
# The soak at the size CI runs: 200 sessions at once for 30 s through the
# daemon to the in-tree backend, random sizes, directions and closes, every
# byte checked at both ends; afterwards the daemon is back to its idle
# descriptors with no session left, and exits 0 (leak check included under
# the sanitizers).  See tests/soak.sh, which runs bigger loads by hand.
exec bash "${top_srcdir:?run through make check}/tests/soak.sh" --sessions 200 --seconds 30
