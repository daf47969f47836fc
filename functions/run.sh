#!/bin/sh
# The entry of the streaming functions on AWS (functions/chat/run.sh and functions/agent/run.sh
# link here; sam build copies the file into each): the Lambda Web Adapter
# (AWS_LAMBDA_EXEC_WRAPPER=/opt/bootstrap) runs it as the handler, waits until
# AWS_LWA_READINESS_CHECK_PATH answers on AWS_LWA_PORT, then forwards each invocation there and
# streams the answer back. It serves the one <name>_function.py beside it.
set -eu
root="${LAMBDA_TASK_ROOT:-$(dirname "$0")}"
set -- "$root"/*_function.py
if [ "$#" -ne 1 ] || [ ! -f "$1" ]; then
    echo "run.sh: expected exactly one *_function.py in $root" >&2
    exit 1
fi
module=$(basename "$1" .py)
# The managed runtime puts the layer (/opt/python) on sys.path only in its own bootstrap.
export PYTHONPATH="/opt/python:$root${PYTHONPATH:+:$PYTHONPATH}"
# stdout is a pipe to CloudWatch: unbuffered, so log and metric lines are not held back.
export PYTHONUNBUFFERED=1
exec python3 -m uvicorn "$module:build_app" --factory \
    --host 127.0.0.1 --port "${AWS_LWA_PORT:-8080}" \
    --loop uvloop --http httptools --no-access-log --log-level warning
