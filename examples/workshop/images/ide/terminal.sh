#!/bin/sh
# The IDE's default terminal profile. The first terminal opened attaches to the shared tmux session
# "workshop" (so commands sent from the guide show up there); further terminals are plain shells.
SOCKET=${WORKSHOP_TMUX_SOCKET:-/var/run/dockhand-terminal/tmux.sock}
cd "${PROJECT_DIR:-/home/coder/project}" 2>/dev/null || true
if tmux -S "$SOCKET" has-session -t workshop 2>/dev/null; then
  if [ -z "$(tmux -S "$SOCKET" list-clients -t workshop 2>/dev/null)" ]; then
    exec tmux -S "$SOCKET" attach-session -t workshop
  fi
  exec bash -l
fi
exec tmux -S "$SOCKET" new-session -A -s workshop -c "$PWD"
