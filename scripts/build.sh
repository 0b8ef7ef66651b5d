#!/bin/sh
# Builds the plugin in the source tree (autoreconf and configure only when
# needed). Extra arguments go to configure.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt configure ]; then
	autoreconf -fi
fi
if [ ! -f Makefile ] || [ configure -nt Makefile ] || [ $# -gt 0 ]; then
	./configure --quiet "$@"
fi
make -j"$(nproc)"
