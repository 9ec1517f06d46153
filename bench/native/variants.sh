set -u
build() { # name flags
  cmake -S . -B /tmp/b_$1 -DTAO_CUDA=on -DTAO_CUDA_ARCHS=90a -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_FLAGS="$2" > /tmp/b_$1.log 2>&1 && cmake --build /tmp/b_$1 -j8 >> /tmp/b_$1.log 2>&1 || { echo "build $1 failed"; tail -5 /tmp/b_$1.log; }
}
build v0 "" & build v1 "-DTAO_WO_WARPS=4 -DTAO_WO_MINB1=6" & wait
build v2 "-DTAO_WO_DEPTH=3 -DTAO_WO_MINB1=2" & build v3 "-DTAO_WO_DEPTH=4 -DTAO_WO_MINB1=2" & wait
for v in v0 v1 v2 v3; do
  g++ -O2 -std=c++17 -Iinclude bench/native/weight_only_probe.cpp -L/tmp/b_$v -ltao -Wl,-rpath,/tmp/b_$v -o /tmp/p_$v || continue
  echo "== $v"; /tmp/p_$v check | tail -1; /tmp/p_$v quick | tail -6
done
