#!/bin/sh
# Double-checks with grep that no banned function is called (banned.h makes them compile errors).
set -eu
cd "$(dirname "$0")/.."
pattern='\b(strcpy|strcat|sprintf|vsprintf|strtok|atoi|atol|gets|localtime|gmtime)[[:space:]]*\('
if grep -rnE "$pattern" src tests --include='*.c' | grep -v 'RP_BANNED\|banned.h'; then
    echo "banned function used (see src/base/banned.h)" >&2
    exit 1
fi
