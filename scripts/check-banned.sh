#!/bin/sh
# Double-checks with grep that no banned function is called (banned.h makes them compile errors).
set -eu
cd "$(dirname "$0")/.."
pattern='\b(strcpy|strcat|sprintf|vsprintf|strtok|atoi|atol|gets|localtime|gmtime)[[:space:]]*\('
if grep -rnE "$pattern" src tests --include='*.c' | grep -v 'RP_BANNED\|banned.h'; then
    echo "banned function used (see src/base/banned.h)" >&2
    exit 1
fi
# jansson's loaders and dumper do not survive the JSON layer's allocation fault injection and a
# failed dump must be seen: src/ calls them through rp_json_loadb/loads/dumps (base/json.h).
if grep -rnE '(^|[^_a-z])json_(dumps|dumpb|loads|loadb)[[:space:]]*\(' src --include='*.c' |
    grep -v '^src/base/json.c:'; then
    echo "call rp_json_loadb/rp_json_loads/rp_json_dumps (base/json.h) instead" >&2
    exit 1
fi
