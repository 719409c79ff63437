#!/usr/bin/env bash
# Issue 6's GPU session in one command (about 10 minutes expected on an H100/H200; the
# steps' time limits add up to 22 minutes). On the device,
# from the project root, after `source .whl/gpu-env.sh`:
#     bash benchmarks/gpu_session.sh
# It runs the GPU tests, the backend-parametrised tests on the device's backends, `nnkit
# bench` (S1+S3 and S2, float32 and bfloat16, nnkit CuPy/JAX batched+fused beside the
# PyTorch CUDA / CPU and JAX+Optax peers) and the lecture's full run (40,000 minibatches
# of 64), and leaves in $OUT: session.log and gpu-session.tgz (JSON, PNG, markdown).
#     bash benchmarks/gpu_session.sh --dry-run
# runs the same steps on tiny shapes on whatever backends exist (a CPU check, ~1 minute).
# TF32 stays off (NNKIT_TF32 unset); set NNKIT_TF32=1 to measure TF32 instead.
set -uo pipefail
cd "$(dirname "$0")/.."
dry=0
[[ "${1:-}" == "--dry-run" ]] && dry=1
out=${OUT:-$PWD/gpu-session-out}
work=$(mktemp -d)
mkdir -p "$out"
log="$out/session.log"
py=${PYTHON:-python3}
export PYTHONUNBUFFERED=1 CI=1
unset NNKIT_BENCH_SMOKE

step() {  # step SECONDS NAME COMMAND...: run with a time limit, log, never stop the session
  local limit=$1 name=$2
  shift 2
  echo "=== $name ($(date -u +%T), limit ${limit}s): $*" | tee -a "$log"
  timeout "$limit" "$@" 2>&1 | tee -a "$log"
  echo "=== $name: exit ${PIPESTATUS[0]}" | tee -a "$log"
}

finish() {
  tar czf "$out/gpu-session.tgz" -C "$work" . && echo "wrote $out/gpu-session.tgz" | tee -a "$log"
  rm -rf "$work"
}
trap finish EXIT

if (( dry )); then
  export NNKIT_BENCH_SMOKE=1
  gpu=$($py -c "from nnkit import backends; print(','.join(b for b in backends.available()
    if b not in ('numpy', 'array_api_strict')))")
  s1="S1"; s1_batches=8; s1_strategies=batched,fused; s2_batches=8; steps=50; repeats=1
  mm=64; peers=none
else
  gpu=cupy,jax
  s1="S1,S3"; s1_batches=1,8,64,256,1024; s1_strategies=per_sample,batched,fused
  s2_batches=256,1024,4096,8192; steps=40000; repeats=5; mm=8192
  peers=torch,torch_cuda,jax_optax_step,jax_optax_scan
fi
bench=($py -m nnkit bench --repeats "$repeats" --matmul-size "$mm" --peers "$peers")

nvidia-smi 2>&1 | tee -a "$log" || true
step 60 info $py -m nnkit info
if (( ! dry )); then
  step 240 gpu-tests $py -m pytest -m gpu -q -rs
  step 240 device-tests $py -m pytest -q -m "not gpu" tests/test_precision.py \
    tests/test_cross_backend.py tests/test_fused.py tests/test_gradients.py tests/test_fit.py \
    tests/test_io.py tests/test_strategies.py
fi
# S1 (lecture MLP) and S3 (digits epoch): CPU numpy too, for the GPU-vs-CPU crossover
step 420 bench-s1-s3 "${bench[@]}" --backends "numpy,$gpu" --scenarios "$s1" \
  --batch-sizes "$s1_batches" --dtype float32,bfloat16 --strategies "$s1_strategies" \
  --out "$work/s1-s3.json" --plot "$work/s1-s3.png" --markdown "$work/s1-s3.md"
# S2 (wide MLP) at 4096+: matmul-bound, held against the matmul peak of the same run
step 240 bench-s2 "${bench[@]}" --backends "numpy,$gpu" --scenarios S2 \
  --batch-sizes "$s2_batches" --dtype float32,bfloat16 --strategies batched,fused \
  --out "$work/s2.json" --plot "$work/s2.png" --markdown "$work/s2.md"
step 180 lecture-run $py benchmarks/lecture_run.py --backends "$gpu" \
  --dtypes float32,bfloat16 --modes batched,fused --steps "$steps" --out "$work/lecture.json"
