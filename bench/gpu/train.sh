#!/usr/bin/env bash
# On a GPU machine (the device tool's, or any with PyTorch + CUDA): run a recipe's pretrain and train stages from
# the folder bench/gpu/stage_carry.py staged, validate the base recipe's step there, and leave in $OUT what comes
# back: the trained embedding model as fp16 byte parts (each < 16 MiB) and the run's logs and reports.
#   RECIPE=recipes/small-gpu.yaml CARRY=.carry OUT=/tmp/out bash bench/gpu/train.sh
# Wheels the machine lacks (pydantic...) come as .whl files in $CARRY/whl. SET holds recipe overrides ("--set k=v
# ..."), the same stage_carry.py got; STAGES="pretrain" runs pretraining alone, STAGES=train training alone (from
# train.init_from's model, which stage_carry.py packed into $CARRY/init); BENCH_BASE=0 skips the base check.
set -uo pipefail
RECIPE=${RECIPE:-recipes/small-gpu.yaml}
CARRY=${CARRY:-.carry}
OUT=${OUT:?set OUT to the folder that comes back}
PY=${PY:-python3}
SET=${SET:-}
STAGES=${STAGES:-pretrain train}
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=true CODESIFT_BENCHMARKS=$(realpath "$CARRY")/benchmarks
if ls "$CARRY"/whl/*.whl >/dev/null 2>&1; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$CARRY"/whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH}
say() { echo "[$(date +%T)] $*"; }
# shellcheck disable=SC2086  # SET is a list of arguments
read -r NAME INIT_FROM < <($PY -c "import sys; from codesift.config import load_recipe; r = load_recipe(sys.argv[1], sys.argv[2:]); print(r.name, r.train.init_from or '')" \
  "$RECIPE" $(echo $SET | sed 's/--set //g')) && [ -n "$NAME" ] || exit 1
RUN=$CARRY/runs/$NAME
if [ -d "$CARRY/init" ]; then  # training continues from a model: restore it where train.init_from points
  $PY bench/gpu/int8_weights.py unpack "$CARRY/init" "${INIT_FROM:?$CARRY/init is there but the recipe has no train.init_from}" || exit 1
fi

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null
$PY -c "import torch, transformers, tokenizers, pydantic; print('torch', torch.__version__, 'transformers', transformers.__version__, 'tokenizers', tokenizers.__version__, 'pydantic', pydantic.__version__, 'cuda', torch.cuda.is_available() and torch.cuda.get_device_name())" || exit 1

if [ "${BENCH_BASE:-1}" = 1 ]; then
  say "base recipe: pretraining step throughput and memory"
  timeout "${BASE_TIMEOUT:-50}" $PY -m codesift.cli bench pretrain --recipe recipes/base.yaml --precisions bf16 \
    --steps "${BASE_STEPS:-20}" --batch-size "${BASE_BATCH:-64}" --out "$OUT/bench-pretrain-base.json" \
    || say "base bench failed or timed out (rc $?)"
fi
for stage in $STAGES; do
  say "$stage"
  limit=PRETRAIN_TIMEOUT; [ "$stage" = train ] && limit=TRAIN_TIMEOUT
  # shellcheck disable=SC2086
  timeout "${!limit:-240}" $PY -m codesift.cli run "$RECIPE" $SET --run-dir "$CARRY/runs" --from "$stage" --until "$stage"
  say "$stage rc $?"
done

say "packing what comes back"
model=""
last_round=$(ls -d "$RUN"/train/round-*/model 2>/dev/null | sort -V | tail -1)
if [ -f "$RUN/train/manifest.json" ]; then model=$RUN/train/model
elif [ -n "$last_round" ]; then model=$last_round  # training ran out of time: the last finished round
elif [ -f "$RUN/pretrain/encoder/model.safetensors" ]; then model=$RUN/pretrain/encoder; fi
if [ -n "$model" ] && [ "${PACK_WEIGHTS:-1}" = 1 ]; then
  $PY - "$model" "$OUT" <<'PYEOF'
import hashlib, sys
from pathlib import Path
from safetensors.torch import load_file, save_file
model, out = Path(sys.argv[1]), Path(sys.argv[2])
weights = model / "model.safetensors"
tensors = {k: v.half() if v.is_floating_point() else v for k, v in load_file(str(weights)).items()}
half = out / "weights-fp16.safetensors"
save_file(tensors, str(half), metadata={"source": str(weights), "sha256_fp32": hashlib.sha256(weights.read_bytes()).hexdigest()})
data = half.read_bytes()
half.unlink()
part = 15 * 2**20
for i in range(0, len(data), part):
    (out / f"weights-fp16.part{i // part}").write_bytes(data[i : i + part])
print(f"{model}: {len(data) / 2**20:.1f} MiB fp16 in {-(-len(data) // part)} parts")
PYEOF
fi
tar czf "$OUT/run.tar.gz" --exclude='*.safetensors' --exclude='*.parquet' --exclude='*.npz' --exclude='whl' \
  --exclude='tokenizer.json' "$RUN" 2>/dev/null
ls -la "$OUT"
