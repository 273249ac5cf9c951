#!/usr/bin/env bash
# Distributed training with torchrun (PyTorch DDP), one process per GPU (or per CPU process group
# with gloo when there is no GPU).
#   bash tools/dist_train.sh CONFIG NUM_PROCS [train.py args...]
# Multi-node: NNODES=2 NODE_RANK=0 MASTER_ADDR=10.0.0.1 PORT=29500 bash tools/dist_train.sh ...
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: bash tools/dist_train.sh CONFIG NUM_PROCS [train.py args...]" >&2
  exit 2
fi
CONFIG=$1
GPUS=$2
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
    "$(dirname "$0")/train.py" \
    "$CONFIG" \
    --launcher pytorch "${@:3}"
