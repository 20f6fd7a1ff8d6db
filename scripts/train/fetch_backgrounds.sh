#!/usr/bin/env bash
# Fetches real background photos for training: Debian's plasma-workspace-wallpapers, converted to <= 1024 px
# JPEGs (quality 90) in scripts/train/cache/backgrounds (kept under ~25 MB). Needs apt (run `apt-get update` once).
# Usage: bash scripts/train/fetch_backgrounds.sh [MAX_SIDE=1024] [MAX_FILES=40]
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="$HERE/cache"
MAX_SIDE="${1:-1024}"
MAX_FILES="${2:-40}"
PY="${PYTHON:-/usr/bin/python3}"
mkdir -p "$CACHE/deb" "$CACHE/backgrounds"
cd "$CACHE/deb"
if ! ls plasma-workspace-wallpapers_*.deb >/dev/null 2>&1; then
  apt-get download plasma-workspace-wallpapers
fi
rm -rf "$CACHE/wallpapers-src"
dpkg -x plasma-workspace-wallpapers_*.deb "$CACHE/wallpapers-src"
"$PY" - "$CACHE/wallpapers-src" "$CACHE/backgrounds" "$MAX_SIDE" "$MAX_FILES" <<'PYEOF'
import os, sys
from PIL import Image
src, dst, max_side, max_files = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
# one image per wallpaper theme: the largest landscape rendition under contents/images
themes = {}
for root, _, files in os.walk(src):
    for f in files:
        if not f.lower().endswith(('.jpg', '.jpeg', '.png')) or 'contents/images' not in root.replace(os.sep, '/'):
            continue
        theme = root.replace(os.sep, '/').split('/wallpapers/')[-1].split('/')[0]
        p = os.path.join(root, f)
        size = os.path.getsize(p)
        if 'dark' in root.lower() and theme in themes:
            continue
        if theme not in themes or size > themes[theme][1]:
            themes[theme] = (p, size)
names = sorted(themes)[:max_files]
total = 0
for name in names:
    im = Image.open(themes[name][0]).convert('RGB')
    s = max_side / max(im.size)
    if s < 1:
        im = im.resize((max(1, round(im.width * s)), max(1, round(im.height * s))), Image.Resampling.LANCZOS)
    out = os.path.join(dst, name.replace(' ', '_') + '.jpg')
    im.save(out, quality=90)
    total += os.path.getsize(out)
print('%d backgrounds, %.1f MB in %s' % (len(names), total / 1e6, dst))
PYEOF
rm -rf "$CACHE/wallpapers-src"
