mkdir -p $OUT
(cmake -S . -B build -DTAO_CUDA=on -DTAO_CUDA_ARCHS=90a -DCMAKE_BUILD_TYPE=Release > $OUT/build.log 2>&1 && cmake --build build -j16 >> $OUT/build.log 2>&1) || { tail -30 $OUT/build.log; exit 1; }
g++ -O2 -std=c++17 -Iinclude bench/native/weight_only_probe.cpp -Lbuild -ltao -Wl,-rpath,$PWD/build -o /tmp/wprobe || exit 1
/tmp/wprobe check 2>&1 | tail -5
TAO_INT4_DENSE_FROM_M=1 /tmp/wprobe check 2>&1 | grep -v "^ok" | grep int4 | head -5
timeout 200 /tmp/wprobe time 2>&1 | tee $OUT/time.log
NCU=$(command -v ncu || ls /usr/local/cuda/bin/ncu 2>/dev/null || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
echo "ncu: $NCU"
if [ -n "$NCU" ]; then
  timeout 150 $NCU --kernel-name regex:weight_only --launch-count 2 --section SpeedOfLight --section Occupancy --section WarpStateStats --section LaunchStats --section MemoryWorkloadAnalysis /tmp/wprobe once 28672 4096 1 > $OUT/ncu.txt 2>&1
  grep -E "weight_only_kernel|Duration|DRAM Throughput|Memory Throughput|Achieved Occupancy|Theoretical Occupancy|Registers Per|Block Limit|Stall|Warp Cycles Per Issued|Issue Slots|Grid Size|Waves Per SM|L2 Hit|Compute \(SM\)" $OUT/ncu.txt | head -60
fi
# SASS of the int4 kernels (instruction mix of the m <= 8, bf16, inner_k_tiles 8 one)
/usr/local/cuda/bin/cuobjdump -sass build/CMakeFiles/tao.dir/kernels/cuda/int4_linear.cu.o > $OUT/int4.sass 2>&1
awk '/Function : .*Int4TiledWeightsILi8EEENS0_3ActILi2EEELi1E/{f=1} f&&/Function : /&&!/Int4TiledWeightsILi8EEENS0_3ActILi2EEELi1E/{f=0} f' $OUT/int4.sass | grep -oE '^\s+/\*[0-9a-f]+\*/\s+[A-Z0-9_.]+' | awk '{print $2}' | sed -E 's/\..*//' | sort | uniq -c | sort -rn | head -25
