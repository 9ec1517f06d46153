mkdir -p $OUT
(cmake -S . -B build -DTAO_CUDA=on -DTAO_CUDA_ARCHS=90a -DCMAKE_BUILD_TYPE=Release > $OUT/build.log 2>&1 && cmake --build build -j16 >> $OUT/build.log 2>&1) || { tail -30 $OUT/build.log; exit 1; }
g++ -O2 -std=c++17 -Iinclude bench/native/weight_only_probe.cpp -Lbuild -ltao -Wl,-rpath,$PWD/build -o /tmp/wprobe || exit 1
/tmp/wprobe check 2>&1 | tail -5
TAO_WEIGHT_ONLY_DENSE_FROM_M=1 /tmp/wprobe check 2>&1 | tail -3
timeout 200 /tmp/wprobe time 2>&1 | tee $OUT/time.log
NCU=$(command -v ncu || ls /usr/local/cuda/bin/ncu 2>/dev/null || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
echo "ncu: $NCU"
if [ -n "$NCU" ]; then
  STALLS=$(for r in long_scoreboard short_scoreboard wait math_pipe_throttle mio_throttle lg_throttle barrier not_selected selected tex_throttle dispatch_stall no_instruction branch_resolving imc_miss; do printf "smsp__average_warps_issue_stalled_%s_per_issue_active.ratio," $r; done)
  for shape in "28672 4096 1" "28672 4096 16"; do
    timeout 100 $NCU --kernel-name regex:weight_only --launch-count 1 --section SpeedOfLight --section Occupancy --section LaunchStats --metrics ${STALLS}smsp__inst_executed.sum,sm__warps_active.avg.pct_of_peak_sustained_active /tmp/wprobe once $shape > $OUT/ncu.txt 2>&1
    echo "== ncu int4 $shape"
    grep -E "Duration|DRAM Throughput|Achieved Occupancy|Registers Per|Grid Size|Compute \(SM\)|stalled|inst_executed" $OUT/ncu.txt | sed -E 's/smsp__average_warps_issue_stalled_//; s/_per_issue_active.ratio//' | awk '{print $1, $NF}' | sort -k2 -rn | head -20
  done
fi
# SASS of the int4 kernels (instruction mix of the m <= 8, bf16, inner_k_tiles 8 one)
/usr/local/cuda/bin/cuobjdump -sass build/CMakeFiles/tao.dir/kernels/cuda/int4_linear.cu.o > $OUT/int4.sass 2>&1
awk '/Function : .*Int4TiledWeightsILi8EEENS0_3ActILi2EEELi1E/{f=1} f&&/Function : /&&!/Int4TiledWeightsILi8EEENS0_3ActILi2EEELi1E/{f=0} f' $OUT/int4.sass | grep -oE '^\s+/\*[0-9a-f]+\*/\s+[A-Z0-9_.]+' | awk '{print $2}' | sed -E 's/\..*//' | sort | uniq -c | sort -rn | head -25
