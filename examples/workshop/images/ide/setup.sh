#!/bin/sh
# The setup service: puts the workshop repository into the project volume, runs its optional setup.sh,
# and hands everything to the IDE user (uid 1000). Runs once per instance; a restart of an instance whose
# project is already there changes nothing.
#   WORKSHOP_REPO     a git URL, a path to a git (or bare) repository, or a plain directory
#                     (default /workshop-source: the directory mounted from WORKSHOP_SOURCE_DIR)
#   WORKSHOP_REF      a branch, tag or commit to check out (default: the repository's default branch)
#   WORKSHOP_SUBPATH  a folder inside the repository to use as the project (default: the whole repository)
set -eu
PROJECT=/home/coder/project
REPO=${WORKSHOP_REPO:-/workshop-source}
REF=${WORKSHOP_REF:-}
SUBPATH=${WORKSHOP_SUBPATH:-}
say() { echo "setup: $*"; }

git config --global --add safe.directory '*'
git config --global advice.detachedHead false

if [ -e "$PROJECT/.workshop-setup-done" ]; then
  say "the project is already set up; nothing to do"
  exit 0
fi
if [ -n "$(ls -A "$PROJECT" 2>/dev/null)" ]; then
  say "the project volume is not empty but setup did not finish: starting over"
  find "$PROJECT" -mindepth 1 -delete
fi

work=$(mktemp -d)
if [ -d "$REPO" ] && ! git -C "$REPO" rev-parse --git-dir >/dev/null 2>&1; then
  # A plain directory (not a repository): copy it.
  [ -z "$REF" ] || { say "WORKSHOP_REF=$REF needs a git repository, but $REPO is a plain directory"; exit 1; }
  say "copying $REPO"
  cp -a "$REPO/." "$work/"
else
  say "cloning $REPO${REF:+ at $REF}"
  git clone --quiet --no-hardlinks "$REPO" "$work"
  if [ -n "$REF" ]; then
    git -C "$work" checkout --quiet "$REF" 2>/dev/null \
      || { git -C "$work" fetch --quiet origin "$REF" && git -C "$work" checkout --quiet FETCH_HEAD; }
  fi
  say "at $(git -C "$work" log -1 --format='%h %s')"
fi

src=$work
if [ -n "$SUBPATH" ]; then
  src=$work/$SUBPATH
  [ -d "$src" ] || { say "WORKSHOP_SUBPATH=$SUBPATH is not a folder in the repository"; exit 1; }
fi
cp -a "$src/." "$PROJECT/"
rm -rf "$work"

if [ -f "$PROJECT/setup.sh" ]; then
  say "running the repository's setup.sh as the IDE user"
  chown -R 1000:1000 "$PROJECT"
  (cd "$PROJECT" && HOME=/home/coder setpriv --reuid=1000 --regid=1000 --init-groups sh ./setup.sh)
fi
touch "$PROJECT/.workshop-setup-done"
chown -R 1000:1000 "$PROJECT"
say "done"
