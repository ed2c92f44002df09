#!/bin/sh
# hlbench health check: exits 0 when the service answers on its port.
set -eu
. /etc/hlbench/env
exec nc -z 127.0.0.1 "${HLBENCH_PORT:-8080}"
