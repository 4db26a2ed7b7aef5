#!/usr/bin/env bash
# Draws sasmint-bench's --series and --histogram files with gnuplot (Debian's gnuplot-nox).
#
#   bench/load/plot.sh SERIES.csv [HISTOGRAM.csv] OUT.png|OUT.svg [TITLE]
#
# SERIES.csv gives OUT: offered, completed and failed requests per second (left axis) and
# p50/p99 latency per second (right axis, log scale), the measurement window shaded. With
# HISTOGRAM.csv, OUT's name with "-latency" before the extension gets the latency distribution
# (share of requests at or under each latency, log scale, with the p50/p99/p99.9 marks).
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: $0 SERIES.csv [HISTOGRAM.csv] OUT.png|OUT.svg [TITLE]" >&2
  exit 2
fi
series=$1
shift
histogram=""
if [ $# -ge 2 ] && [[ "$1" == *.csv ]]; then histogram=$1; shift; fi
out=$1
title=${2:-$(basename "$series" .csv)}
command -v gnuplot >/dev/null || { echo "plot.sh: gnuplot is not installed (apt-get install gnuplot-nox)" >&2; exit 1; }
case "$out" in
  *.png) terminal="pngcairo size 1100,520 font 'DejaVu Sans,10'";;
  *.svg) terminal="svg size 1100,520 dynamic font 'DejaVu Sans,10'";;
  *) echo "plot.sh: OUT must end in .png or .svg" >&2; exit 2;;
esac
# pngcairo needs the cairo terminal; gnuplot-nox has it. Fall back to the plain png terminal.
if [[ "$out" == *.png ]] && ! gnuplot -e "set terminal pngcairo" 2>/dev/null; then
  terminal="png size 1100,520"
fi
read -r t0 t1 < <(awk -F, 'NR>1 && $2=="measure" {if (!s) s=$1; e=$1} END {print (s?s:0), (e?e:0)}' "$series")

gnuplot <<GNUPLOT
set terminal $terminal
set output '$out'
set datafile separator ','
set key top left
set title "$title"
set xlabel 'seconds since the callers started'
set ylabel 'requests per second'
set y2label 'latency per second (µs, log)'
set logscale y2
set ytics nomirror
set y2tics
set grid
set yrange [0:*]
set object 1 rect from $t0, graph 0 to $t1, graph 1 fc rgb '#eef4ff' fs solid noborder behind
plot '$series' every ::1 using 1:3 with lines lw 2 lc rgb '#999999' title 'offered', \
     '' every ::1 using 1:4 with lines lw 2 lc rgb '#1f77b4' title 'completed', \
     '' every ::1 using 1:6 with impulses lw 2 lc rgb '#d62728' title 'failed tokens/s', \
     '' every ::1 using 1:(\$7 > 0 ? \$7 : 1/0) axes x1y2 with linespoints pt 7 ps 0.4 lc rgb '#2ca02c' title 'p50', \
     '' every ::1 using 1:(\$8 > 0 ? \$8 : 1/0) axes x1y2 with linespoints pt 7 ps 0.4 lc rgb '#ff7f0e' title 'p99'
GNUPLOT

if [ -n "$histogram" ]; then
  hist_out="${out%.*}-latency.${out##*.}"
  read -r p50 p99 p999 < <(awk -F, 'NR>1 {if (!a && $3>=0.5) a=$1; if (!b && $3>=0.99) b=$1; if (!c && $3>=0.999) c=$1} END {print a+0, b+0, c+0}' "$histogram")
  gnuplot <<GNUPLOT
set terminal $terminal
set output '$hist_out'
set datafile separator ','
set title "$title: latency of the measured requests"
set xlabel 'latency (µs, log)'
set ylabel 'share of requests at or under it'
set logscale x
set grid
set yrange [0:1.02]
set key bottom right
set arrow 1 from $p50, graph 0 to $p50, graph 1 nohead lc rgb '#2ca02c' dt 2
set arrow 2 from $p99, graph 0 to $p99, graph 1 nohead lc rgb '#ff7f0e' dt 2
set arrow 3 from $p999, graph 0 to $p999, graph 1 nohead lc rgb '#d62728' dt 2
plot '$histogram' every ::1 using 1:3 with steps lw 2 lc rgb '#1f77b4' \
     title sprintf('p50 %.0f µs, p99 %.0f µs, p99.9 %.0f µs', $p50, $p99, $p999)
GNUPLOT
  echo "$out $hist_out"
else
  echo "$out"
fi
