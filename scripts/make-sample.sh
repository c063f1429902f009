#!/usr/bin/env bash
# Generates the bundled sample clip in assets/sample/ (committed; `tiercast origin --source sample`
# loops it as a live channel). Run it again only to change the clip:
#
#   bash scripts/make-sample.sh            # writes assets/sample/index.m3u8 + seg000.ts ... seg029.ts
#
# What it is: 30 s of ffmpeg's own test sources, no external media, no licence questions.
#   video  lavfi testsrc2 (moving pattern with a running clock), 640x360, 25 fps,
#          H.264 (libx264, main profile, yuv420p), ~550 kbit/s, a keyframe every 25 frames (1 s)
#   audio  lavfi sine 440 Hz with a 1 s beep (beep_factor), AAC-LC 48 kHz mono 64 kbit/s
#   cut    by ffmpeg's hls muxer into 1-second MPEG-TS segments (VOD playlist, all segments listed)
# Total about 670 kbit/s (sum of segment bytes x 8 / 30 s) and about 2.5 MB on disk.
#
# Determinism: one encoder thread, bitexact flags and no metadata, so the same ffmpeg build gives
# the same bytes (another ffmpeg/x264 version may give slightly different bytes; the clip's shape
# — 30 one-second segments — stays the same). The script checks every segment decodes (ffprobe).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/assets/sample"
FFMPEG="${FFMPEG:-ffmpeg}"
FFPROBE="${FFPROBE:-ffprobe}"
SECONDS_LONG=30

mkdir -p "$OUT"
rm -f "$OUT"/index.m3u8 "$OUT"/seg*.ts

"$FFMPEG" -hide_banner -loglevel error -nostdin \
  -f lavfi -i "testsrc2=size=640x360:rate=25:duration=${SECONDS_LONG}" \
  -f lavfi -i "sine=frequency=440:beep_factor=4:sample_rate=48000:duration=${SECONDS_LONG}" \
  -map 0:v -map 1:a \
  -c:v libx264 -profile:v main -pix_fmt yuv420p -preset veryfast -threads 1 \
  -b:v 550k -maxrate 600k -bufsize 1200k \
  -g 25 -keyint_min 25 -sc_threshold 0 -x264-params "rc-lookahead=25" \
  -c:a aac -b:a 64k -ac 1 -ar 48000 \
  -map_metadata -1 -fflags +bitexact -flags:v +bitexact -flags:a +bitexact \
  -f hls -hls_time 1 -hls_list_size 0 -hls_playlist_type vod \
  -hls_segment_filename "$OUT/seg%03d.ts" \
  "$OUT/index.m3u8"

# Every segment must decode on its own (a player may join at any segment): at least one video
# frame, and ffmpeg reports no decode error.
count=0
for seg in "$OUT"/seg*.ts; do
  frames="$("$FFPROBE" -v error -select_streams v:0 -count_frames -show_entries stream=nb_read_frames \
    -of csv=p=0 "$seg" | awk 'NR == 1')"
  if [ -z "$frames" ] || [ "$frames" -lt 1 ]; then
    echo "make-sample: $seg has no decodable video frames" >&2
    exit 1
  fi
  errors="$("$FFMPEG" -hide_banner -nostdin -v error -i "$seg" -f null - 2>&1 || echo "ffmpeg failed")"
  if [ -n "$errors" ]; then
    echo "make-sample: $seg does not decode cleanly: $errors" >&2
    exit 1
  fi
  count=$((count + 1))
done

bytes="$(cat "$OUT"/seg*.ts | wc -c)"
echo "make-sample: wrote $count segments, $bytes bytes, to $OUT"
