# Plots one curve of bench/curves.sh from its TSV: gnuplot -e "curve='sizes'; dir='bench/curves'" bench/curves.gp
set terminal svg size 720,420 dynamic enhanced font "sans,12" background rgb "white"
set output sprintf("%s/%s.svg", dir, curve)
set datafile separator "\t"
set key below autotitle columnhead
set grid
set style data linespoints
tsv = sprintf("%s/%s.tsv", dir, curve)

if (curve eq "partitions") {
  set title "Throughput vs partitions (100 B values, batches of 500, 4 in flight)"
  set logscale x 2
  set xlabel "partitions of the topic"
  set ylabel "messages/s"
  set format y "%.1s%c"
  set yrange [0:*]
  plot tsv using 1:2 lw 2, "" using 1:3 lw 2, "" using 1:4 lw 2, "" using 1:5 lw 2
}
if (curve eq "sizes") {
  set title "Throughput vs value size (in memory, one partition)"
  set logscale x 10
  set logscale y 10
  set xlabel "value bytes"
  set ylabel "MB/s of values"
  plot tsv using 1:4 lw 2, "" using 1:6 lw 2
}
if (curve eq "connections") {
  set title "Server memory vs open keep-alive connections"
  set logscale x 2
  set xlabel "connections"
  set ylabel "server RSS, MB"
  set yrange [0:*]
  plot tsv using 1:3 lw 2, "" using 1:2 lw 2 dt 2
}
if (curve eq "instances") {
  set title "Server memory vs consumer instances (embedded log, in memory)"
  set logscale x 10
  set xlabel "consumer instances"
  set ylabel "server RSS, MB"
  set yrange [0:*]
  plot tsv using 1:3 lw 2, "" using 1:2 lw 2 dt 2
}
if (curve eq "retained") {
  set title "Restart and memory vs retained records (100 B values, --data-dir)"
  set xlabel "retained records, millions"
  set ylabel "server RSS, MB"
  set y2label "seconds to the first answer"
  set ytics nomirror
  set y2tics
  set yrange [0:*]
  set y2range [0:*]
  plot tsv using ($1/1e6):4 lw 2, "" using ($1/1e6):5 lw 2, "" using ($1/1e6):7 lw 2, \
       "" using ($1/1e6):6 axes x1y2 lw 2 dt 2, "" using ($1/1e6):8 axes x1y2 lw 2 dt 2
}
