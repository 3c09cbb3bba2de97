#!/bin/sh
# npm run lint: the import rules, prettier and eslint. eslint, the longest (type-aware rules), runs
# beside the other two rather than after them: the whole takes about as long as eslint alone.
# Exits non-zero if any of them fails; each prints its own findings.
eslint . &
eslint_pid=$!
depcruise --config .dependency-cruiser.cjs src bench test && prettier --check .
others=$?
wait "$eslint_pid"
eslint_status=$?
[ "$others" -eq 0 ] && [ "$eslint_status" -eq 0 ]
