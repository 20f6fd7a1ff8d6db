#!/usr/bin/env bash
# Fills <repo>/.traindata (carried to the GPU machine; excluded from git) with what training needs:
#   gt/<item>/{image,alpha}.png      training GT items + the held-out ones (scored after training)
#   train-extra/<item>/*             real foregrounds with model-made alpha
#   backgrounds/*.jpg                wallpaper photos (scripts/train/fetch_backgrounds.sh)
# Usage: bash scripts/train/prepare_traindata.sh [SHARED_DATA=../shared/data] [DEST=<repo>/.traindata]
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
SRC="${1:-$REPO/../shared/data}"
DEST="${2:-$REPO/.traindata}"
[ -d "$SRC/gt" ] || { echo "no $SRC/gt" >&2; exit 1; }
if ! ls "$HERE/cache/backgrounds/"*.jpg >/dev/null 2>&1; then
  bash "$HERE/fetch_backgrounds.sh"
fi
rm -rf "$DEST"
mkdir -p "$DEST/gt" "$DEST/train-extra" "$DEST/backgrounds"
for d in "$SRC"/gt/*/; do
  n="$(basename "$d")"
  mkdir -p "$DEST/gt/$n"
  cp "$d/image.png" "$d/alpha.png" "$DEST/gt/$n/"
done
cp -r "$SRC"/train-extra/* "$DEST/train-extra/"
cp "$HERE"/cache/backgrounds/*.jpg "$DEST/backgrounds/"
echo "prepared $DEST: $(du -sh "$DEST" | cut -f1) ($(ls "$DEST/gt" | wc -l) gt, $(ls "$DEST/train-extra" | wc -l) train-extra, $(ls "$DEST/backgrounds" | wc -l) backgrounds)"
