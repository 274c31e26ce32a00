#!/usr/bin/env bash
# Multi-GPU / multi-node training with torchrun.
#   tools/dist_train.sh CONFIG GPUS [train.py args...]
# One node: torchrun --standalone picks a free port itself (set PORT to use a fixed one).
# Multi-node: set NNODES, NODE_RANK, MASTER_ADDR (and optionally PORT, default 29500) on every node.
# PYTHON chooses the interpreter (default: python3), as for tools/install.sh.
set -euo pipefail
if [ $# -lt 2 ]; then
    echo "usage: $0 CONFIG GPUS_PER_NODE [tools/train.py arguments]" >&2
    exit 2
fi
CONFIG=$1
GPUS=$2
shift 2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
if [ "$NNODES" = 1 ] && [ -z "${PORT:-}" ]; then
    RENDEZVOUS=(--standalone)
else
    RENDEZVOUS=(--nnodes="$NNODES" --node_rank="$NODE_RANK" --master_addr="$MASTER_ADDR" --master_port="${PORT:-29500}")
fi
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PYTHONPATH="$ROOT:${PYTHONPATH:-}" exec "${PYTHON:-python3}" -m torch.distributed.run \
    "${RENDEZVOUS[@]}" --nproc_per_node="$GPUS" \
    "$ROOT/tools/train.py" "$CONFIG" --launcher pytorch "$@"
