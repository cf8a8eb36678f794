#!/bin/bash
# tests/cli/include_layers.sh - the public headers include one way, core <-
# cl <- train, with config.h on core only (tools/include-layers).
# Usage: bash include_layers.sh /path/to/cldqn /path/to/source
set -u
bash "$2/tools/include-layers" "$2" > /dev/null
