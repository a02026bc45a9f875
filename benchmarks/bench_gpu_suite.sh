#!/usr/bin/env bash
# Every GPU benchmark and the MNIST method comparison, in one command; logs and JSON lines under $OUT.
#
#   bash benchmarks/bench_gpu_suite.sh [--tiny] [--device cuda|cpu] [PART ...]
#
# PARTs, in this order (default: all of them):
#   env         device, driver, versions, onnxruntime providers                      -> env.txt
#   train       CIARD step throughput, MFU, peak memory, PGD-20 throughput (bench_train_throughput.py)
#   bf16        attack strength bf16 vs fp32 on the PGD-trained digits CNN (bench_bf16_attack.py)
#   pgd         our PGD-10 training attack vs a naive backward() loop, ResNet-18 batch 512 (bench_pgd.py)
#   autoattack  our AutoAttack vs torchattacks on the digits CNN (bench_autoattack.py)
#   export      latency of the exported formats vs PyTorch, onnxruntime CUDA when present
#   mnist       scripts/compare_methods.py recipes/mnist-ciard.yaml (8 methods, rates tuned on validation, 3 seeds), then
#               bf16-vs-fp32 attack strength on the MNIST CIARD student and robust teacher
# --tiny shrinks every part to seconds (small models, few steps) to check the wiring on a CPU first.
#
# Files under $OUT (default /tmp/bench-out), at most 8 so the device tool returns all of them:
#   suite.log, env.txt, results.jsonl (every benchmark's JSON line), profile-<student>.txt (2),
#   mnist-methods.jsonl + .md, mnist-runs.tar.gz (each method's evaluation.json/.md and metrics)
# Variables: PYTHON (python3), MNIST_GZ (.data/MNIST/raw, gzipped idx files), MNIST_ROOT (/tmp/mnist),
#   MNIST_OVERRIDES (extra KEY=VALUE overrides for the comparison), TRAIN_ARGS (extra flags for train),
#   T_<PART> (seconds a part may run before it is stopped; the other parts still run).
set -uo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
OUT=${OUT:-/tmp/bench-out}
DEVICE=cuda
TINY=0
PARTS=()
while (($#)); do
  case $1 in
    --tiny) TINY=1 ;;
    --device) DEVICE=$2; shift ;;
    -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
    *) PARTS+=("$1") ;;
  esac
  shift
done
((${#PARTS[@]})) || PARTS=(env train bf16 pgd autoattack export mnist)
mkdir -p "$OUT"
RESULTS=$OUT/results.jsonl
LOG=$OUT/suite.log
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD:$PWD/edge${PYTHONPATH:+:$PYTHONPATH}"

say() { echo "=== $(date -u +%H:%M:%S) $*" | tee -a "$LOG"; }

# part NAME DEFAULT_SECONDS COMMAND...: run with a time limit, log everything, keep going on failure.
part() {
  local name=$1 limit_var="T_${1^^}" default=$2
  shift 2
  local limit=${!limit_var:-$default}
  say "$name (limit ${limit}s): $*"
  local start=$SECONDS
  timeout --signal=INT --kill-after=20 "$limit" "$@" 2>&1 | tee -a "$LOG"
  local code=${PIPESTATUS[0]}
  say "$name: exit $code after $((SECONDS - start))s"
}

mnist_root() {
  local gz=${MNIST_GZ:-.data/MNIST/raw} root=${MNIST_ROOT:-/tmp/mnist}
  mkdir -p "$root/MNIST/raw"
  for f in "$gz"/*.gz; do
    [[ -f $root/MNIST/raw/$(basename "$f" .gz) ]] || gunzip -c "$f" >"$root/MNIST/raw/$(basename "$f" .gz)"
  done
  echo "$root"
}

for name in "${PARTS[@]}"; do
  case $name in
    env)
      {
        date -u
        nvidia-smi 2>/dev/null || echo "nvidia-smi: not available"
        "$PY" - <<'EOF'
import importlib.metadata as md, platform, torch
print("python", platform.python_version(), "| torch", torch.__version__, "| cuda", torch.version.cuda)
if torch.cuda.is_available():
    p = torch.cuda.get_device_properties(0)
    print("gpu", p.name, "| SMs", p.multi_processor_count, "| memory GiB", round(p.total_memory / 2**30, 1))
for name in ("timm", "triton", "onnx", "onnxruntime", "onnxruntime-gpu", "torchattacks", "pydantic", "numpy"):
    try:
        print(name, md.version(name))
    except md.PackageNotFoundError:
        print(name, "-")
import onnxruntime
print("onnxruntime providers", onnxruntime.get_available_providers())
EOF
      } 2>&1 | tee "$OUT/env.txt" | tee -a "$LOG"
      ;;
    train)
      if ((TINY)); then
        args=(--students tiny_cnn --teacher-robust tiny_cnn --teacher-clean tiny_cnn --batch 16 --steps 2
              --warmup 1 --eval-n 16 --eval-reps 1 --flop-batch 8 --precision bf16 --compile on --channels-last on)
      else
        args=(--steps 8 --warmup 1 --variants)
      fi
      # shellcheck disable=SC2086
      part train 420 "$PY" benchmarks/bench_train_throughput.py --device "$DEVICE" "${args[@]}" \
        --profile-dir "$OUT" --out "$RESULTS" ${TRAIN_ARGS:-}
      ;;
    bf16)
      ((TINY)) && args=(--epochs 1 --n 64) || args=()
      part bf16 120 "$PY" benchmarks/bench_bf16_attack.py --device "$DEVICE" "${args[@]}" --out "$RESULTS"
      ;;
    pgd)
      ((TINY)) && args=(--model digits-cnn --batch 32 --iters 2 --repeat 1) || args=(--model resnet18 --batch 512)
      part pgd 90 "$PY" benchmarks/bench_pgd.py --device "$DEVICE" "${args[@]}" --out "$RESULTS"
      ;;
    autoattack)
      ((TINY)) && args=(--n 32 --epochs 1 --skip-reference) || args=()
      part autoattack 240 "$PY" benchmarks/bench_autoattack.py --device "$DEVICE" "${args[@]}" --out "$RESULTS"
      ;;
    export)
      ((TINY)) && args=(--models small_cnn --batch-sizes 1 --runs 5 --warmup 1) || args=()
      part export 180 "$PY" benchmarks/bench_export_latency.py "${args[@]}" --out "$RESULTS"
      ;;
    mnist)
      root=$(mnist_root)
      over=("data.root=$root")
      if ((TINY)); then
        over+=(data.limit_train=640 data.limit_test=128 train.epochs=1 teachers.0.train.epochs=1
               teachers.1.train.epochs=1 evaluate.num_images=64 "evaluate.attacks=[pgd20]" "evaluate.eps_curve=[]"
               "export.formats=[fp32]" run.name=mnist-ciard-tiny)
        methods=ciard,pgd_at
        grid=(--lrs 0.5 --seeds 0)
      else
        methods=pgd_at,trades,ard,rslad,mtard,b_mtard,ciard,ciard@push_scale=1
        grid=(--lrs 0.1,0.5 --seeds 0,1,2)
      fi
      # shellcheck disable=SC2206
      over+=(${MNIST_OVERRIDES:-})
      part mnist 560 "$PY" scripts/compare_methods.py recipes/mnist-ciard.yaml --device "$DEVICE" \
        --methods "$methods" "${grid[@]}" --results "$OUT/mnist-methods.jsonl" "${over[@]}"
      name_=$( ((TINY)) && echo mnist-ciard-tiny || echo mnist-ciard)
      for role in student robust; do
        run_dir=runs/$name_-ciard-lr0.5-s0
        [[ $role == robust ]] && run_dir=runs/$name_-teachers
        [[ -d $run_dir ]] && part bf16 120 "$PY" benchmarks/bench_bf16_attack.py --device "$DEVICE" \
          --run "$run_dir" --role "$role" --out "$RESULTS" "data.root=$root"
      done
      tar czf "$OUT/mnist-runs.tar.gz" --exclude='*.safetensors' --exclude='checkpoints' --exclude='tensorboard' \
        runs/"$name_"-* 2>/dev/null || true
      ;;
    *) say "unknown part '$name' (env train bf16 pgd autoattack export mnist)" ;;
  esac
done
say "done; files in $OUT:"
ls -la "$OUT" | tee -a "$LOG"
