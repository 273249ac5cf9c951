#!/usr/bin/env bash
# Distributed evaluation with torchrun (PyTorch DDP).
#   bash tools/dist_test.sh CONFIG CHECKPOINT NUM_PROCS [test.py args...]
set -euo pipefail
if [ $# -lt 3 ]; then
  echo "usage: bash tools/dist_test.sh CONFIG CHECKPOINT NUM_PROCS [test.py args...]" >&2
  exit 2
fi
CONFIG=$1
CHECKPOINT=$2
GPUS=$3
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
PYTHON=${PYTHON:-python}

# exec: torchrun takes this script's pid, so SIGINT/SIGTERM/SIGHUP sent to the script reach
# torchrun, which stops every rank; the ranks SIGKILL themselves when it dies, even by SIGKILL
# (mmdbp.utils.launcher.watch_launcher reads MMDBP_LAUNCHER_PID). A failing rank makes torchrun
# stop the others; its traceback is in the output above torchrun's summary.
export MMDBP_LAUNCHER_PID=$$
PYTHONPATH="$(dirname "$0")/..${PYTHONPATH:+:$PYTHONPATH}" \
exec "$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$GPUS" \
    --master_port="$PORT" \
    "$(dirname "$0")/test.py" \
    "$CONFIG" \
    "$CHECKPOINT" \
    --launcher pytorch "${@:4}"
